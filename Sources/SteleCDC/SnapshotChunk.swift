/// Rows of one table read in one snapshot, waiting for their place in the change stream.
///
/// The rows are appended where the stream has passed every transaction the snapshot saw (its
/// `high` LSN: they all committed before it) — after the changes already in them. A row a
/// transaction the snapshot did *not* see has changed meanwhile is left out: that change was
/// read from the slot before the chunk's place, and the row's older image must not come after it.
/// This is the watermark idea of Netflix's DBLog, with the snapshot's own extent (`xmin`,
/// `xmax`, the transactions running) instead of marker writes, so a capture writes nothing to
/// the source database.
public struct SnapshotChunk: Sendable {
    public var table: String
    public var rows: [(stream: String, values: [PgColumnValue], key: [String])]
    /// The key (text) of the last row read: where the next chunk starts.
    public var lastKey: [String]?
    /// Fewer rows than asked: the table ends here.
    public var isLast: Bool
    public var high: LSN
    let xmax: UInt32
    let running: Set<UInt32>
    /// Rows changed by transactions the snapshot did not see.
    public private(set) var changed: Set<String> = []

    public init(table: String, rows: [(stream: String, values: [PgColumnValue], key: [String])], lastKey: [String]?, isLast: Bool,
                high: LSN, xmax: UInt64, running: Set<UInt64>) {
        self.table = table
        self.rows = rows
        self.lastKey = lastKey
        self.isLast = isLast
        self.high = high
        self.xmax = UInt32(truncatingIfNeeded: xmax)
        self.running = Set(running.map { UInt32(truncatingIfNeeded: $0) })
    }

    /// Whether the snapshot saw transaction `xid` (a 32-bit xid, compared modulo 2³² as
    /// PostgreSQL does).
    public func saw(_ xid: UInt32) -> Bool {
        Int32(bitPattern: xid &- xmax) < 0 && !running.contains(xid)
    }

    /// A change to row `stream` by transaction `xid`, read from the slot before the chunk's place.
    public mutating func note(_ stream: String, by xid: UInt32) {
        if !saw(xid) { changed.insert(stream) }
    }

    /// The rows to append at the chunk's place.
    public var rowsToAppend: [(stream: String, values: [PgColumnValue], key: [String])] {
        rows.filter { !changed.contains($0.stream) }
    }
}
