/// Cached stream versions (records per key) for optimistic-concurrency checks.
///
/// Bounded: when full it is emptied, and misses are recomputed from the key indexes
/// (O(segments) Bloom tests plus the segments that hold the key). The log keeps cached
/// counts exact by incrementing them on every append, under its state lock.
struct VersionCache: ~Copyable {
    private var counts: [[UInt8]: Int64] = [:]
    let capacity: Int
    /// Bumped whenever counts may change other than by appends (retention, compaction);
    /// a count computed before a bump must not be cached after it.
    private(set) var epoch = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func count(for key: [UInt8]) -> Int64? { counts[key] }

    mutating func insert(_ count: Int64, for key: [UInt8]) {
        if counts.count >= capacity { counts.removeAll(keepingCapacity: true) }
        counts[key] = count
    }

    mutating func recordAppend(of key: [UInt8]) {
        if let count = counts[key] { counts[key] = count + 1 }
    }

    mutating func invalidate() {
        counts.removeAll(keepingCapacity: true)
        epoch += 1
    }
}
