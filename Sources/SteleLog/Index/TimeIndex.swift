/// A sparse map from time to offset in a segment (Kafka `TimeIndex`).
///
/// Entries are `(maxTimestampSoFar i64, relativeOffset u32)`, 12 bytes on disk: after the batch
/// at `relativeOffset`, no record of the segment so far is newer than `maxTimestampSoFar`.
/// Timestamps set by producers need not ascend, but the running maximum does, so a binary search
/// finds a batch before which every record is older than the target.
struct TimeIndex: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var maxTimestampSoFar: Int64
        var relativeOffset: UInt32
    }

    private(set) var entries: [Entry] = []

    mutating func append(maxTimestampSoFar: Int64, relativeOffset: UInt32) {
        if let last = entries.last {
            guard maxTimestampSoFar > last.maxTimestampSoFar else { return }
            assert(relativeOffset > last.relativeOffset)
        }
        entries.append(Entry(maxTimestampSoFar: maxTimestampSoFar, relativeOffset: relativeOffset))
    }

    /// A relative offset from which a forward scan finds the first record at or after `timestamp`:
    /// the batch of the last entry still older than `timestamp` (every record up to it is older).
    func scanStart(for timestamp: Int64) -> UInt32 {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].maxTimestampSoFar < timestamp { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? 0 : entries[low - 1].relativeOffset
    }

    var payload: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * 12)
        for entry in entries {
            bytes.appendLE(entry.maxTimestampSoFar)
            bytes.appendLE(entry.relativeOffset)
        }
        return bytes
    }

    init() {}

    init?(payload: [UInt8]) {
        guard payload.count % 12 == 0 else { return nil }
        let valid = payload.withUnsafeBytes { raw -> Bool in
            for index in stride(from: 0, to: raw.count, by: 12) {
                let entry = Entry(maxTimestampSoFar: raw.loadLE(index), relativeOffset: raw.loadLE(index + 8))
                if let last = entries.last, last.maxTimestampSoFar >= entry.maxTimestampSoFar || last.relativeOffset >= entry.relativeOffset { return false }
                entries.append(entry)
            }
            return true
        }
        if !valid { return nil }
    }

    var memoryBytes: Int { entries.count * 12 }
}
