import SteleCore

/// What every index file knows about its segment, so that opening a log reads one small header
/// per sealed segment instead of scanning it.
struct SegmentSummary: Sendable, Equatable {
    var baseOffset: Int64
    /// The offset after the segment's last batch (its base offset when empty).
    var nextOffset: Int64
    /// Size of the `.log` file the index was built from; a mismatch means the index is stale.
    var logBytes: Int64
    /// Largest record timestamp in the segment, -1 when empty.
    var maxTimestamp: Int64
}

/// The envelope of `.index`, `.timeindex` and `.keyindex` files.
///
/// Layout (little-endian), 52-byte header then the payload:
/// ```
/// 0  magic u32 "SIDX"   4 format u16 = 1   6 kind u16
/// 8  baseOffset i64     16 nextOffset i64  24 logBytes i64   32 maxTimestamp i64
/// 40 payloadBytes u32   44 payloadCRC u32  48 headerCRC u32 (CRC32C of bytes [0, 48))
/// ```
/// Index files are derived data: a file that fails any check is rebuilt from the log, never
/// trusted. The header has its own CRC so it can be checked without reading the payload.
enum IndexFile {
    static let headerSize = 52
    static let magic: UInt32 = 0x5844_4953 // "SIDX" read little-endian
    static let formatVersion: UInt16 = 1

    enum Kind: UInt16 {
        case offset = 1, time = 2, key = 3

        var fileKind: LogFileNames.Kind {
            switch self {
            case .offset: .index
            case .time: .timeindex
            case .key: .keyindex
            }
        }
    }

    static func encode(kind: Kind, summary: SegmentSummary, payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + payload.count)
        bytes.appendLE(magic)
        bytes.appendLE(formatVersion)
        bytes.appendLE(kind.rawValue)
        bytes.appendLE(summary.baseOffset)
        bytes.appendLE(summary.nextOffset)
        bytes.appendLE(summary.logBytes)
        bytes.appendLE(summary.maxTimestamp)
        bytes.appendLE(UInt32(payload.count))
        bytes.appendLE(CRC32C.checksum(payload))
        bytes.appendLE(CRC32C.checksum(bytes))
        assert(bytes.count == headerSize)
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// Checks the header alone. Returns the summary and the payload size it announces.
    static func decodeHeader(_ bytes: [UInt8], kind: Kind, baseOffset: Int64) -> (SegmentSummary, payloadBytes: Int, payloadCRC: UInt32)? {
        guard bytes.count >= headerSize else { return nil }
        return bytes.withUnsafeBytes { raw in
            guard raw.loadLE(0, as: UInt32.self) == magic,
                  raw.loadLE(4, as: UInt16.self) == formatVersion,
                  raw.loadLE(6, as: UInt16.self) == kind.rawValue,
                  raw.loadLE(48, as: UInt32.self) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<48])) else { return nil }
            let summary = SegmentSummary(baseOffset: raw.loadLE(8), nextOffset: raw.loadLE(16),
                                         logBytes: raw.loadLE(24), maxTimestamp: raw.loadLE(32))
            guard summary.baseOffset == baseOffset, summary.nextOffset >= baseOffset, summary.logBytes >= 0 else { return nil }
            return (summary, Int(raw.loadLE(40, as: UInt32.self)), raw.loadLE(44, as: UInt32.self))
        }
    }

    /// Checks the whole file and returns its payload, or `nil` if anything is off.
    static func decode(_ bytes: [UInt8], kind: Kind, baseOffset: Int64) -> (SegmentSummary, payload: [UInt8])? {
        guard let (summary, payloadBytes, payloadCRC) = decodeHeader(bytes, kind: kind, baseOffset: baseOffset),
              bytes.count == headerSize + payloadBytes else { return nil }
        let payload = Array(bytes[headerSize...])
        guard CRC32C.checksum(payload) == payloadCRC else { return nil }
        return (summary, payload)
    }
}
