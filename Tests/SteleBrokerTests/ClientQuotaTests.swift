import Foundation
import Testing
@testable import SteleBroker
import SteleLog
import SteleLogTesting

/// Client quotas: Kafka's resolution order, the rate windows as Kafka measures them, and the
/// file they live in.
@Suite("Client quotas")
struct ClientQuotaTests {
    typealias Change = ClientQuotas.Change

    static func set(_ quotas: ClientQuotas, _ entity: QuotaEntity, _ rate: Double) -> ClientQuotas {
        quotas.applying([Change(key: "producer_byte_rate", value: rate, remove: false)], to: entity)
    }

    @Test func theMostSpecificQuotaWinsInKafkasOrder() {
        var quotas = ClientQuotas()
        let order: [(QuotaEntity, Double)] = [
            (QuotaEntity(clientId: .defaultName), 8), (QuotaEntity(clientId: .named("app")), 7), (QuotaEntity(user: .defaultName), 6),
            (QuotaEntity(user: .defaultName, clientId: .defaultName), 5), (QuotaEntity(user: .defaultName, clientId: .named("app")), 4),
            (QuotaEntity(user: .named("alice")), 3), (QuotaEntity(user: .named("alice"), clientId: .defaultName), 2),
            (QuotaEntity(user: .named("alice"), clientId: .named("app")), 1),
        ]
        #expect(quotas.quota(.producerByteRate, user: "alice", clientId: "app") == nil)
        // Each more specific entity added takes over from the ones before it.
        for (entity, rate) in order {
            quotas = Self.set(quotas, entity, rate)
            #expect(quotas.quota(.producerByteRate, user: "alice", clientId: "app")?.bytesPerSecond == rate, "\(entity)")
        }
        #expect(quotas.quota(.consumerByteRate, user: "alice", clientId: "app") == nil, "another key is another quota")
        // A default counts traffic under the name it matched: bob's and carol's are apart.
        let bob = quotas.quota(.producerByteRate, user: "bob", clientId: "x")
        #expect(bob?.bytesPerSecond == 5 && bob?.entity == QuotaEntity(user: .named("bob"), clientId: .named("x")))
    }

    @Test func badChangesAreRefusedWithTheirReason() {
        let entity = QuotaEntity(clientId: .named("app"))
        #expect(ClientQuotas.problem(entity: entity, changes: [Change(key: "producer_byte_rate", value: 1024, remove: false)]) == nil)
        for (change, why) in [(Change(key: "request_percentage", value: 50, remove: false), "not enforced"),
                              (Change(key: "producer_byte_rate", value: 0, remove: false), "at least 1"),
                              (Change(key: "producer_byte_rate", value: 1.5, remove: false), "whole number"),
                              (Change(key: "producer_byte_rate", value: .infinity, remove: false), "whole number")] {
            #expect(ClientQuotas.problem(entity: entity, changes: [change])?.contains(why) == true, "\(change)")
        }
        #expect(ClientQuotas.problem(entity: QuotaEntity(), changes: []) != nil)
        let twice = [Change(key: "producer_byte_rate", value: 1, remove: false), Change(key: "producer_byte_rate", value: 2, remove: false)]
        #expect(ClientQuotas.problem(entity: entity, changes: twice) != nil)
    }

    @Test func filtersSelectAsDescribeClientQuotasAsks() {
        var quotas = Self.set(ClientQuotas(), QuotaEntity(user: .named("alice")), 1)
        quotas = Self.set(quotas, QuotaEntity(user: .named("alice"), clientId: .named("app")), 2)
        quotas = Self.set(quotas, QuotaEntity(clientId: .defaultName), 3)
        #expect(quotas.matching([], strict: false).count == 3)
        #expect(quotas.matching([.init(entityType: "user", match: .exactly("alice"))], strict: false).count == 2)
        #expect(quotas.matching([.init(entityType: "user", match: .exactly("alice"))], strict: true).count == 1)
        #expect(quotas.matching([.init(entityType: "client-id", match: .defaultName)], strict: true).map(\.1) == [[.producerByteRate: 3]])
        #expect(quotas.matching([.init(entityType: "client-id", match: .any)], strict: false).count == 2)
    }

    @Test func ratesAreMeasuredOverKafkasWindow() {
        var rates = QuotaRates()
        let entity = QuotaEntity(clientId: .named("app"))
        // A first burst is spread over ten samples' worth of time: 10,000 bytes in the first
        // millisecond is 1,000 bytes/s, within a 1,000 bytes/s quota.
        #expect(rates.record(10_000, .producerByteRate, entity: entity, bytesPerSecond: 1000, now: 0) == 0)
        // 10,000 more: 2,000 bytes/s over the same 10 s window: the excess takes one window
        // (10,001 ms) at the quota to drain.
        #expect((9990...10_000).contains(rates.record(10_000, .producerByteRate, entity: entity, bytesPerSecond: 1000, now: 1)))
        // Taken back, the rate is within the quota again.
        rates.unrecord(10_000, .producerByteRate, entity: entity, now: 2)
        #expect(rates.record(0, .producerByteRate, entity: entity, bytesPerSecond: 1000, now: 3) == 0)
        // Steady just under the quota for a minute (the window holds 11 samples over 10 s, so
        // 900 bytes a second measures 990/s): never throttled, as old samples leave the window.
        var now: Int64 = 20_000
        for _ in 0..<60 {
            #expect(rates.record(900, .producerByteRate, entity: entity, bytesPerSecond: 1000, now: now) == 0)
            now += 1000
        }
        #expect(rates.record(100_000, .producerByteRate, entity: entity, bytesPerSecond: 1000, now: now) > 0)
    }

    @Test func rateWindowsAreBounded() {
        var rates = QuotaRates(maxEntities: 3)
        for index in 0..<10 {
            _ = rates.record(1, .consumerByteRate, entity: QuotaEntity(clientId: .named("c\(index)")), bytesPerSecond: 1000, now: Int64(index))
        }
        #expect(rates.entityCount == 3)
    }

    @Test func quotasAreKeptDurablyAndADamagedFileChangesNothing() throws {
        let fileSystem = SimulatedFileSystem()
        try fileSystem.createDirectoryDurably("/sim/data")
        let store = QuotaStore(directory: "/sim/data", fileSystem: fileSystem)
        let alice = QuotaEntity(user: .named("alice"), clientId: .defaultName)
        try store.alter([(alice, [Change(key: "consumer_byte_rate", value: 2048, remove: false)])])
        #expect(throws: BrokerError.self) { try store.alter([(alice, [Change(key: "consumer_byte_rate", value: -1, remove: false)])]) }
        try store.alter([(alice, [Change(key: "consumer_byte_rate", value: 0, remove: true)])], validateOnly: true)
        for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false)] {
            let reopened = QuotaStore(directory: "/sim/data", fileSystem: fileSystem.crashImage(kind))
            #expect(reopened.quotas.values == [alice: [.consumerByteRate: 2048]], "\(kind): validate-only changed nothing; the change is durable")
        }
        try fileSystem.writeFile("/sim/data/quotas.json", contents: Array("{not json".utf8))
        let damaged = QuotaStore(directory: "/sim/data", fileSystem: fileSystem)
        #expect(damaged.problem != nil && damaged.quotas.values.isEmpty)
        #expect(throws: BrokerError.self) { try damaged.alter([(alice, [])]) }
        #expect(try fileSystem.readFile("/sim/data/quotas.json") == Array("{not json".utf8), "a damaged file is left as it is")
    }
}
