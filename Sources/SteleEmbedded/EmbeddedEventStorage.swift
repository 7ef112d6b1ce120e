import Foundation
import SteleBroker
import SteleCompression
import SteleCore
import SteleLog
import SteleStore

/// The event store on Stele's own log: categories are topics of the broker, streams are keys,
/// versions come from the key index and expected versions are checked by each partition's
/// single writer, atomically with the append. Events appended here and records produced by
/// Kafka clients to the same topics are the same thing.
public final class EmbeddedEventStorage: EventStorage {
    public let broker: Broker
    private let ownsBroker: Bool
    /// Partitions of a category the store creates (1 keeps a category totally ordered).
    public let categoryPartitions: Int
    static let snapshotTopic = "__stele_snapshots"
    /// Appends to a partition hold its gate shared; a multi-stream append holds the gates of all
    /// its partitions exclusively, so the versions it checks cannot move before it writes.
    var gates: PartitionGates { broker.storeGates }
    /// The transactional ids multi-stream appends across partitions commit under.
    var transactionalIds: TransactionalIdPool { broker.storeTransactionalIds }

    /// Serves events from `broker`'s topics (a server's broker, shared with its Kafka listener).
    public init(broker: Broker, categoryPartitions: Int? = nil) {
        self.broker = broker
        self.ownsBroker = false
        self.categoryPartitions = categoryPartitions ?? broker.config.defaultPartitions
    }

    private init(ownedBroker: Broker, categoryPartitions: Int?) {
        self.broker = ownedBroker
        self.ownsBroker = true
        self.categoryPartitions = categoryPartitions ?? ownedBroker.config.defaultPartitions
    }

    /// Opens (creating if needed) a data directory of its own, the same layout `stele serve` uses.
    public static func open(path: String, flushPolicy: FlushPolicy = .always, categoryPartitions: Int? = nil) async throws -> EmbeddedEventStorage {
        var config = BrokerConfig(dataDirectory: path)
        config.logDefaults.flushPolicy = flushPolicy
        return EmbeddedEventStorage(ownedBroker: try await Broker.open(config), categoryPartitions: categoryPartitions)
    }

    public func close() async throws {
        if ownsBroker { try await broker.close() }
    }

    // MARK: Categories

    /// The topic of a category, created as an event category when missing: append time as the
    /// record time, no retention. An existing topic that could drop or rewrite events is refused.
    func category(_ name: String, create: Bool) async throws -> Broker.Topic? {
        if let problem = CategoryName.validate(name) { throw EventStoreError.invalidRequest(problem) }
        // Damaged, not absent: reading it as empty would hide events, creating it would reuse offsets.
        if let reason = broker.offlineReason(name) { throw EventStoreError.storage("topic \(name) is offline: \(reason)") }
        var topic = broker.topic(name)
        if topic == nil, create {
            do {
                topic = try await broker.createTopic(name, partitions: categoryPartitions,
                                                     configs: ["message.timestamp.type": "LogAppendTime", "retention.ms": "-1"], eventCategory: true)
            } catch BrokerError.topicAlreadyExists(_) { topic = broker.topic(name) }
        }
        guard let topic else { return nil }
        // Only its mirror writes to an active mirror topic, at the source's offsets.
        if create, let source = topic.config.mirrorSource, topic.config.isActiveMirror {
            throw EventStoreError.invalidRequest("topic \(name) mirrors \(source) and is read-only until it is promoted (stele mirror promote)")
        }
        let config = topic.partitions[0].config
        if config.cleanupPolicy.contains(.compact) || config.retention != nil || config.retentionBytes != nil {
            throw EventStoreError.notAnEventCategory("topic \(name) has retention or compaction configured, so it could lose or rewrite events; "
                + "an event category keeps every event (create it with retention.ms=-1 and cleanup.policy=delete)")
        }
        // A stream's version counts the records the log holds: once records are deleted, the
        // versions of what remains would no longer be the events' versions.
        if let index = topic.partitions.firstIndex(where: { $0.logStartOffset > 0 }) {
            throw EventStoreError.notAnEventCategory("records of topic \(name) were deleted (partition \(index) starts at offset "
                + "\(topic.partitions[index].logStartOffset)), so its streams' versions no longer count every event")
        }
        // A topic made before the mark, or by a Kafka client, becomes a category at its first
        // append here: from then on the broker refuses what would delete its events.
        if create && topic.config.isEventCategory != true {
            // A promoted mirror whose source had deleted records starts after a gap: its log
            // start is 0, but versions would not count the events before the gap.
            if topic.config.mirrorSource != nil {
                for (index, log) in topic.partitions.enumerated() where log.logEndOffset > log.logStartOffset {
                    let first = try await log.read(from: log.logStartOffset, maxBytes: RecordBatchHeader.size).batches
                    if let header = try? RecordBatchHeader(parsing: first), header.baseOffset > log.logStartOffset {
                        throw EventStoreError.notAnEventCategory("topic \(name) mirrored a source whose records before offset \(header.baseOffset) "
                            + "of partition \(index) were deleted, so its streams' versions would not count every event")
                    }
                }
            }
            do { try await broker.markEventCategory(name) } catch { throw EventStoreError.storage("marking \(name) as an event category: \(error)") }
        }
        return topic
    }

