import Foundation
import Testing
import SteleBroker
import SteleCore
import SteleLog
import SteleStore
import Synchronization
import SteleEmbedded

/// What only the embedded backend has: files to reopen, Kafka topics shared with producers.
struct EmbeddedStoreTests {
    let directory = NSTemporaryDirectory() + "stele-embedded-" + UUID().uuidString

    @Test func eventsSurviveReopeningAndVersionsContinue() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cart = StreamName(category: "carts", id: "cart-42")
        var store = EventStore(try await EmbeddedEventStorage.open(path: directory))
        try await store.append([event("ItemAdded"), event("ItemAdded"), event("ItemAdded")], to: cart, expected: .noStream)
        try await store.saveSnapshot(Snapshot(stream: cart, name: "cart", version: 2, state: Array("3 items".utf8)))
        try await store.close()
        store = EventStore(try await EmbeddedEventStorage.open(path: directory))
        #expect(try await store.version(of: cart) == 2)
        #expect(try await store.append([event("ItemRemoved")], to: cart, expected: .exact(2)).firstVersion == 3)
        #expect(try await store.latestSnapshot(of: cart, name: "cart")?.state == Array("3 items".utf8))
        try await store.close()
    }

    @Test func recordsProducedByKafkaClientsAreEventsWithVersions() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let store = EventStore(EmbeddedEventStorage(broker: broker))
        let stream = StreamName(category: "orders", id: "order-7")
        try await store.append([event("OrderPlaced")], to: stream, expected: .noStream)
        // A Kafka producer's batch: two records for the stream (one with Stele headers), one unkeyed.
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.append(key: Array("order-7".utf8), value: Array("{}".utf8), headers: [RecordHeader(key: "stele.type", value: Array("OrderPaid".utf8))])
        builder.append(key: nil, value: Array("heartbeat".utf8))
        builder.append(key: Array("order-7".utf8), value: Array("raw".utf8))
        let log = try await broker.partition("orders", 0, autoCreate: false)
        _ = try await log.append(builder.build())
        let events = try await store.read(stream)
        #expect(events.map(\.version) == [0, 1, 2])
        #expect(events.map(\.type) == ["OrderPlaced", "OrderPaid", nil])
        #expect(events[2].id == nil && events[2].data == Array("raw".utf8))
        let page = try await store.readCategory("orders")
        #expect(page.events.map(\.version) == [0, 1, 2], "category reads learn versions from the key index")
        #expect(page.next.nextOffset(in: 0) == 4, "the unkeyed record is passed over")
        #expect(try await store.append([event("OrderShipped")], to: stream, expected: .exact(2)).firstVersion == 3)
        try await broker.close()
    }

    @Test func aMirrorTopicIsACategoryOnlyOncePromotedAndWhole() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let store = EventStore(EmbeddedEventStorage(broker: broker))
        let mirror = [TopicConfig.mirrorSourceKey: "dc1.example:9092"]
        func sourceBatch(at offset: Int64, key: String) -> [UInt8] {
            var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
            builder.append(key: Array(key.utf8), value: Array("{}".utf8))
            var bytes = builder.build()
            bytes.withUnsafeMutableBytes { RecordBatch.setBaseOffset(offset, in: $0) }
            return bytes
        }
        // Whole: its source kept every event from offset 0.
        try await broker.createTopic("orders", partitions: 1, configs: mirror)
        _ = try await broker.partition("orders", 0, autoCreate: false).appendKeepingOffsets(sourceBatch(at: 0, key: "order-1"))
        let stream = StreamName(category: "orders", id: "order-1")
        await #expect(throws: EventStoreError.self, "active: only its mirror writes") { try await store.append([event("E")], to: stream) }
        try await broker.alterTopicConfigs("orders") { $0.merging([TopicConfig.mirrorStateKey: "promoted"]) { _, new in new } }
        #expect(try await store.append([event("E")], to: stream, expected: .exact(0)).firstVersion == 1, "versions continue the source's")
        // Its source had deleted records before offset 5: versions would not count them.
        try await broker.createTopic("trimmed", partitions: 1, configs: mirror)
        _ = try await broker.partition("trimmed", 0, autoCreate: false).appendKeepingOffsets(sourceBatch(at: 5, key: "t-1"))
        try await broker.alterTopicConfigs("trimmed") { $0.merging([TopicConfig.mirrorStateKey: "promoted"]) { _, new in new } }
        await #expect(throws: EventStoreError.self) { try await store.append([event("E")], to: StreamName(category: "trimmed", id: "t-1")) }
        try await broker.close()
    }

    @Test func topicsThatCouldLoseEventsAreRefusedAsCategories() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let store = EventStore(EmbeddedEventStorage(broker: broker))
        try await broker.createTopic("clicks", configs: ["retention.ms": "60000"])
        try await broker.createTopic("profiles", configs: ["cleanup.policy": "compact"])
        for category in ["clicks", "profiles"] {
            await #expect(throws: EventStoreError.self) { try await store.append([event("E")], to: StreamName(category: category, id: "x")) }
        }
        await #expect(throws: EventStoreError.self) { try await store.append([event("E")], to: StreamName(category: "__stele_snapshots", id: "x")) }
        try await broker.close()
    }

    /// A category's events are kept forever: the broker refuses DeleteRecords, compaction and
    /// retention on a topic the store appended to. Versions count the records a partition
    /// holds, so a topic whose records were deleted before the store used it is refused as a
    /// category rather than hand out versions that no longer match the events.
    @Test func aCategoryKeepsItsEventsAndOneWithDeletedRecordsIsRefused() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let store = EventStore(EmbeddedEventStorage(broker: broker))
        let stream = StreamName(category: "ledger", id: "a")
        try await store.append([event("Opened"), event("Credited")], to: stream, expected: .noStream)
        #expect(broker.topic("ledger")?.config.isEventCategory == true)
        for attempt in [{ _ = try await broker.deleteRecords("ledger", partition: 0, before: 1) },
                        { try await broker.alterTopicConfigs("ledger", ["retention.ms": "60000"]) },
                        { try await broker.alterTopicConfigs("ledger", ["cleanup.policy": "compact"]) }] as [@Sendable () async throws -> Void] {
            do {
                try await attempt()
                Issue.record("an event category lost its protection")
            } catch BrokerError.policyViolation(_) {}
        }
        #expect(try await store.read(stream).count == 2)
        // A plain topic, written by a Kafka producer, whose first record was deleted.
        try await broker.createTopic("imported")
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.append(key: Array("b".utf8), value: Array("{}".utf8))
        builder.append(key: Array("b".utf8), value: Array("{}".utf8))
        _ = try await broker.partition("imported", 0, autoCreate: false).append(builder.build())
        #expect(try await broker.deleteRecords("imported", partition: 0, before: 1) == 1)
        do {
            _ = try await store.read(StreamName(category: "imported", id: "b"))
            Issue.record("a category with deleted records was read")
        } catch EventStoreError.notAnEventCategory(_) {}
        try await broker.close()
    }

    @Test func streamsSpreadOverPartitionsLikeKafkaProducersPlaceThem() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try await EmbeddedEventStorage.open(path: directory, categoryPartitions: 4)
        let store = EventStore(storage)
        var expectedPartitions: Set<Int32> = []
        for index in 0..<40 {
            let stream = StreamName(category: "accounts", id: "account-\(index)")
            let outcome = try await store.append([event("Opened")], to: stream, expected: .noStream)
            let partition = KafkaPartitioner.partition(forKey: Array(stream.id.utf8), partitions: 4)
            #expect(outcome.firstPosition.partition == partition)
            expectedPartitions.insert(partition)
        }
        #expect(expectedPartitions.count == 4)
        var seen = 0
        for try await event in store.subscribe(toCategory: "accounts") {
            #expect(event.version == 0)
            seen += 1
            if seen == 40 { break }
        }
        try await store.close()
    }

    /// A category page is bounded in bytes, whatever the events' sizes: big events make short
    /// pages, and paging on still gives every event once, each stream in order.
    @Test func categoryPagesAreBoundedInBytes() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory, flushPolicy: .os, categoryPartitions: 4))
        let payload = "{\"blob\":\"" + String(repeating: "x", count: 600 << 10) + "\"}"
        for index in 0..<60 {
            try await store.append([EventData(type: "Scanned", data: Array(payload.utf8))], to: StreamName(category: "scans", id: "scan-\(index % 12)"))
        }
        let first = try await store.readCategory("scans", limit: 1000)
        let bytes = first.events.reduce(0) { $0 + $1.data.count }
        #expect(!first.events.isEmpty && first.events.count < 60, "a short page: \(first.events.count) events")
        // Each partition's share is 4 MiB, overshot by at most one 1 MiB read.
        #expect(bytes <= (16 << 20) + 4 * (1 << 20) + 4 * payload.utf8.count, "\(bytes) bytes in one page")
        var all = first.events
        var position = first.next
        while true {
            let page = try await store.readCategory("scans", after: position, limit: 1000)
            if page.events.isEmpty { break }
            all += page.events
            position = page.next
        }
        #expect(all.count == 60)
        #expect(Set(all.map(\.id)).count == 60, "no event twice")
        for stream in Set(all.map(\.stream)) {
            #expect(all.filter { $0.stream == stream }.map(\.version) == Array(0..<5), "\(stream) in order")
        }
        try await store.close()
    }

    /// A subscriber that does not ask for events makes the store read nothing more.
    @Test func aSlowSubscriberHoldsBackReading() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let counting = CountingStorage(try await EmbeddedEventStorage.open(path: directory, flushPolicy: .os))
        let store = EventStore(counting)
        let stream = StreamName(category: "ticks", id: "clock")
        for batch in 0..<10 { try await store.append((0..<100).map { event("Tick\(batch * 100 + $0)") }, to: stream) }
        var iterator = store.subscribe(toCategory: "ticks", bufferSize: 16).makeAsyncIterator()
        for _ in 0..<20 { _ = try await iterator.next() }
        try await Task.sleep(for: .milliseconds(100))
        #expect(counting.maxLimit.withLock { $0 } <= 16)
        #expect(counting.eventsRead.withLock { $0 } == 32, "two pages of 16, nothing read ahead")
        try await store.close()
    }
}

