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
    typealias PartitionKey = KafkaConnection.PartitionKey
    typealias FetchedBatches = KafkaConnection.FetchedBatches

    let source: KafkaCluster
    let target: KafkaCluster
    /// The source as the target's topics name it (`stele.mirror.source`).
    let sourceAddress: String
    let topics: Regex<AnyRegexOutput>
    /// Bytes fetched per partition and pass (at least one batch).
    var maxBytes: Int32 = 1 << 20
    /// How long the source may hold a fetch while no partition has anything new (a long poll):
    /// a caught-up mirror hears of a record about one round trip after it lands.
    var maxWait: Duration = .milliseconds(500)
    /// How often the source's topics are listed (new topics and partitions picked up), and
    /// how often their configs are compared with the target's.
    var topicsInterval: Duration = .seconds(1)
    var configsInterval: Duration = .seconds(10)
    var log: (String) -> Void = { print($0) }
    /// Told, after each partition's turn, how far it is copied and where the source ends (the
    /// lag a mirror inside `stele serve` reports).
    var observe: (_ topic: String, _ partition: Int32, _ sourceEnd: Int64, _ copiedTo: Int64, _ newestCopied: Int64?) -> Void = { _, _, _, _, _ in }

    /// Groups whose committed offsets are copied (nil: none).
    var groups: Regex<AnyRegexOutput>? {
        get { groupOffsets.groups }
        set { groupOffsets.groups = newValue }
    }
    /// The topics this mirror copies (made by it on the target, or found to mirror this source)
    /// and their partition counts.
    private var mirrored: [String: Int] = [:]
    /// Where each partition's next batch comes from (the target's log end offset once known).
    private var positions: [String: [Int64?]] = [:]
    /// Target topics checked to mirror this source, and those found not to (reported once).
    private var verified: Set<String> = []
    private var refused: Set<String> = []
    private var groupOffsets = GroupOffsetCopier()
    private var lastTopicsLook: ContinuousClock.Instant?
    private var lastConfigsLook: ContinuousClock.Instant?
    /// The source's configs of each topic as last followed (see ``followConfigs(_:source:target:followed:log:)``).
    private var followedConfigs: [String: [String: String]] = [:]
    /// Which partition the next fetch asks first (see ``KafkaConnection/fetchMany(_:partitionMaxBytes:maxBytes:maxWaitMs:rotation:)``).
    private var rotation = 0
    /// The next pass's fetch, sent while this pass's batches were written; used if the next
    /// pass asks for the same offsets.
    private var prefetched: (offsets: [PartitionKey: Int64], answer: [PartitionKey: FetchedBatches])?

    init(source: KafkaCluster, target: KafkaCluster, sourceAddress: String, topics: Regex<AnyRegexOutput>) {
        (self.source, self.target, self.sourceAddress, self.topics) = (source, target, sourceAddress, topics)
    }

    /// One pass: the source's topics looked at (at most every ``topicsInterval``), then one
    /// fetch of every mirrored partition and one write of what it brought. Returns the batches
    /// copied (0: caught up, after the source held the fetch up to ``maxWait``; or nothing to
    /// mirror yet).
    mutating func pass() async throws -> Int {
        let now = ContinuousClock.now
        if lastTopicsLook.map({ now - $0 >= topicsInterval }) ?? true {
            try await lookAtTopics()
            lastTopicsLook = now
        }
        if lastConfigsLook.map({ now - $0 >= configsInterval }) ?? true {
            try await Self.followConfigs(mirrored.keys.sorted(), source: source, target: target, followed: &followedConfigs, log: log)
            lastConfigsLook = now
        }
        var offsets: [PartitionKey: Int64] = [:]
        for (topic, count) in mirrored {
            var known = positions[topic] ?? []
            if known.count < count { known += Array(repeating: nil, count: count - known.count) }
            for partition in 0..<count {
                if known[partition] == nil {
                    known[partition] = try await target.offset(topic: topic, partition: Int32(partition), at: -1)
                }
                offsets[PartitionKey(topic: topic, partition: Int32(partition))] = known[partition]
            }
            positions[topic] = known
        }
        guard !offsets.isEmpty else { return 0 }
        let answer: [PartitionKey: FetchedBatches]
        if let prefetched, prefetched.offsets == offsets {
            answer = prefetched.answer
        } else {
            answer = try await fetch(offsets)
        }
        prefetched = nil
        var copied = 0
        var writes: [PartitionKey: [UInt8]] = [:]
        var next = offsets
        for (key, fetched) in answer.sorted(by: { $0.key < $1.key }) {
            let position = offsets[key]!
            if let impossible = fetched.impossible, fetched.errorCode == .none {
                throw MirrorError("\(key) at \(position): the source sent a batch at offset \(impossible), which no log can hold")
            }
            switch fetched.errorCode {
            case .none:
                guard let after = fetched.nextOffset else {
                    if fetched.highWatermark >= 0 { observe(key.topic, key.partition, fetched.highWatermark, position, nil) }
                    continue
                }
                if fetched.batchCount > 0 { writes[key] = fetched.batches }
                next[key] = after
            case .offsetOutOfRange:
                // Rare (the source trimmed past us, or lost what the target holds): settled on its own.
                let (batches, after) = try await recover(key, from: position)
                copied += batches
                next[key] = after
            case .unknownTopicOrPartition, .notLeaderOrFollower, .leaderNotAvailable, .unknownTopicId:
                // Deleted or moving at the source: its topics are looked at again next pass.
                lastTopicsLook = nil
            default:
                throw MirrorError("fetching \(key) at \(position) from the source", refused: fetched.errorCode, nil)
            }
        }
        if !writes.isEmpty {
            // The next fetch goes out while these batches are written: the source's and the
            // target's round trips overlap instead of adding up. If the write fails, the mirror
            // reconnects and starts again from the target's log ends, so the guess costs nothing.
            let following = next
            let (source, partitionBytes, totalBytes) = (source, maxBytes, Self.totalBytes(maxBytes, partitions: next.count))
            rotation &+= 1
            let turn = rotation
            async let ahead = source.fetchMany(following, partitionMaxBytes: partitionBytes, maxBytes: totalBytes, maxWaitMs: 0, rotation: turn)
            let results = try await target.produceMany(writes)
            for key in writes.keys.sorted() {
                guard let (error, message) = results[key] else { throw MirrorError("the target did not answer for \(key)") }
                guard error == .none else { throw MirrorError("writing \(key) at \(offsets[key]!) to the target", refused: error, message) }
                copied += answer[key]!.batchCount
            }
            prefetched = (following, try await ahead)
        }
        for (key, fetched) in answer where fetched.errorCode == .none && fetched.nextOffset != nil && fetched.highWatermark >= 0 {
            observe(key.topic, key.partition, fetched.highWatermark, next[key]!, fetched.newestTimestamp)
        }
        for (key, offset) in next { positions[key.topic]?[Int(key.partition)] = offset }
        return copied
    }

    /// The response size a fetch of `partitions` may reach: each partition's share, at most 32
    /// MiB in all (a write of it must fit the target's request limit), at least one partition's.
    static func totalBytes(_ partitionBytes: Int32, partitions: Int) -> Int32 {
        Int32(max(Int(partitionBytes), min(Int(partitionBytes) * max(partitions, 1), 32 << 20)))
    }

    private mutating func fetch(_ offsets: [PartitionKey: Int64]) async throws -> [PartitionKey: FetchedBatches] {
        rotation &+= 1
        return try await source.fetchMany(offsets, partitionMaxBytes: maxBytes, maxBytes: Self.totalBytes(maxBytes, partitions: offsets.count),
                                          maxWaitMs: Int32(maxWait.components.seconds * 1000 + maxWait.components.attoseconds / 1_000_000_000_000_000),
                                          rotation: rotation)
    }

    /// The source's topics: new ones made on the target as mirror topics, grown ones grown,
    /// target topics that are not this source's mirrors left alone.
    private mutating func lookAtTopics() async throws {
        let sourceTopics = try await source.topicPartitions().filter { (try? topics.wholeMatch(in: $0.key)) != nil }
        let targetTopics = try await target.topicPartitions()
        var mirrored: [String: Int] = [:]
        for (topic, count) in sourceTopics.sorted(by: { $0.key < $1.key }) {
            if let existing = targetTopics[topic], existing < count, verified.contains(topic) {
                try await target.growTopic(topic, to: count)
                log("\(topic) grew from \(existing) to \(count) partitions at the source: mirroring the new ones")
            }
            if targetTopics[topic] == nil {
                // The source's own settings for the topic, those Stele has: retention, compaction,
                // sizes and timestamps behave the same after a failover.
                let copied = try await source.topicOverrides(topic).filter { Self.followed($0.key) }
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
                if let existing = targetTopics[topic], existing < count {
                    try await target.growTopic(topic, to: count)
                    log("\(topic) grew from \(existing) to \(count) partitions at the source: mirroring the new ones")
                }
            }
            mirrored[topic] = count
        }
        // A topic gone from the target (deleted there) is made again above; one gone from the
        // source stays on the target as it is.
        for topic in self.mirrored.keys where mirrored[topic] == nil { positions[topic] = nil }
        self.mirrored = mirrored
    }

    /// Whether a source topic config is followed on the target: those Stele has, but not the
    /// mirror's own.
    static func followed(_ key: String) -> Bool { TopicConfig.knownKeys.contains(key) && !key.hasPrefix("stele.mirror.") }

    /// Config changes at the source followed on the target: a config set or changed at the
    /// source is set on the mirror topic, one removed there is removed here (MirrorMaker 2's
    /// sync.topic.configs). `followed` holds, per topic, the source's configs as last followed:
    /// after the first look only changes at the source are made (the target may spell a value
    /// its own way — `delete,compact` is `compact,delete` there — and a setting made on the
    /// target afterwards stays), and a change the target refuses is reported once, not every look.
    static func followConfigs(_ names: [String], source: KafkaCluster, target: KafkaCluster,
                              followed: inout [String: [String: String]], log: (String) -> Void) async throws {
        guard !names.isEmpty else { return }
        let atSource = try await source.topicOverrides(names)
        let atTarget = try await target.topicOverrides(names)
        for name in names {
            guard case .success(let wanted)? = atSource[name], case .success(let present)? = atTarget[name] else { continue }
            let want = wanted.filter { Self.followed($0.key) }
            let have = present.filter { Self.followed($0.key) }
            let last = followed[name]
            let set = want.filter { key, value in last.map { $0[key] != value } ?? (have[key] != value) }
            let delete = have.keys.filter { key in want[key] == nil && (last.map { $0[key] != nil } ?? true) }
            followed[name] = want
            guard !set.isEmpty || !delete.isEmpty else { continue }
            do {
                try await target.alterTopicConfigs(name, set: set, delete: Array(delete))
                log("\(name): configs follow the source (" + (set.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + delete.sorted().map { "\($0) removed" }).joined(separator: ", ") + ")")
            } catch let error as MirrorError {
                // A value the target cannot take is reported, and the records still flow.
                log("\(name): a config change at the source not followed: \(error)")
            }
        }
    }

    /// Copies the committed offsets of the groups matching ``groups``, for the mirrored topics,
    /// to the target: the same numbers, since the offsets are the source's. An offset is copied
    /// once the target holds the records before it (a consumer moved over resumes on records
    /// that are there), and only while the group has no members on the target (a group already
    /// consuming there after a failover is left alone: its commits are refused and skipped).
    /// Returns how many groups changed.
    mutating func syncGroups() async throws -> Int {
        let positions = positions
        return try await groupOffsets.sync(source: source, target: target, log: log) { topic, partition, offset in
            // Only offsets the target has copied up to: a consumer moved there finds its next record.
            guard let known = positions[topic], Int(partition) < known.count, let copiedTo = known[Int(partition)], offset <= copiedTo else { return nil }
            return offset
        }
    }

    /// A partition the source answered OFFSET_OUT_OF_RANGE at `position`: retention or
    /// DeleteRecords at the source went past it (what is gone stays a gap), or the source
    /// lost what the target holds (the mirror stops: mixing two logs is never right).
    private func recover(_ key: PartitionKey, from position: Int64) async throws -> (Int, Int64) {
        let (topic, partition) = (key.topic, key.partition)
        let start = try await source.offset(topic: topic, partition: partition, at: -2)
        let end = try await source.offset(topic: topic, partition: partition, at: -1)
        if position > end {
            throw MirrorError("\(topic)-\(partition): the target holds offsets up to \(position) but the source ends at \(end): "
                + "the source topic was re-created or lost data; mirroring it further would mix two logs", permanent: true)
        }
        guard position < start else { return (0, position) } // in range again (the source moved meanwhile): next pass
        log("\(topic)-\(partition): the source starts at \(start); offsets \(position)..<\(start) are gone there and stay a gap")
        let fetched = try await source.fetchBatches(topic: topic, partition: partition, offset: start, maxBytes: maxBytes, maxWaitMs: 0)
        guard fetched.errorCode == .none else { throw MirrorError("fetching \(key) at \(start) from the source", refused: fetched.errorCode, nil) }
        if let impossible = fetched.impossible { throw MirrorError("\(key) at \(start): the source sent a batch at offset \(impossible), which no log can hold") }
        guard let next = fetched.nextOffset else { return (0, start) }
        if fetched.batchCount > 0 {
            let (error, message) = try await target.produceBatches(topic: topic, partition: partition, batches: ByteBuffer(bytes: fetched.batches))
            guard error == .none else { throw MirrorError("writing \(key) at \(start) to the target", refused: error, message) }
        }
        if fetched.highWatermark >= 0 { observe(topic, partition, fetched.highWatermark, next, fetched.newestTimestamp) }
        return (fetched.batchCount, next)
    }
}
