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
        /// About what `rows` holds, keys included: a client chooses the keys it asks for, and
        /// 100,000 misses for keys of 80 KiB each would be 8 GB.
        var bytes = 0
    }

    private let contents = Mutex(Contents())
    /// Past this many rows, or this many bytes, the cache starts over, bounding its memory.
    let capacity: Int
    let capacityBytes: Int

    init(capacity: Int = 100_000, capacityBytes: Int = 64 << 20) { (self.capacity, self.capacityBytes) = (capacity, capacityBytes) }

    /// The cached answer, if any, and the generation to store a fresh answer under.
    func lookup(_ key: Key) -> (answer: [String: SQLValue]??, generation: UInt64) {
        contents.withLock { ($0.rows[key], $0.generation) }
    }

    func store(_ row: [String: SQLValue]?, for key: Key, readAt generation: UInt64) {
        contents.withLock { contents in
            guard contents.generation == generation else { return }
            let size = Self.size(key.key) + key.table.utf8.count + (row?.reduce(0) { $0 + $1.key.utf8.count + Self.size($1.value) } ?? 0) + 64
            // An answer larger than the whole budget is served, not kept.
            guard size <= capacityBytes else { return }
            if contents.rows.count >= capacity || contents.bytes + size > capacityBytes {
                contents.rows.removeAll(keepingCapacity: true)
                contents.bytes = 0
            }
            let isNew = contents.rows.index(forKey: key) == nil
            contents.rows[key] = .some(row)
            if isNew { contents.bytes += size }
        }
    }

    /// After a commit: nothing read before it is served again.
    func invalidate() {
        contents.withLock { contents in
            contents.generation &+= 1
            contents.rows.removeAll(keepingCapacity: true)
            contents.bytes = 0
        }
    }

    static func size(_ value: SQLValue) -> Int {
        switch value {
        case let .text(text): text.utf8.count + 16
        case let .blob(bytes): bytes.count + 16
        case .null, .integer, .real: 9
        }
    }
}
