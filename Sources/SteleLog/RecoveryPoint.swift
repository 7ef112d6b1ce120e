import SteleCore

/// How much of a partition's active segment is known synced and acknowledged: the bytes recovery
/// may never cut. Kept in `recovery-point` in the partition directory (after Kafka's
/// recovery-point checkpoint), rewritten after a sync at most every
/// ``LogConfig/recoveryPointInterval`` and at close.
///
/// Recovery cuts a torn tail only beyond it. Damage below it is corruption of acknowledged data:
/// the partition does not open (it goes offline, named with file and byte range) rather than
/// losing what it acknowledged and handing the offsets out again.
///
/// A point that lags is conservative (it protects less, never more than was synced). Layout,
/// 32 bytes, big-endian: `SRP1`, segment base (8), synced bytes of that segment (8), the log end
/// offset then (8), CRC32C of the 28 bytes before it (4).
struct RecoveryPoint: Equatable, Sendable {
    static let fileName = "recovery-point"
    static let magic: [UInt8] = Array("SRP1".utf8)
    static let size = 32

    var segmentBase: Int64
    var bytes: Int64
    var nextOffset: Int64

    func encoded() -> [UInt8] {
        var encoded = Self.magic
        for value in [segmentBase, bytes, nextOffset] { encoded += withUnsafeBytes(of: value.bigEndian, Array.init) }
        return encoded + withUnsafeBytes(of: CRC32C.checksum(encoded).bigEndian, Array.init)
    }

    /// Nil when the file is damaged (wrong size, magic or checksum, or values that cannot be).
    static func decode(_ bytes: [UInt8]) -> RecoveryPoint? {
        guard bytes.count == size, Array(bytes[0..<4]) == magic else { return nil }
        func integer(at offset: Int) -> UInt64 { bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        let crc = UInt32(truncatingIfNeeded: bytes[28..<32].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        guard crc == CRC32C.checksum(Array(bytes[0..<28])) else { return nil }
        let (base, length, next) = (Int64(bitPattern: integer(at: 4)), Int64(bitPattern: integer(at: 12)), Int64(bitPattern: integer(at: 20)))
        guard base >= 0, length >= 0, next >= base else { return nil }
        return RecoveryPoint(segmentBase: base, bytes: length, nextOffset: next)
    }

    /// Orders points by how much they protect: a later segment, or more of the same one.
    func isAhead(of other: RecoveryPoint) -> Bool {
        (segmentBase, bytes) > (other.segmentBase, other.bytes)
    }
}
