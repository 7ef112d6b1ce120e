/// A sparse map from offset to byte position in a segment (Kafka `OffsetIndex`).
///
/// Entries are `(relativeOffset u32, position u32)`, 8 bytes each on disk, ascending in both.
/// An entry is added for a batch once `indexIntervalBytes` have been written since the last one,
/// so a lookup lands at most that many bytes before the wanted batch.
struct OffsetIndex: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var relativeOffset: UInt32
        var position: UInt32
    }

    private(set) var entries: [Entry] = []

    mutating func append(relativeOffset: UInt32, position: UInt32) {
        assert(entries.last.map { $0.relativeOffset < relativeOffset && $0.position < position } ?? true,
               "offset index entries ascend")
        entries.append(Entry(relativeOffset: relativeOffset, position: position))
    }

    /// Position of the last indexed batch starting at or before `relativeOffset`; 0 if none.
    func position(atOrBefore relativeOffset: UInt32) -> UInt32 {
        entry(atOrBefore: relativeOffset)?.position ?? 0
    }

    /// The last entry at or before `relativeOffset`: the batch at its position starts at its
    /// relative offset, which a reader checks (base offsets lie outside the CRC).
    func entry(atOrBefore relativeOffset: UInt32) -> Entry? {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].relativeOffset <= relativeOffset { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : entries[low - 1]
    }

    var payload: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * 8)
        for entry in entries {
            bytes.appendLE(entry.relativeOffset)
            bytes.appendLE(entry.position)
        }
        return bytes
    }

    init() {}

    /// Decodes a payload; `nil` when entries do not ascend or point past `logBytes`.
    init?(payload: [UInt8], logBytes: Int64) {
        guard payload.count % 8 == 0 else { return nil }
        entries.reserveCapacity(payload.count / 8)
        let valid = payload.withUnsafeBytes { raw -> Bool in
            for index in stride(from: 0, to: raw.count, by: 8) {
                let entry = Entry(relativeOffset: raw.loadLE(index), position: raw.loadLE(index + 4))
                if let last = entries.last, last.relativeOffset >= entry.relativeOffset || last.position >= entry.position { return false }
                if Int64(entry.position) >= logBytes { return false }
                entries.append(entry)
            }
            return true
        }
        if !valid { return nil }
    }

    var memoryBytes: Int { entries.count * 8 }
}