    func log(of stream: StreamName, create: Bool) async throws -> (PartitionLog, Int32)? {
        if let problem = stream.problem { throw EventStoreError.invalidRequest(problem) }
        guard let topic = try await category(stream.category, create: create) else { return nil }
        let partition = KafkaPartitioner.partition(forKey: stream.key, partitions: topic.partitions.count)
        return (topic.partitions[Int(partition)], partition)
    }

    // MARK: Appends

    public func append(_ events: [EventData], to stream: StreamName, expected: ExpectedVersion) async throws -> AppendOutcome {
        try Idempotency.validate(events, to: stream)
        guard let (log, partition) = try await log(of: stream, create: true) else { throw EventStoreError.closed }
        let gate = gates.gate(stream.category, partition)
        await gate.acquire(exclusive: false)
        defer { gate.release(exclusive: false) }
        var builder = RecordBatchBuilder(baseTimestamp: Date().epochMilliseconds)
        for event in events { builder.append(key: stream.key, value: event.data, headers: EventHeaders.encode(event)) }
        let batch = builder.build()
        /// The original outcome if these events are already where `lookup` says.
        func repeated(current: Int64) async throws -> AppendOutcome? {
            guard let lookup = Idempotency.lookup(for: expected, current: current, count: events.count) else { return nil }
            // Every record the versions count, committed or not (what the lookup's versions mean),
            // but none of an aborted transaction: those events were never appended.
            let existing = try await read(stream, log: log, partition: partition, from: lookup.fromVersion, limit: lookup.limit,
                                          isolation: .readUncommitted, includingAborted: false)
            return try Idempotency.repeatedAppend(of: events, existing: existing, lookup: lookup, stream: stream)
        }
        while true {
            // An append without an exact expectation still must not repeat recent events: look
            // for its ids first, then append only if the stream is still where it was seen.
            var expectation = expected
            if expected == .any || expected == .streamExists {
                let current = try await log.streamVersion(key: stream.key)
                if expected == .streamExists && current == -1 { throw EventStoreError.wrongExpectedVersion(stream: stream, expected: expected, actual: -1) }
                if let outcome = try await repeated(current: current) { return outcome }
                expectation = .exact(current)
            }
            do {
                let started = ContinuousClock.now
                let result = try await appendBatch(batch, to: log, expecting: expectation)
                broker.metrics.storeAppends.record(records: events.count, bytes: batch.count, since: started)
                broker.arrivals.notifyAll()
                let first = result.checkedVersions[0] + 1
                return AppendOutcome(firstVersion: first, lastVersion: first + Int64(events.count) - 1,
                                     firstPosition: EventPosition(partition: partition, offset: result.baseOffset), wasAlreadyAppended: false)
            } catch let LogError.wrongExpectedVersion(_, _, actual, _) {
                // Another writer moved the stream between the look and the append: look again.
                if expected == .any || expected == .streamExists { continue }
                if let outcome = try await repeated(current: actual) { return outcome }
                throw EventStoreError.wrongExpectedVersion(stream: stream, expected: expected, actual: actual)
            }
        }
    }

    private func appendBatch(_ batch: [UInt8], to log: PartitionLog, expecting expected: ExpectedVersion) async throws -> AppendResult {
        do {
            return try await log.append(batch, expecting: [StreamExpectation(offsetDelta: 0, expected: expected)])
        } catch let error as LogError {
            switch error {
            case .wrongExpectedVersion: throw error
            case .closed: throw EventStoreError.closed
            case let .batchTooLarge(size, limit): throw EventStoreError.invalidRequest("the events take \(size) bytes, more than the category's limit of \(limit)")
            case let .invalidBatch(reason): throw EventStoreError.invalidRequest(reason)
            default: throw EventStoreError.storage(error.description)
            }
        }
    }

    // MARK: Stream reads

    public func version(of stream: StreamName) async throws -> Int64 {
        guard let (log, _) = try await log(of: stream, create: false) else { return -1 }
        return try await mapLogErrors { try await log.streamVersion(key: stream.key) }
    }

    public func read(_ stream: StreamName, from version: Int64, limit: Int) async throws -> [RecordedEvent] {
        guard version >= 0, limit >= 0 else { throw EventStoreError.invalidRequest("a read starts at version ≥ 0 with a limit ≥ 0") }
        guard let (log, partition) = try await log(of: stream, create: false) else { return [] }
        return try await read(stream, log: log, partition: partition, from: version, limit: limit)
    }

