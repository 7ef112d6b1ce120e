/// One partition of one topic, by name (the coordinator's unit of assignment).
public struct TopicPartition: Hashable, Sendable, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) { (self.topic, self.partition) = (topic, partition) }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition) }
}

/// The assignors the coordinator runs for groups on the consumer protocol (KIP-848): the member
/// names one (`group.remote.assignor`), or the group uses ``uniform``.
public enum ServerAssignor: String, Sendable, CaseIterable {
    /// Every topic's partitions spread evenly over its subscribers, each keeping what it had
    /// where balance allows (Kafka's default, `uniform`).
    case uniform
    /// Every topic's partitions in contiguous ranges over its subscribers, ordered by member id
    /// (Kafka's `range`).
    case range

    /// The target assignment: member id → partitions.
    ///
    /// - Parameters:
    ///   - subscriptions: member id → the topics it subscribes to (present in `partitionCounts`).
    ///   - partitionCounts: topic → its number of partitions.
    ///   - previous: the last target assignment, which ``uniform`` keeps as far as balance allows.
    public func assign(subscriptions: [String: Set<String>], partitionCounts: [String: Int32],
                       previous: [String: Set<TopicPartition>]) -> [String: Set<TopicPartition>] {
        if self == .uniform, let first = subscriptions.values.first, subscriptions.values.allSatisfy({ $0 == first }) {
            // Everyone subscribes to the same topics (the usual case): balance over all their
            // partitions at once, as Kafka's uniform assignor does, not topic by topic.
            let all = first.sorted().flatMap { topic in (0..<(partitionCounts[topic] ?? 0)).map { TopicPartition(topic: topic, partition: $0) } }
            return Self.balance(all, over: subscriptions.keys.sorted(), previous: previous)
        }
        var target = Dictionary(uniqueKeysWithValues: subscriptions.keys.map { ($0, Set<TopicPartition>()) })
        // Partitions each member holds across topics so far: ties on one topic go to the member
        // holding the fewest, so many one-partition topics do not all land on one member.
        var load = Dictionary(uniqueKeysWithValues: subscriptions.keys.map { ($0, 0) })
        for topic in partitionCounts.keys.sorted() {
            let subscribers = subscriptions.filter { $0.value.contains(topic) }.keys.sorted()
            let count = Int(partitionCounts[topic]!)
            guard !subscribers.isEmpty, count > 0 else { continue }
            let shares: [String: [Int32]]
            switch self {
            case .range: shares = Self.ranges(count: count, over: subscribers)
            case .uniform: shares = Self.uniform(topic: topic, count: count, over: subscribers, previous: previous, load: load)
            }
            for (member, partitions) in shares {
                target[member]!.formUnion(partitions.map { TopicPartition(topic: topic, partition: $0) })
                load[member]! += partitions.count
            }
        }
        assert(target.values.reduce(0) { $0 + $1.count } == Set(target.values.flatMap { $0 }).count, "a partition assigned twice")
        return target
    }

    /// Sticky balance: each member keeps what it had up to its share (the extra partitions of an
    /// uneven split go first to members already holding more than the quota); the rest go one by
    /// one to the member holding the fewest.
    private static func balance(_ partitions: [TopicPartition], over members: [String],
                                previous: [String: Set<TopicPartition>]) -> [String: Set<TopicPartition>] {
        guard !members.isEmpty else { return [:] }
        let existing = Set(partitions)
        let (quota, extra) = partitions.count.quotientAndRemainder(dividingBy: members.count)
        var kept = Dictionary(uniqueKeysWithValues: members.map { ($0, (previous[$0] ?? []).intersection(existing).sorted()) })
        let byClaim = members.sorted { a, b in
            let (ka, kb) = (kept[a]!.count > quota, kept[b]!.count > quota)
            return ka != kb ? ka : a < b
        }
        var capacity: [String: Int] = [:]
        for (index, member) in byClaim.enumerated() { capacity[member] = quota + (index < extra ? 1 : 0) }
        for member in members { kept[member] = Array(kept[member]!.prefix(capacity[member]!)) }
        let taken = Set(kept.values.flatMap { $0 })
        for partition in partitions where !taken.contains(partition) {
            let member = members.filter { kept[$0]!.count < capacity[$0]! }.min { (kept[$0]!.count, $0) < (kept[$1]!.count, $1) }!
            kept[member]!.append(partition)
        }
        return kept.mapValues { Set($0) }
    }

    private static func ranges(count: Int, over members: [String]) -> [String: [Int32]] {
        let (quota, extra) = count.quotientAndRemainder(dividingBy: members.count)
        var shares: [String: [Int32]] = [:]
        var next = 0
        for (index, member) in members.enumerated() {
            let size = quota + (index < extra ? 1 : 0)
            shares[member] = (next..<next + size).map { Int32($0) }
            next += size
        }
        return shares
    }

    private static func uniform(topic: String, count: Int, over members: [String], previous: [String: Set<TopicPartition>],
                                load: [String: Int]) -> [String: [Int32]] {
        let (quota, extra) = count.quotientAndRemainder(dividingBy: members.count)
        var kept = Dictionary(uniqueKeysWithValues: members.map { member in
            (member, (previous[member] ?? []).filter { $0.topic == topic && Int($0.partition) < count }.map(\.partition).sorted())
        })
        // The extra slots go first to members already holding more than the quota (they keep
        // it), then to the least loaded.
        let byClaim = members.sorted { a, b in
            let (ka, kb) = (kept[a]!.count > quota, kept[b]!.count > quota)
            if ka != kb { return ka }
            return (load[a]!, a) < (load[b]!, b)
        }
        var capacity: [String: Int] = [:]
        for (index, member) in byClaim.enumerated() { capacity[member] = quota + (index < extra ? 1 : 0) }
        for member in members { kept[member] = Array(kept[member]!.prefix(capacity[member]!)) }
        let taken = Set(kept.values.flatMap { $0 })
        var free = (0..<Int32(count)).filter { !taken.contains($0) }[...]
        for member in byClaim {
            while kept[member]!.count < capacity[member]!, let partition = free.popFirst() { kept[member]!.append(partition) }
        }
        assert(free.isEmpty, "partitions left unassigned")
        return kept
    }
}
