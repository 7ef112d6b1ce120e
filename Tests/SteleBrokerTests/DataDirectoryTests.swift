import Foundation
import Testing
import SteleCore
import SteleLog
@testable import SteleBroker

/// The data directory under the faults production brings: a second owner, a topic's metadata
/// missing or damaged, a partition directory gone, an out-of-range config already on disk, the
/// leftovers of a crash during creation or deletion. Nothing is deleted implicitly; what cannot
/// be served goes offline with the reason and keeps its data.
@Suite("Data directory")
struct DataDirectoryTests {
    let directory = NSTemporaryDirectory() + "stele-datadir-" + UUID().uuidString

    func batch(_ value: String) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.append(key: Array("k".utf8), value: Array(value.utf8))
        return builder.build()
    }

    /// A broker with one topic `orders` (2 partitions, one record in partition 0) and `other`.
    func populate() async throws {
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("orders", partitions: 2)
        try await broker.createTopic("other")
        _ = try await broker.partition("orders", 0, autoCreate: false).append(batch("acknowledged"))
        try await broker.close()
    }

    var ordersDirectory: String { directory + "/topics/orders" }

    @Test func aSecondOwnerIsRefusedAndToldWhoHoldsTheDirectory() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        await #expect(throws: DataDirectoryLockError.held(path: directory + "/stele.lock", holder: "pid \(getpid())")) {
            _ = try await Broker.open(BrokerConfig(dataDirectory: directory))
        }
        #expect(DataDirectoryLock.holder(of: directory) == "pid \(getpid())")
        try await broker.close()
        #expect(DataDirectoryLock.holder(of: directory) == nil, "closing gives the directory up")
        let again = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await again.close()
    }

    @Test func aTopicWhoseMetadataIsMissingGoesOfflineAndKeepsItsData() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await populate()
        try FileManager.default.removeItem(atPath: ordersDirectory + "/topic.json")
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let reason = try #require(broker.offlineReason("orders"))
        #expect(reason.contains(ordersDirectory + "/topic.json is missing"), "\(reason)")
        #expect(broker.topic("other") != nil, "other topics are served")
        #expect(FileManager.default.fileExists(atPath: ordersDirectory + "/0/00000000000000000000.log"), "the data stays")
        // Neither auto-creation nor an explicit create may reuse the name (and the offsets).
        await #expect(throws: BrokerError.topicOffline("orders", reason)) { _ = try await broker.partition("orders", 0, autoCreate: true) }
        await #expect(throws: BrokerError.topicOffline("orders", reason)) { try await broker.createTopic("orders") }
        // Deleting it is the operator's explicit way out.
        try await broker.deleteTopic("orders")
        #expect(!FileManager.default.fileExists(atPath: ordersDirectory))
        #expect(broker.offlineReason("orders") == nil)
        try await broker.close()
    }

    @Test(arguments: [
        ("garbage", "{not json", "is damaged"),
        ("negative partitions", #"{"partitions":-3,"configs":{}}"#, "says -3 partitions"),
        ("trapping config", #"{"partitions":2,"configs":{"delete.retention.ms":"-9223372036854775808"}}"#, "delete.retention.ms=-9223372036854775808 is out of range"),
        ("unknown config", #"{"partitions":2,"configs":{"retention.mss":"1"}}"#, "unknown topic config retention.mss"),
    ])
    func damagedMetadataTakesOnlyThatTopicOffline(_ damage: (String, String, String)) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await populate()
        try Data(damage.1.utf8).write(to: URL(fileURLWithPath: ordersDirectory + "/topic.json"))
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let reason = try #require(broker.offlineReason("orders"), "\(damage.0)")
        #expect(reason.contains(damage.2), "\(damage.0): \(reason)")
        #expect(broker.topic("other") != nil)
        #expect(FileManager.default.fileExists(atPath: ordersDirectory + "/0/00000000000000000000.log"))
        try await broker.close()
    }

    @Test func aVanishedPartitionDirectoryIsNotRecreatedEmpty() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await populate()
        try FileManager.default.removeItem(atPath: ordersDirectory + "/0")
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let reason = try #require(broker.offlineReason("orders"))
        #expect(reason.contains(ordersDirectory + "/0 is missing"), "\(reason)")
        #expect(!FileManager.default.fileExists(atPath: ordersDirectory + "/0"), "not recreated: its offsets would be handed out again")
        try await broker.close()
    }

    @Test func leftoversOfACrashedCreationOrDeletionAreFinishedAtStart() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await populate()
        let creating = directory + "/topics/new~creating-1234"
        let deleting = directory + "/topics/old~deleted-5678"
        for leftover in [creating, deleting] { try FileManager.default.createDirectory(atPath: leftover + "/0", withIntermediateDirectories: true) }
        let stray = directory + "/topics/notes.txt~"
        FileManager.default.createFile(atPath: stray, contents: Data("an operator's file".utf8))
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        #expect(!FileManager.default.fileExists(atPath: creating) && !FileManager.default.fileExists(atPath: deleting))
        #expect(broker.topicNames == ["orders", "other"] && broker.offlineTopics.isEmpty)
        // A deletion renames the topic aside first, then removes it.
        try await broker.deleteTopic("other")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/topics").filter { $0.hasPrefix("other") }.isEmpty)
        try await broker.close()
    }

    @Test func aDirectoryInTheWayIsNotDeletedByCreate() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        // Appears while the server runs (an operator restoring a backup, say).
        try FileManager.default.createDirectory(atPath: directory + "/topics/restored/0", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: directory + "/topics/restored/0/precious", contents: Data("x".utf8))
        await #expect(throws: BrokerError.self) { try await broker.createTopic("restored") }
        #expect(FileManager.default.fileExists(atPath: directory + "/topics/restored/0/precious"))
        try await broker.close()
    }

    @Test(arguments: [
        ("segment.bytes", "0", "segment.bytes=0 is out of range: it must be at least 14 and at most 2147483647"),
        ("segment.ms", "0", "segment.ms=0 is out of range: it must be at least 1"),
        ("retention.ms", "-2", "retention.ms=-2 is out of range: it must be at least -1"),
        ("delete.retention.ms", "-9223372036854775808", "delete.retention.ms=-9223372036854775808 is out of range: it must be at least 0"),
        ("max.message.bytes", "2147483648", "max.message.bytes=2147483648 is out of range: it must be at least 0 and at most 2147483647"),
        ("index.interval.bytes", "-1", "index.interval.bytes=-1 is out of range"),
        ("retention.bytes", "12x", "retention.bytes=12x is not an integer"),
    ])
    func outOfRangeConfigsAreRefusedNamingKeyAndRange(_ config: (String, String, String)) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        do {
            try await broker.createTopic("t", configs: [config.0: config.1])
            Issue.record("\(config.0)=\(config.1) was accepted")
        } catch let BrokerError.invalidConfig(reason) {
            #expect(reason.contains(config.2), "\(reason)")
        }
        #expect(broker.topic("t") == nil && !FileManager.default.fileExists(atPath: directory + "/topics/t"))
        try await broker.close()
    }

    @Test(arguments: ["missing", "damaged"])
    func producerIdsNeverRestartBelowRetainedBatches(_ damage: String) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
            try await broker.createTopic("idempotent")
            var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
            builder.producerId = 5_000
            builder.producerEpoch = 0
            builder.baseSequence = 0
            builder.append(key: Array("k".utf8), value: Array("v".utf8))
            _ = try await broker.partition("idempotent", 0, autoCreate: false).append(builder.build())
            #expect(try broker.producerIds.next() == 0)
            try await broker.close()
        }
        let file = directory + "/producer-ids"
        if damage == "missing" { try FileManager.default.removeItem(atPath: file) } else { try Data("\u{0}garbage".utf8).write(to: URL(fileURLWithPath: file)) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        #expect(try broker.producerIds.next() > 5_000, "an id that could match producer 5000's retained batches is never handed out")
        #expect((broker.producerIds.problem != nil) == (damage == "damaged"))
        try await broker.close()
    }

    @Test func lagNeverTrapsWhateverAClientCommitted() {
        #expect(ConsumerLag.records(committed: .min, logEnd: 10) == nil)
        #expect(ConsumerLag.records(committed: -1, logEnd: 10) == nil)
        #expect(ConsumerLag.records(committed: 4, logEnd: 10) == 6)
        #expect(ConsumerLag.records(committed: .max, logEnd: 10) == 0)
    }
}