    func read(_ stream: StreamName, log: PartitionLog, partition: Int32, from version: Int64, limit: Int,
              isolation: IsolationLevel = .readCommitted, includingAborted: Bool = true) async throws -> [RecordedEvent] {
        let records = try await mapLogErrors {
            try await log.readStream(key: stream.key, fromVersion: version, maxRecords: limit, isolation: isolation, includingAborted: includingAborted)
        }
        return records.map { record in
            EventHeaders.decode(stream: stream, version: record.version, position: EventPosition(partition: partition, offset: record.offset),
                                timestamp: record.timestamp, value: record.value, headers: record.headers)
        }
    }

    // MARK: Category reads

    /// Bytes of events a category page holds at most (over all partitions; a single event
    /// larger than a partition's share still makes a page of one).
    static let categoryPageBytes = 16 << 20

    /// Up to `limit` events after `position`. A page is short only at the end of the category
    /// or when it holds ``categoryPageBytes``: rounds of bounded reads fill it (each partition
    /// gives at most its share per round), so memory stays bounded whatever the partition count
    /// and event sizes, and a client that stops at a short page stops at the end (or after a
    /// page of big events; the next page goes on from `next`).
    public func readCategory(_ category: String, after given: CategoryCheckpoint, limit: Int) async throws -> CategoryPage {
        // The log's offsets are its delivery order: a transaction id in a checkpoint (a client's,
        // or one made against PostgreSQL) means nothing here, and would stop `advance` forever.
        var position = given
        position.transactions = [:]
        guard limit > 0 else { return CategoryPage(events: [], next: position) }
        guard let topic = try await self.category(category, create: false) else { return CategoryPage(events: [], next: position) }
        var events: [RecordedEvent] = []
        var next = position
        var bytes = 0
        while events.count < limit, bytes < Self.categoryPageBytes {
            let (round, complete) = try await readCategoryRound(topic, category, after: next, limit: limit - events.count,
                                                                maxBytes: Self.categoryPageBytes - bytes)
            events += round.events
            next = round.next
            bytes += round.events.reduce(0) { $0 + $1.data.count }
            if complete || round.events.isEmpty { break }
        }
        return CategoryPage(events: events, next: next)
    }

    /// One round: each partition's share read, merged. `complete` when the round ended because
    /// it reached `limit` or the end of every partition, not because a share ran out.
    private func readCategoryRound(_ topic: Broker.Topic, _ category: String, after position: CategoryCheckpoint, limit: Int,
                                   maxBytes: Int) async throws -> (CategoryPage, complete: Bool) {
        var pages: [[RecordedEvent]] = []
        var exhausted: [Bool] = []
        var scannedTo: [Int64] = []
        // Memory is bounded whatever the partition count and event sizes: each partition gives
        // at most its share of the page in records and in bytes. A partition that runs out of
        // its share while it holds more ends the merge there (below), so a page may be short;
        // `next` is right either way and the client reads on.
        let shareOfRecords = min(limit, max(64, limit / topic.partitions.count))
        let shareOfBytes = max(64 << 10, maxBytes / topic.partitions.count)
        for (index, log) in topic.partitions.enumerated() {
            let partition = Int32(index)
            let from = max(position.nextOffset(in: partition), log.logStartOffset)
            let (records, scanned, reachedEnd) = try await mapLogErrors {
                try await CategoryReader.records(of: log, from: from, limit: shareOfRecords, maxBytes: shareOfBytes)
            }
            scannedTo.append(scanned)
            let versions = try await mapLogErrors { try await log.streamVersions(of: records.map { ($0.key, $0.offset) }) }
            pages.append(zip(records, versions).map { record, version in
                EventHeaders.decode(stream: StreamName(category: category, id: String(decoding: record.key, as: UTF8.self)), version: version,
                                    position: EventPosition(partition: partition, offset: record.offset), timestamp: record.timestamp,
                                    value: record.value, headers: record.headers)
            })
            exhausted.append(reachedEnd)
        }
        // Partitions are merged by append time, the closest a multi-partition category has to
        // one order; a partition whose page ran out while it may hold more ends the merge there,
        // so nothing later in time is returned before it.
        var events: [RecordedEvent] = []
        var next = position
        var heads = Array(repeating: 0, count: pages.count)
        var complete = true
        while events.count < limit {
            var pick: Int?
            for index in pages.indices where heads[index] < pages[index].count {
                if pick == nil || pages[index][heads[index]].appendedAt < pages[pick!][heads[pick!]].appendedAt { pick = index }
            }
            if pages.indices.contains(where: { heads[$0] == pages[$0].count && !exhausted[$0] }) { complete = false; break }
            guard let pick else { break }
            let event = pages[pick][heads[pick]]
            heads[pick] += 1
            next.advance(past: event.position)
            events.append(event)
        }
        // A partition read to its end moves past its unkeyed records too, so they are not
        // looked at again.
        for index in pages.indices where exhausted[index] && heads[index] == pages[index].count {
            next.nextOffsets[Int32(index)] = max(next.nextOffset(in: Int32(index)), scannedTo[index])
        }
        return (CategoryPage(events: events, next: next), complete)
    }

