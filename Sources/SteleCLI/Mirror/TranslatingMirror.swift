import Foundation
import SteleCompression
import SteleCore
import SteleKafkaProtocol

/// `stele mirror --offsets translate`: copies topics of a source cluster into ordinary topics of
/// any Kafka-protocol target (a Kafka cluster, or a Stele), which assigns its own offsets.
///
/// The source is read read_committed: aborted transactions and markers are never copied. Each
/// pass is one transaction on the target (its transactional id is the mirror's): the pass's
/// records, one batch per partition, and one progress record per partition in a compacted
/// progress topic — `<source> <topic> <partition>` → the next source offset and the target
/// offset it corresponds to. They commit together, so a SIGKILL at any point loses and doubles
/// nothing: a new run's InitProducerId fences the old one and aborts its open transaction,
/// and the mirror resumes from the progress topic, read read_committed.
///
/// The progress records are also the offset translation: a source group's committed offset S
/// becomes the target offset of the newest progress point at or below S — exactly S's place
/// when S is a point (a caught-up group's usually is), else slightly earlier (a consumer
/// moved over may read a few records twice; never skips one).
struct TranslatingMirror {
    typealias PartitionKey = KafkaConnection.PartitionKey

    let source: KafkaCluster
    let target: KafkaCluster
    let sourceAddress: String
    let topics: Regex<AnyRegexOutput>
    /// Groups whose committed offsets are copied (nil: none).
    var groups: Regex<AnyRegexOutput>? {
        get { groupOffsets.groups }
        set { groupOffsets.groups = newValue }
    }
    /// The target's transactional id: one per mirrored source (a second mirror with the same id fences the first).
    let transactionalId: String
    let progressTopic: String
    var maxBytes: Int32 = 1 << 20
    var maxWait: Duration = .milliseconds(500)
    var topicsInterval: Duration = .seconds(1)
    var configsInterval: Duration = .seconds(10)
    var log: (String) -> Void = { print($0) }
    var observe: (_ topic: String, _ partition: Int32, _ sourceEnd: Int64, _ copiedTo: Int64, _ newestCopied: Int64?) -> Void = { _, _, _, _, _ in }

    /// The records of one partition one pass writes: one batch, at most this big (Kafka takes one
    /// batch per partition in a Produce, under its default `message.max.bytes` of 1 MiB).
    static let batchBytes = 512 << 10
    /// The records one pass writes in all: a Produce request stays far below brokers' request
    /// limits (Kafka's `socket.request.max.bytes`, 100 MiB), however far the fetch decompresses.
    static let passBytes = 16 << 20
    /// Progress points kept per partition for translating group offsets (the newest).
    static let syncsKept = 4_096
    static let transactionTimeoutMs: Int32 = 60_000

    private var producer: (id: Int64, epoch: Int16)?
    /// The next sequence number of each target partition this producer epoch writes.
    private var sequences: [PartitionKey: Int32] = [:]
    /// Where each partition's next record comes from at the source (committed on the target).
    private var positions: [PartitionKey: Int64] = [:]
    /// Progress points (source offset, target offset), oldest first.
    private var syncs: [PartitionKey: [(source: Int64, target: Int64)]] = [:]
    private var mirrored: [String: Int] = [:]
    /// Target topics found not to be this mirror's (reported once).
    private var refused: Set<String> = []
    private var followedConfigs: [String: [String: String]] = [:]
    private var groupOffsets = GroupOffsetCopier()
    private var lastTopicsLook: ContinuousClock.Instant?
    private var lastConfigsLook: ContinuousClock.Instant?
    /// Rotates which partition a fetch asks first: a broker fills partitions in the order asked.
    private var rotation = 0
    private let decompressor = KafkaCodecs()

    init(source: KafkaCluster, target: KafkaCluster, sourceAddress: String, topics: Regex<AnyRegexOutput>,
         transactionalId: String, progressTopic: String) {
        (self.source, self.target, self.sourceAddress, self.topics) = (source, target, sourceAddress, topics)
        (self.transactionalId, self.progressTopic) = (transactionalId, progressTopic)
    }

