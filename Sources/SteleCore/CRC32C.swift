import CSteleCRC32C

/// CRC-32C (Castagnoli), the checksum guarding every record Stele writes.
///
/// Parameters: reflected polynomial `0x82F63B78` (normal form `0x1EDC6F41`),
/// initial register `0xFFFFFFFF`, final XOR `0xFFFFFFFF`. The check value of
/// the ASCII string `"123456789"` is `0xE3069283`. Castagnoli's polynomial
/// detects more error patterns at storage-record lengths than the zlib CRC-32
/// and has a dedicated x86 instruction.
///
/// ## Chaining
///
/// `continuing` takes a *finished* checksum (0 to start), so a record can be
/// checksummed piecewise without concatenating its parts:
///
/// ```swift
/// let whole = CRC32C.checksum(tail, continuing: CRC32C.checksum(head))
/// ```
///
/// ## Hardware dispatch
///
/// ``checksum(_:continuing:)-(UnsafeRawBufferPointer,UInt32)`` uses the SSE4.2
/// `crc32` instruction when the CPU has it (checked once, at first use) and
/// otherwise the portable ``softwareChecksum(_:continuing:)``. Both produce
/// identical results, so data written on one machine verifies on any other.
public enum CRC32C {
    /// Whether ``checksum(_:continuing:)-(UnsafeRawBufferPointer,UInt32)`` runs on
    /// the CPU's CRC32C instruction.
    public static let isHardwareAccelerated: Bool = stele_crc32c_hw_available() != 0

    /// The CRC-32C of `bytes`, continuing the finished checksum `crc`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        isHardwareAccelerated
            ? hardwareChecksum(bytes, continuing: crc)
            : softwareChecksum(bytes, continuing: crc)
    }

    /// The CRC-32C of `bytes`, continuing the finished checksum `crc`.
    public static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// The CRC-32C of `bytes`, continuing the finished checksum `crc`.
    public static func checksum(_ bytes: ArraySlice<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// CRC-32C using the SSE4.2 instruction.
    ///
    /// - Precondition: ``isHardwareAccelerated`` is `true`; on other CPUs the
    ///   instruction would trap with an illegal-instruction signal.
    public static func hardwareChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        precondition(isHardwareAccelerated, "CRC32C hardware path used on a CPU without SSE4.2")
        return stele_crc32c_hw(crc, bytes.baseAddress, bytes.count)
    }

    /// CRC-32C in portable Swift, for CPUs without the instruction.
    ///
    /// Slice-by-8: eight 256-entry tables let the loop fold eight input bytes
    /// per iteration with independent lookups instead of a byte-serial chain.
    public static func softwareChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        return sliceBy8Tables.withUnsafeBufferPointer { tables in
            let t = tables.baseAddress!
            var c = ~crc
            var p = base
            var remaining = bytes.count
            while remaining >= 8 {
                let lo = p.loadUnaligned(as: UInt32.self).littleEndian ^ c
                let hi = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
                // Table k answers "this byte followed by k zero bytes", so the
                // first byte (deepest in the word) uses the highest table.
                let a = t[7 &* 256 &+ Int(lo & 0xff)] ^ t[6 &* 256 &+ Int((lo >> 8) & 0xff)]
                let b = t[5 &* 256 &+ Int((lo >> 16) & 0xff)] ^ t[4 &* 256 &+ Int(lo >> 24)]
                let d = t[3 &* 256 &+ Int(hi & 0xff)] ^ t[2 &* 256 &+ Int((hi >> 8) & 0xff)]
                let e = t[256 &+ Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
                c = a ^ b ^ d ^ e
                p += 8
                remaining &-= 8
            }
            while remaining > 0 {
                c = (c >> 8) ^ t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xff)]
                p += 1
                remaining &-= 1
            }
            return ~c
        }
    }

    /// Eight 256-entry tables, flattened; table k at offset 256 * k.
    private static let sliceBy8Tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            tables[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = tables[(k - 1) * 256 + i]
                tables[k * 256 + i] = (previous >> 8) ^ tables[Int(previous & 0xff)]
            }
        }
        return tables
    }()
}
