import Synchronization

/// How far each mirror topic is behind its source, as a mirror running in this process last saw
/// it: records (per partition, the source's high watermark minus what the mirror has copied,
/// summed over the topic) and seconds (per partition, how stale the target is: the time since
/// the source moment up to which the target is known to hold everything — the mirror's last look
/// when it was caught up then, else the timestamp of the newest record it has copied; the
/// topic's worst). The seconds keep growing while the mirror cannot reach the source.
///
/// Wall-clock milliseconds are passed in (record timestamps are wall-clock), so the arithmetic
/// is tested without waiting. Only a mirror in this process (`stele serve --mirror-source`)
/// reports here: a separate `stele mirror` process sees the source, this node does not.
public final class MirrorLagBoard: Sendable {
    struct PartitionLag {
        var sourceEnd: Int64
        var copiedTo: Int64
        /// The source moment (ms) up to which the target is known to hold everything.
        var completeAsOf: Int64
    }

    /// A topic's lag.
    public struct TopicLag: Sendable, Equatable {
        public var records: Int64
        public var seconds: Double

        public init(records: Int64, seconds: Double) {
            self.records = records
            self.seconds = seconds
        }
    }

    private let state = Mutex<[String: [Int32: PartitionLag]]>([:])
    private let stopped = Mutex<String?>(nil)

    /// Whether a mirror reports here at all (set by its first look).
    public var isReporting: Bool { state.withLock { !$0.isEmpty } || stopReason != nil }

    /// Why the mirror stopped for good, if it did (its lag then only grows).
    public var stopReason: String? { stopped.withLock { $0 } }

    /// The mirror stopped for good: its topics' seconds keep growing from their last look.
    public func stop(reason: String) {
        stopped.withLock { $0 = reason }
    }
    /// At most this many topics are tracked (every mirrored topic is a real topic of the node).
    static let maxTopics = 100_000

    public init() {}

    /// The mirror looked at `topic`-`partition` at `nowMs`: the source's high watermark was
    /// `sourceEnd`, it has copied up to `copiedTo` (exclusive), and the newest record it copied
    /// in this turn has timestamp `newestCopiedMs` (nil when it copied none).
    public func observe(topic: String, partition: Int32, sourceEnd: Int64, copiedTo: Int64, newestCopiedMs: Int64?, nowMs: Int64) {
        state.withLock { topics in
            if topics[topic] == nil, topics.count >= Self.maxTopics { return }
            var partitions = topics[topic, default: [:]]
            var entry = partitions[partition] ?? PartitionLag(sourceEnd: sourceEnd, copiedTo: copiedTo, completeAsOf: newestCopiedMs ?? nowMs)
            entry.sourceEnd = sourceEnd
            entry.copiedTo = copiedTo
            if copiedTo >= sourceEnd {
                entry.completeAsOf = nowMs
            } else if let newestCopiedMs {
                entry.completeAsOf = max(entry.completeAsOf, min(newestCopiedMs, nowMs))
            }
            partitions[partition] = entry
            topics[topic] = partitions
        }
    }

    /// Stops reporting `topic` (promoted, or deleted).
    public func forget(topic: String) {
        _ = state.withLock { $0.removeValue(forKey: topic) }
    }

    /// Every reported topic's lag at `nowMs`.
    public func lag(nowMs: Int64) -> [String: TopicLag] {
        state.withLock { topics in
            topics.mapValues { partitions in
                var records: Int64 = 0
                var stalest: Int64 = 0
                for entry in partitions.values {
                    let behind = max(0, entry.sourceEnd - entry.copiedTo)
                    records = records.addingReportingOverflow(behind).overflow ? .max : records + behind
                    stalest = max(stalest, nowMs - entry.completeAsOf)
                }
                return TopicLag(records: records, seconds: Double(stalest) / 1000)
            }
        }
    }
}
