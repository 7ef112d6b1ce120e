import Synchronization

/// How far each mirror topic is behind its source, as a mirror running in this process last saw
/// it: records (per partition, the source's high watermark minus what the mirror has copied,
/// summed over the topic) and seconds (per partition, how long since the mirror last found
/// nothing to copy; the topic's worst). The clock is passed in, so the arithmetic is tested
/// without waiting.
///
/// Only a mirror in this process (`stele serve --mirror-source`) reports here: a separate
/// `stele mirror` process sees the source, this node does not.
public final class MirrorLagBoard: Sendable {
    struct PartitionLag {
        var sourceEnd: Int64
        var copiedTo: Int64
        var caughtUpAt: ContinuousClock.Instant
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
    /// At most this many topics are tracked (every mirrored topic is a real topic of the node).
    static let maxTopics = 100_000

    public init() {}

    /// The mirror has copied `topic`-`partition` up to `copiedTo` (exclusive) and the source's
    /// high watermark was `sourceEnd` when it looked.
    public func observe(topic: String, partition: Int32, sourceEnd: Int64, copiedTo: Int64, now: ContinuousClock.Instant) {
        state.withLock { topics in
            if topics[topic] == nil, topics.count >= Self.maxTopics { return }
            var partitions = topics[topic, default: [:]]
            var entry = partitions[partition] ?? PartitionLag(sourceEnd: sourceEnd, copiedTo: copiedTo, caughtUpAt: now)
            entry.sourceEnd = sourceEnd
            entry.copiedTo = copiedTo
            if copiedTo >= sourceEnd { entry.caughtUpAt = now }
            partitions[partition] = entry
            topics[topic] = partitions
        }
    }

    /// Stops reporting `topic` (promoted, or deleted).
    public func forget(topic: String) {
        _ = state.withLock { $0.removeValue(forKey: topic) }
    }

    /// Every reported topic's lag at `now`.
    public func lag(now: ContinuousClock.Instant) -> [String: TopicLag] {
        state.withLock { topics in
            topics.mapValues { partitions in
                var records: Int64 = 0
                var seconds = 0.0
                for entry in partitions.values {
                    let behind = max(0, entry.sourceEnd - entry.copiedTo)
                    records = records.addingReportingOverflow(behind).overflow ? .max : records + behind
                    if behind > 0 {
                        let waited = now - entry.caughtUpAt
                        seconds = max(seconds, Double(waited.components.seconds) + Double(waited.components.attoseconds) / 1e18)
                    }
                }
                return TopicLag(records: records, seconds: seconds)
            }
        }
    }
}