    private var progressPartition: PartitionKey { PartitionKey(topic: progressTopic, partition: 0) }

    /// The progress record's key for a partition: the topic, the partition and this mirror's
    /// transactional id — a second mirror (another id) has progress of its own, so it finds
    /// this one's topics holding records it did not copy and leaves them alone.
    private func progressKey(_ key: PartitionKey) -> String { "\(key.topic) \(key.partition) \(transactionalId)" }

    /// Fences any earlier run, then reads the committed progress.
    private mutating func start() async throws {
        if try await target.topicPartitions()[progressTopic] == nil {
            try await target.createTopic(progressTopic, partitions: 1, configs: ["cleanup.policy": "compact"])
        }
        producer = try await target.initTransactionalProducer(transactionalId, timeoutMs: Self.transactionTimeoutMs)
        sequences = [:]
        var position: Int64 = 0
        var waited = false
        while true {
            let fetched = try await target.fetchCommitted([(progressPartition, position)], partitionMaxBytes: 1 << 20, maxBytes: 1 << 20, maxWaitMs: 0)
            guard let answer = fetched[progressPartition] else { throw MirrorError("the target did not answer for \(progressTopic)") }
            if answer.errorCode == .offsetOutOfRange {
                let start = try await target.offset(topic: progressTopic, partition: 0, at: -2)
                guard start > position else { throw MirrorError("reading \(progressTopic) at \(position)", refused: answer.errorCode, nil) }
                position = start
                continue
            }
            guard answer.errorCode == .none else { throw MirrorError("reading \(progressTopic)", refused: answer.errorCode, nil) }
            if position >= answer.lastStableOffset {
                // This producer's new epoch has ended its earlier transactions; a last stable
                // offset short of the end means a decided transaction's markers are still being
                // written (or another mirror sharing the topic is mid-pass). Reading before they
                // land could miss a committed pass and copy it twice.
                guard answer.lastStableOffset < answer.highWatermark else { break }
                if !waited { log("waiting for the target to finish an earlier run's transaction in \(progressTopic)") }
                waited = true
                try await Task.sleep(for: .milliseconds(50))
                continue
            }
            let (records, next) = try CommittedRecords.extract(answer.records, abortedTransactions: answer.abortedTransactions,
                                                               from: position, decompressor: decompressor)
            for record in records { learn(record) }
            guard let next, next > position else { throw MirrorError("reading \(progressTopic) at \(position): no whole batch came back") }
            position = next
        }
        log("translating offsets into \(progressTopic) as \(transactionalId): \(positions.count) partitions resume where they were")
    }

