/// Copies consumer groups' committed offsets from the source to the target, for both mirrors:
/// each offset is mapped by the mirror (kept offsets: the same offset once the records before it
/// are copied; translated: the progress point at or below it), at most once a second, only when a
/// group's offsets changed, and never over a group that is consuming on the target.
struct GroupOffsetCopier {
    /// Groups whose committed offsets are copied (nil: none).
    var groups: Regex<AnyRegexOutput>?
    /// What each group last had copied, so only changes are committed.
    private var copied: [String: [String: [Int32: Int64]]] = [:]
    private var lastSync: ContinuousClock.Instant?

    init(groups: Regex<AnyRegexOutput>? = nil) { self.groups = groups }

    /// Copies what changed; returns how many groups' offsets were committed. `map` gives the
    /// target offset for a source group's committed offset, or nil to leave that partition out.
    mutating func sync(source: KafkaCluster, target: KafkaCluster, log: (String) -> Void,
                       map: (_ topic: String, _ partition: Int32, _ offset: Int64) -> Int64?) async throws -> Int {
        // At most once a second: a busy pass would otherwise list groups and fetch every
        // group's offsets between each 1 MiB of records.
        guard let groups, lastSync.map({ ContinuousClock.now - $0 >= .seconds(1) }) ?? true else { return 0 }
        lastSync = .now
        var changed = 0
        for group in try await source.groupIds().sorted() where (try? groups.wholeMatch(in: group)) != nil {
            var offsets: [String: [Int32: Int64]] = [:]
            for (topic, partitions) in try await source.committedOffsets(of: group) {
                for (partition, offset) in partitions {
                    guard let mapped = map(topic, partition, offset) else { continue }
                    offsets[topic, default: [:]][partition] = mapped
                }
            }
            guard !offsets.isEmpty, offsets != copied[group] else { continue }
            let error = try await target.commit(offsets, for: group)
            switch error {
            case .none:
                copied[group] = offsets
                changed += 1
            case .unknownMemberId, .illegalGeneration, .rebalanceInProgress:
                // The group has members on the target: its own commits rule there. Tried again
                // only when the source's offsets change.
                copied[group] = offsets
                log("group \(group) is consuming on the target: its offsets there are its own (\(error))")
            default:
                // Transient (a coordinator loading, say): tried again next pass.
                log("group \(group): the target refused its offsets for now (\(error))")
            }
        }
        return changed
    }
}
