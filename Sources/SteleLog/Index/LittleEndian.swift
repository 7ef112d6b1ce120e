/// Little-endian helpers for Stele's own index files. Index files are private to Stele (unlike
/// record batches, which keep Kafka's big-endian layout) and always little-endian, the order of
/// the x86-64 and arm64 machines Stele runs on, so loading an entry is a plain load.
extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadLE<T: FixedWidthInteger>(_ position: Int, as _: T.Type = T.self) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: position, as: T.self))
    }
}

/// FNV-1a, 64-bit: a stable hash for key index files (Swift's `Hasher` is seeded per process,
/// so it cannot be written to disk).
@inline(__always)
func stableKeyHash(_ key: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in key {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    // FNV's low bits mix poorly for short keys; a final avalanche (from MurmurHash3's fmix64)
    // spreads them so the Bloom filter's probes are independent.
    hash ^= hash >> 33
    hash = hash &* 0xff51_afd7_ed55_8ccd
    hash ^= hash >> 33
    return hash
}

func stableKeyHash(_ key: [UInt8]) -> UInt64 {
    key.withUnsafeBytes { stableKeyHash($0) }
}
