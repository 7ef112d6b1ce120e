import Foundation
import NIOCore
import SteleBroker
import SteleCore
import SteleKafkaProtocol

/// `stele mirror`'s work: copies topics of a source cluster into mirror topics of a Stele
/// target at the source's offsets, batch by batch, byte for byte.
///
/// Its progress is the target itself: each partition resumes at the target's log end offset,
/// and the target answers a batch it already holds without writing it again. So the mirror
/// keeps no state of its own, and a SIGKILL at any point loses nothing and doubles nothing.
struct Mirror {
    let source: KafkaConnection
    let target: KafkaConnection
    /// The source as the target's topics name it (`stele.mirror.source`).
    let sourceAddress: String
    let topics: Regex<AnyRegexOutput>
    var maxBytes: Int32 = 1 << 20
    var log: (String) -> Void = { print($0) }
    /// Told, after each partition's turn, how far it is copied and where the source ends (the
    /// lag a mirror inside `stele serve` reports).
    var observe: (_ topic: String, _ partition: Int32, _ sourceEnd: Int64, _ copiedTo: Int64, _ newestCopied: Int64?) -> Void = { _, _, _, _, _ in }

    /// Groups whose committed offsets are copied (nil: none).
    var groups: Regex<AnyRegexOutput>?
    /// Where each partition's next batch comes from (the target's log end offset once known).
    private var positions: [String: [Int64?]] = [:]
    /// Target topics checked to mirror this source, and those found not to (reported once).
    private var verified: Set<String> = []
    private var refused: Set<String> = []
    /// What each group last had copied, so only changes are committed.
    private var copiedOffsets: [String: [String: [Int32: Int64]]] = [:]
    private var lastGroupSync: ContinuousClock.Instant?

    init(source: KafkaConnection, target: KafkaConnection, sourceAddress: String, topics: Regex<AnyRegexOutput>) {
        (self.source, self.target, self.sourceAddress, self.topics) = (source, target, sourceAddress, topics)
    }

    /// One pass: new topics and partitions made on the target, then up to `maxBytes` copied
    /// per partition. Returns the batches copied (0: caught up).
    mutating func pass() async throws -> Int {
        let sourceTopics = try await source.topicPartitions().filter { (try? topics.wholeMatch(in: $0.key)) != nil }
        let targetTopics = try await target.topicPartitions()
        var copied = 0
        for (topic, count) in sourceTopics.sorted(by: { $0.key < $1.key }) {
            if let existing = targetTopics[topic], existing < count {
                try await target.growTopic(topic, to: count)
                log("\(topic) grew from \(existing) to \(count) partitions at the source: mirroring the new ones")
            }
            if targetTopics[topic] == nil {
                // The source's own settings for the topic, those Stele has: retention, compaction,
                // sizes and timestamps behave the same after a failover.
                let copied = try await source.topicOverrides(topic).filter { TopicConfig.knownKeys.contains($0.key) && !$0.key.hasPrefix("stele.mirror.") }
                try await target.createTopic(topic, partitions: count, configs: copied.merging([TopicConfig.mirrorSourceKey: sourceAddress]) { _, mirror in mirror })
                // Made now (again, if it was deleted on the target): it starts at its log end.
                positions[topic] = nil
                verified.insert(topic)
                log("mirroring \(topic) (\(count) partitions) from \(sourceAddress)" + (copied.isEmpty ? "" : ", with \(copied.keys.sorted().joined(separator: ", "))"))
            }
            if !verified.contains(topic) {
                // A target topic that mirrors another source (or none) is not this mirror's to write.
                let configured = try await target.topicOverrides(topic)[TopicConfig.mirrorSourceKey]
                guard configured == sourceAddress else {
                    if !refused.contains(topic) {
                        refused.insert(topic)
                        log("\(topic) on the target " + (configured.map { "mirrors \($0)" } ?? "is not a mirror topic") + ", not \(sourceAddress): left alone")
                    }
                    continue
                }
                verified.insert(topic)
            }
            var known = positions[topic] ?? []
            if known.count < count { known += Array(repeating: nil, count: count - known.count) }
            for partition in 0..<count {
                let (batches, next) = try await copy(topic: topic, partition: Int32(partition), from: known[partition])
                known[partition] = next
                copied += batches
            }
            positions[topic] = known
        }
        return copied
    }