    public func endCheckpoint(of category: String) async throws -> CategoryCheckpoint {
        guard let topic = try await self.category(category, create: false) else { return .start }
        var end = CategoryCheckpoint()
        // The end of what readers see: an open transaction's records come later, when it commits.
        for (index, log) in topic.partitions.enumerated() { end.nextOffsets[Int32(index)] = log.lastStableOffset }
        return end
    }

    public var appendGeneration: UInt64 { broker.arrivals.generation }

    public func waitForAppends(after generation: UInt64, until deadline: ContinuousClock.Instant) async {
        await broker.arrivals.wait(after: generation, until: deadline)
    }

    // MARK: Snapshots

    private func snapshotLog() async throws -> PartitionLog {
        if let topic = broker.topic(Self.snapshotTopic) { return topic.partitions[0] }
        do {
            try await broker.createTopic(Self.snapshotTopic, partitions: 1, configs: ["cleanup.policy": "compact"])
        } catch BrokerError.topicAlreadyExists(_) {}
        return try await broker.partition(Self.snapshotTopic, 0, autoCreate: false)
    }

    /// `category/N:name/id`, N the name's length in bytes: one key per (stream, name) whatever
    /// the name and the id hold (a category has no '/').
    static func snapshotKey(_ stream: StreamName, _ name: String) -> [UInt8] {
        Array("\(stream.category)/\(name.utf8.count):\(name)/\(stream.id)".utf8)
    }

    /// The key snapshots were saved under before: `category/name/id`, the same for name `a/b`
    /// with id `c` and name `a` with id `b/c`. Snapshots found under it are read only when they
    /// name the stream and name asked for.
    static func legacySnapshotKey(_ stream: StreamName, _ name: String) -> [UInt8] {
        Array("\(stream.category)/\(name)/\(stream.id)".utf8)
    }

    public func saveSnapshot(_ snapshot: Snapshot) async throws {
        let log = try await snapshotLog()
        var builder = RecordBatchBuilder(baseTimestamp: snapshot.takenAt.epochMilliseconds)
        builder.append(key: Self.snapshotKey(snapshot.stream, snapshot.name), value: Array(try JSONEncoder().encode(snapshot)))
        _ = try await mapLogErrors { try await log.append(builder.build()) }
    }

    public func latestSnapshot(of stream: StreamName, name: String, schemaVersion: Int, atOrBefore version: Int64) async throws -> Snapshot? {
        guard broker.topic(Self.snapshotTopic) != nil else { return nil }
        let log = try await snapshotLog()
        for key in [Self.snapshotKey(stream, name), Self.legacySnapshotKey(stream, name)] {
            if let found = try await newestSnapshot(under: key, in: log, where: { snapshot in
                snapshot.stream == stream && snapshot.name == name && snapshot.version <= version && snapshot.schemaVersion == schemaVersion
            }) {
                return found
            }
        }
        return nil
    }

    private func newestSnapshot(under key: [UInt8], in log: PartitionLog, where accepts: (Snapshot) -> Bool) async throws -> Snapshot? {
        // Newest first, a few at a time: the usual load wants the newest and reads one record.
        var end = try await mapLogErrors { try await log.streamCount(key: key) }
        while end > 0 {
            let from = max(0, end - 8)
            let records = try await mapLogErrors { try await log.readStream(key: key, fromVersion: from, maxRecords: Int(end - from)) }
            for record in records.reversed() {
                // A snapshot that no longer decodes is only a lost speed-up: skip it.
                guard let value = record.value, let snapshot = try? JSONDecoder().decode(Snapshot.self, from: Data(value)) else { continue }
                if accepts(snapshot) { return snapshot }
            }
            // Compaction may have removed older records: the key index counts what is left.
            if records.isEmpty { break }
            end = from
        }
        return nil
    }

    func mapLogErrors<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as LogError {
            if case .closed = error { throw EventStoreError.closed }
            // A reader's checkpoint past the end (or before the start) is the reader's mistake.
            if case .offsetOutOfRange = error { throw EventStoreError.checkpointOutOfRange("the checkpoint is outside the category: \(error)") }
            throw EventStoreError.storage(error.description)
        }
    }
}
