import Synchronization

/// Bounds the memory of loaded sealed-segment indexes: when loaded indexes exceed the budget,
/// the least recently used segments drop theirs (they are reloaded from their files on demand).
final class IndexCache: Sendable {
    let budgetBytes: Int
    private let state = Mutex(CacheState())
    private let clock = Atomic<Int>(0)

    private struct CacheState: ~Copyable {
        var loaded: [ObjectIdentifier: (segment: LogSegment, bytes: Int)] = [:]
        var totalBytes = 0
    }

    init(budgetBytes: Int) {
        self.budgetBytes = budgetBytes
    }

    func touch(_ segment: LogSegment) {
        segment.lastUse.store(clock.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
    }

    /// Accounts for indexes just loaded into `segment`, evicting others if over budget.
    func didLoad(_ segment: LogSegment, bytes: Int) {
        touch(segment)
        let evicted = state.withLock { state -> [LogSegment] in
            if let previous = state.loaded[ObjectIdentifier(segment)] { state.totalBytes -= previous.bytes }
            state.loaded[ObjectIdentifier(segment)] = (segment, bytes)
            state.totalBytes += bytes
            var evicted: [LogSegment] = []
            if state.totalBytes > budgetBytes {
                // Eviction is rare next to lookups, so a sort here beats an LRU list on every touch.
                let byAge = state.loaded.values.sorted { $0.segment.lastUse.load(ordering: .relaxed) < $1.segment.lastUse.load(ordering: .relaxed) }
                for (candidate, size) in byAge where state.totalBytes > budgetBytes && candidate !== segment {
                    state.loaded[ObjectIdentifier(candidate)] = nil
                    state.totalBytes -= size
                    evicted.append(candidate)
                }
            }
            return evicted
        }
        for segment in evicted { segment.sealed.withLock { $0 = nil } }
    }

    /// Forgets a segment that left the log (retention, compaction).
    func forget(_ segment: LogSegment) {
        state.withLock { state in
            if let previous = state.loaded.removeValue(forKey: ObjectIdentifier(segment)) { state.totalBytes -= previous.bytes }
        }
    }

    var loadedBytes: Int { state.withLock { $0.totalBytes } }
}