    /// Copies the committed offsets of the groups matching ``groups``, for the mirrored topics,
    /// to the target: the same numbers, since the offsets are the source's. An offset is copied
    /// once the target holds the records before it (a consumer moved over resumes on records
    /// that are there), and only while the group has no members on the target (a group already
    /// consuming there after a failover is left alone: its commits are refused and skipped).
    /// Returns how many groups changed.
    mutating func syncGroups() async throws -> Int {
        // At most once a second: a busy pass would otherwise list groups and fetch every
        // group's offsets between each 1 MiB of records.
        guard let groups, lastGroupSync.map({ ContinuousClock.now - $0 >= .seconds(1) }) ?? true else { return 0 }
        lastGroupSync = .now
        var changed = 0
        for group in try await source.groupIds().sorted() where (try? groups.wholeMatch(in: group)) != nil {
            var offsets: [String: [Int32: Int64]] = [:]
            for (topic, partitions) in try await source.committedOffsets(of: group) {
                guard let known = positions[topic] else { continue }
                for (partition, offset) in partitions where Int(partition) < known.count {
                    guard let copiedTo = known[Int(partition)], offset <= copiedTo else { continue }
                    offsets[topic, default: [:]][partition] = offset
                }
            }
            guard !offsets.isEmpty, offsets != copiedOffsets[group] else { continue }
            let error = try await target.commit(offsets, for: group)
            switch error {
            case .none:
                copiedOffsets[group] = offsets
                changed += 1
            case .unknownMemberId, .illegalGeneration, .rebalanceInProgress:
                // The group has members on the target: its own commits rule there. Tried again
                // only when the source's offsets change.
                copiedOffsets[group] = offsets
                log("group \(group) is consuming on the target: its offsets there are its own (\(error))")
            default:
                // Transient (a coordinator loading, say): tried again next pass.
                log("group \(group): the target refused its offsets for now (\(error))")
            }
        }
        return changed
    }

    /// Copies what the source holds past `offset` (the target's log end when nil), up to `maxBytes`.
    private func copy(topic: String, partition: Int32, from offset: Int64?) async throws -> (Int, Int64) {
        var position: Int64
        if let offset {
            position = offset
        } else {
            position = try await target.offset(topic: topic, partition: partition, at: -1)
        }
        var fetched = try await source.fetchBatches(topic: topic, partition: partition, offset: position, maxBytes: maxBytes, maxWaitMs: 0)
        if fetched.errorCode == .offsetOutOfRange {
            let start = try await source.offset(topic: topic, partition: partition, at: -2)
            let end = try await source.offset(topic: topic, partition: partition, at: -1)
            guard position >= start else {
                // Retention or DeleteRecords at the source went past us: what is gone stays a gap.
                log("\(topic)-\(partition): the source starts at \(start); offsets \(position)..<\(start) are gone there and stay a gap")
                position = start
                fetched = try await source.fetchBatches(topic: topic, partition: partition, offset: position, maxBytes: maxBytes, maxWaitMs: 0)
                return try await write(fetched, topic: topic, partition: partition, at: position)
            }
            if position > end {
                // The source lost what the target holds (the topic was deleted and made again,
                // or it lost unsynced data): appending its new records would mix two histories.
                throw MirrorError("\(topic)-\(partition): the target holds offsets up to \(position) but the source ends at \(end): "
                    + "the source topic was re-created or lost data; mirroring it further would mix two logs", permanent: true)
            }
        }
        return try await write(fetched, topic: topic, partition: partition, at: position)
    }

    private func write(_ fetched: KafkaConnection.FetchedBatches, topic: String, partition: Int32, at position: Int64) async throws -> (Int, Int64) {
        guard fetched.errorCode == .none else { throw MirrorError("fetching \(topic)-\(partition) at \(position) from the source", refused: fetched.errorCode, nil) }
        guard let next = fetched.nextOffset else {
            if fetched.highWatermark >= 0 { observe(topic, partition, fetched.highWatermark, position, nil) }
            return (0, position)
        }
        if fetched.batchCount > 0 {
            let (error, message) = try await target.produceBatches(topic: topic, partition: partition, batches: ByteBuffer(bytes: fetched.batches))
            guard error == .none else { throw MirrorError("writing \(topic)-\(partition) at \(position) to the target", refused: error, message) }
        }
        if fetched.highWatermark >= 0 { observe(topic, partition, fetched.highWatermark, next, fetched.newestTimestamp) }
        return (fetched.batchCount, next)
    }
}