    /// Takes one progress record of this source into `positions` and `syncs`.
    private mutating func learn(_ record: CommittedRecord) {
        guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }), let value = record.value else { return }
        let parts = key.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[2] == transactionalId, let partition = Int32(parts[1]),
              let point = try? JSONDecoder().decode(ProgressPoint.self, from: Data(value)) else { return }
        let partitionKey = PartitionKey(topic: String(parts[0]), partition: partition)
        positions[partitionKey] = point.source
        if let from = point.from, let at = point.at { remember(partitionKey, from, at) }
        remember(partitionKey, point.source, point.target)
    }

    private mutating func remember(_ key: PartitionKey, _ sourceOffset: Int64, _ targetOffset: Int64) {
        var points = syncs[key] ?? []
        if let last = points.last, last.source >= sourceOffset { points.removeAll { $0.source >= sourceOffset } }
        points.append((sourceOffset, targetOffset))
        if points.count > Self.syncsKept { points.removeFirst(points.count - Self.syncsKept) }
        syncs[key] = points
    }

    /// One pass's progress in one partition, as the progress record holds it (JSON): two points
    /// of the offset translation, where the pass began and where it ended.
    struct ProgressPoint: Codable {
        /// The next source offset to copy.
        var source: Int64
        /// The target offset after the records copied before it (where the commit marker sits).
        var target: Int64
        /// Where the pass began at the source, and the target offset its first record got.
        var from: Int64?
        var at: Int64?
    }

    /// One pass: topics looked at now and then, one read_committed fetch of every mirrored
    /// partition, and one transaction of what it brought. Returns the records copied.
    mutating func pass() async throws -> Int {
        if producer == nil { try await start() }
        let now = ContinuousClock.now
        if lastTopicsLook.map({ now - $0 >= topicsInterval }) ?? true {
            try await lookAtTopics()
            lastTopicsLook = now
        }
        if lastConfigsLook.map({ now - $0 >= configsInterval }) ?? true {
            try await Mirror.followConfigs(mirrored.keys.sorted(), source: source, target: target, followed: &followedConfigs, log: log)
            lastConfigsLook = now
        }
        var keys: [PartitionKey] = []
        for (topic, count) in mirrored.sorted(by: { $0.key < $1.key }) {
            for partition in 0..<count { keys.append(PartitionKey(topic: topic, partition: Int32(partition))) }
        }
        guard !keys.isEmpty else { return 0 }
        rotation = (rotation + 1) % keys.count
        let asked = (keys[rotation...] + keys[..<rotation]).map { ($0, positions[$0] ?? 0) }
        let waitMs = Int32(maxWait.components.seconds * 1000 + maxWait.components.attoseconds / 1_000_000_000_000_000)
        let answer = try await source.fetchCommitted(asked, partitionMaxBytes: maxBytes, maxBytes: Mirror.totalBytes(maxBytes, partitions: asked.count), maxWaitMs: waitMs)
        var batches: [PartitionKey: (bytes: [UInt8], count: Int32)] = [:]
        var passSize = 0
        var next: [PartitionKey: Int64] = [:]
        var newest: [PartitionKey: Int64] = [:]
        for (key, position) in asked {
            guard let fetched = answer[key] else { continue }
            switch fetched.errorCode {
            case .none:
                // The pass is full: this partition's records come next pass (from the same position).
                guard passSize < Self.passBytes else { continue }
                let (records, after) = try extract(fetched, key, from: position)
                guard let after else { continue }
                var taken = 0
                var size = 0
                for record in records {
                    if taken > 0 && size + record.size > Self.batchBytes { break }
                    size += record.size
                    taken += 1
                }
                // The rest of the fetch comes again next pass.
                next[key] = taken < records.count ? records[taken].offset : after
                passSize += size
                if taken > 0 {
                    batches[key] = (batch(records[..<taken], key), Int32(taken))
                    newest[key] = records[..<taken].map(\.timestamp).max()
                }
                if fetched.highWatermark >= 0 { observe(key.topic, key.partition, fetched.lastStableOffset, next[key]!, newest[key]) }
            case .offsetOutOfRange:
                next[key] = try await recover(key, from: position)
            case .unknownTopicOrPartition, .notLeaderOrFollower, .leaderNotAvailable, .unknownTopicId:
                lastTopicsLook = nil
            default:
                throw MirrorError("fetching \(key) at \(position) from the source", refused: fetched.errorCode, nil)
            }
        }
        guard !batches.isEmpty else {
            // Only markers or aborted records passed: nothing to commit; read again after a restart.
            for (key, offset) in next { positions[key] = offset }
            return 0
        }
        try await commit(batches, from: Dictionary(uniqueKeysWithValues: asked), next: next)
        for (key, offset) in next { positions[key] = offset }
        return batches.values.reduce(0) { $0 + Int($1.count) }
    }

    private func extract(_ fetched: KafkaConnection.CommittedFetch, _ key: PartitionKey, from position: Int64) throws -> ([CommittedRecord], Int64?) {
        do {
            return try CommittedRecords.extract(fetched.records, abortedTransactions: fetched.abortedTransactions, from: position, decompressor: decompressor)
        } catch {
            throw MirrorError("\(key) at \(position): the source sent a batch that cannot be read (\(error))")
        }
    }

    /// The records as one batch of this producer: its next sequence number, transactional,
    /// uncompressed (the target compresses as its topic says), each record's own timestamp.
    private func batch(_ records: ArraySlice<CommittedRecord>, _ key: PartitionKey) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: records.first!.timestamp)
        builder.producerId = producer!.id
        builder.producerEpoch = producer!.epoch
        builder.baseSequence = sequences[key] ?? 0
        builder.attributes = RecordBatchAttributes(rawValue: builder.attributes.rawValue | 0x10) // transactional
        for record in records { builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp) }
        return builder.build()
    }

    /// Writes the pass's batches and their progress points in one transaction and commits it.
    private mutating func commit(_ batches: [PartitionKey: (bytes: [UInt8], count: Int32)], from: [PartitionKey: Int64], next: [PartitionKey: Int64]) async throws {
        guard let producer else { preconditionFailure("a pass starts the producer first") }
        try await target.addPartitionsToTransaction(transactionalId, producer: producer, Array(batches.keys) + [progressPartition])
        let bases = try await target.produceTransactional(transactionalId, batches.mapValues(\.bytes))
        var points: [(PartitionKey, ProgressPoint)] = []
        var progress = RecordBatchBuilder(baseTimestamp: Int64(Date().timeIntervalSince1970 * 1000))
        progress.producerId = producer.id
        progress.producerEpoch = producer.epoch
        progress.baseSequence = sequences[progressPartition] ?? 0
        progress.attributes = RecordBatchAttributes(rawValue: progress.attributes.rawValue | 0x10)
        for key in batches.keys.sorted() {
            let point = ProgressPoint(source: next[key]!, target: bases[key]! + Int64(batches[key]!.count), from: from[key]!, at: bases[key]!)
            points.append((key, point))
            progress.append(key: Array(progressKey(key).utf8), value: Array(try JSONEncoder().encode(point)))
        }
        _ = try await target.produceTransactional(transactionalId, [progressPartition: progress.build()])
        try await target.endTransaction(transactionalId, producer: producer, commit: true)
        for (key, batch) in batches { sequences[key] = Self.sequence(after: sequences[key] ?? 0, batch.count) }
        sequences[progressPartition] = Self.sequence(after: sequences[progressPartition] ?? 0, Int32(points.count))
        for (key, point) in points {
            remember(key, point.from!, point.at!)
            remember(key, point.source, point.target)
        }
    }

    /// Kafka's sequence numbers wrap from Int32.max to 0.
    static func sequence(after sequence: Int32, _ count: Int32) -> Int32 {
        Int32((Int64(sequence) + Int64(count)) % (Int64(Int32.max) + 1))
    }

    /// Commits, in a transaction of its own, that these partitions are this mirror's from their
    /// current target end on (source `position`): a restart then knows the topics it made or
    /// took even if its first data pass never committed (that pass's abort leaves markers, so
    /// the topic no longer looks empty).
    private mutating func claim(_ keys: [PartitionKey]) async throws {
        guard let producer, !keys.isEmpty else { return }
        try await target.addPartitionsToTransaction(transactionalId, producer: producer, [progressPartition])
        var progress = RecordBatchBuilder(baseTimestamp: Int64(Date().timeIntervalSince1970 * 1000))
        (progress.producerId, progress.producerEpoch, progress.baseSequence) = (producer.id, producer.epoch, sequences[progressPartition] ?? 0)
        progress.attributes = RecordBatchAttributes(rawValue: progress.attributes.rawValue | 0x10)
        var points: [(PartitionKey, ProgressPoint)] = []
        for key in keys {
            let end = try await target.offset(topic: key.topic, partition: key.partition, at: -1)
            let point = ProgressPoint(source: positions[key] ?? 0, target: end)
            points.append((key, point))
            progress.append(key: Array(progressKey(key).utf8), value: Array(try JSONEncoder().encode(point)))
        }
        _ = try await target.produceTransactional(transactionalId, [progressPartition: progress.build()])
        try await target.endTransaction(transactionalId, producer: producer, commit: true)
        sequences[progressPartition] = Self.sequence(after: sequences[progressPartition] ?? 0, Int32(points.count))
        for (key, point) in points {
            // A fresh start: translation points of an earlier incarnation of the topic are gone.
            syncs[key] = nil
            positions[key] = point.source
            remember(key, point.source, point.target)
        }
    }

    /// The source's topics: each matching one made on the target as an ordinary topic (its
    /// partitions and followed configs), and grown with it; a target topic this mirror did not
    /// make is written only while empty (then it is adopted), else left alone.
    private mutating func lookAtTopics() async throws {
        let sourceTopics = try await source.topicPartitions().filter { $0.key != progressTopic && (try? topics.wholeMatch(in: $0.key)) != nil }
        let targetTopics = try await target.topicPartitions()
        var mirrored: [String: Int] = [:]
        var claims: [PartitionKey] = []
        for (topic, count) in sourceTopics.sorted(by: { $0.key < $1.key }) {
            guard !refused.contains(topic) else { continue }
            let ours = positions.keys.contains { $0.topic == topic } || self.mirrored[topic] != nil
            let partitions = (0..<count).map { PartitionKey(topic: topic, partition: Int32($0)) }
            if let existing = targetTopics[topic] {
                if !ours {
                    var empty = true
                    for partition in 0..<existing where try await target.offset(topic: topic, partition: Int32(partition), at: -1) > 0 { empty = false }
                    guard empty else {
                        if refused.insert(topic).inserted { log("\(topic) on the target holds records this mirror did not copy: left alone") }
                        continue
                    }
                    log("mirroring \(topic) (\(count) partitions) from \(sourceAddress) into the empty target topic, offsets translated")
                    claims += partitions
                }
                if existing < count {
                    try await target.growTopic(topic, to: count)
                    log("\(topic) grew from \(existing) to \(count) partitions at the source: mirroring the new ones")
                }
            } else {
                if ours {
                    // Deleted on the target: made again and copied again from the source's start;
                    // its old translation points meant offsets of the deleted topic.
                    log("\(topic) is gone from the target: making it again and copying it from the source's start")
                    for key in partitions { positions[key] = nil }
                }
                let copied = try await source.topicOverrides(topic).filter { Mirror.followed($0.key) }
                try await target.createTopic(topic, partitions: count, configs: copied)
                log("mirroring \(topic) (\(count) partitions) from \(sourceAddress), offsets translated" + (copied.isEmpty ? "" : ", with \(copied.keys.sorted().joined(separator: ", "))"))
                claims += partitions
            }
            mirrored[topic] = count
        }
        self.mirrored = mirrored
        try await claim(claims)
    }

    /// OFFSET_OUT_OF_RANGE at `position`: the source deleted past it (the mirror goes on from
    /// the source's start), or lost what was copied (the mirror stops: two logs never mix).
    private func recover(_ key: PartitionKey, from position: Int64) async throws -> Int64 {
        let start = try await source.offset(topic: key.topic, partition: key.partition, at: -2)
        let end = try await source.offset(topic: key.topic, partition: key.partition, at: -1)
        if position > end {
            throw MirrorError("\(key): copied up to \(position) but the source ends at \(end): the source topic was re-created or lost data; "
                + "mirroring it further would mix two logs", permanent: true)
        }
        guard position < start else { return position }
        log("\(key): the source starts at \(start); its records \(position)..<\(start) are gone there and were never copied")
        return start
    }

    /// Copies the committed offsets of the groups matching ``groups``, translated: each becomes
    /// the target offset of the newest progress point at or below it. Only while the group has
    /// no members on the target. Returns how many groups changed.
    mutating func syncGroups() async throws -> Int {
        let (mirrored, syncs) = (mirrored, syncs)
        return try await groupOffsets.sync(source: source, target: target, log: log) { topic, partition, offset in
            guard mirrored[topic] != nil else { return nil }
            return syncs[PartitionKey(topic: topic, partition: partition)]?.last(where: { $0.source <= offset })?.target
        }
    }
}