/// Records what a subscription asks of its storage.
final class CountingStorage: EventStorage {
    let inner: any EventStorage
    let maxLimit = Mutex(0)
    let eventsRead = Mutex(0)
    init(_ inner: any EventStorage) { self.inner = inner }

    func append(_ events: [EventData], to stream: StreamName, expected: ExpectedVersion) async throws -> AppendOutcome {
        try await inner.append(events, to: stream, expected: expected)
    }
    func append(_ appends: [StreamAppend]) async throws -> [AppendOutcome] { try await inner.append(appends) }
    func version(of stream: StreamName) async throws -> Int64 { try await inner.version(of: stream) }
    func read(_ stream: StreamName, from version: Int64, limit: Int) async throws -> [RecordedEvent] {
        try await inner.read(stream, from: version, limit: limit)
    }
    func readCategory(_ category: String, after position: CategoryCheckpoint, limit: Int) async throws -> CategoryPage {
        maxLimit.withLock { $0 = max($0, limit) }
        let page = try await inner.readCategory(category, after: position, limit: limit)
        eventsRead.withLock { $0 += page.events.count }
        return page
    }
    func endCheckpoint(of category: String) async throws -> CategoryCheckpoint { try await inner.endCheckpoint(of: category) }
    var appendGeneration: UInt64 { inner.appendGeneration }
    func waitForAppends(after generation: UInt64, until deadline: ContinuousClock.Instant) async {
        await inner.waitForAppends(after: generation, until: deadline)
    }
    func saveSnapshot(_ snapshot: Snapshot) async throws { try await inner.saveSnapshot(snapshot) }
    func latestSnapshot(of stream: StreamName, name: String, schemaVersion: Int, atOrBefore version: Int64) async throws -> Snapshot? {
        try await inner.latestSnapshot(of: stream, name: name, schemaVersion: schemaVersion, atOrBefore: version)
    }
    func close() async throws { try await inner.close() }
}
