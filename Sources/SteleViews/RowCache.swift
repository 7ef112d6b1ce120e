import Synchronization

/// Rows read by key since the view's last commit. A read side answers thousands of key reads
/// per write; between two commits the answer cannot change, so it is kept, and every commit
/// (and a rebuild's swap) drops everything. A read that began before a commit never stores
/// its answer after it: stores are refused once the generation has moved.
final class RowCache: Sendable {
    struct Key: Hashable, Sendable {
        var table: String
        var key: SQLValue
    }

    private struct Contents {
        var generation: UInt64 = 0
        /// `nil` values are answers too: no such row.
        var rows: [Key: [String: SQLValue]?] = [:]
    }

    private let contents = Mutex(Contents())
    /// Past this many rows the cache starts over, bounding its memory.
    let capacity: Int

    init(capacity: Int = 100_000) { self.capacity = capacity }

    /// The cached answer, if any, and the generation to store a fresh answer under.
    func lookup(_ key: Key) -> (answer: [String: SQLValue]??, generation: UInt64) {
        contents.withLock { ($0.rows[key], $0.generation) }
    }

    func store(_ row: [String: SQLValue]?, for key: Key, readAt generation: UInt64) {
        contents.withLock { contents in
            guard contents.generation == generation else { return }
            if contents.rows.count >= capacity { contents.rows.removeAll(keepingCapacity: true) }
            contents.rows[key] = .some(row)
        }
    }

    /// After a commit: nothing read before it is served again.
    func invalidate() {
        contents.withLock { contents in
            contents.generation &+= 1
            contents.rows.removeAll(keepingCapacity: true)
        }
    }
}
