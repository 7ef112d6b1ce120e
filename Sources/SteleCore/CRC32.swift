/// CRC-32 (IEEE 802.3, zlib's), the checksum of Kafka's message formats v0 and v1.
///
/// Reflected polynomial `0xEDB88320`, initial register and final XOR `0xFFFFFFFF`; the check
/// value of `"123456789"` is `0xCBF43926`. Stele stores only v2 batches (CRC-32C); this one
/// checks messages old clients produce and signs the messages sent back to them.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
}
