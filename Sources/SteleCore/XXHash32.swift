/// xxHash32, the checksum of an LZ4 frame's descriptor. Needed for one repair: Kafka clients
/// before 0.10 computed an lz4 frame's header checksum over the frame's magic number too
/// (KAFKA-3160), and Kafka reads such frames in message format v0 by ignoring that byte.
/// Check values: `""` → `0x02CC5D05`, `"abc"` → `0x32D153FF` (seed 0).
public enum XXHash32 {
    private static let (p1, p2, p3, p4, p5): (UInt32, UInt32, UInt32, UInt32, UInt32) =
        (2_654_435_761, 2_246_822_519, 3_266_489_917, 668_265_263, 374_761_393)

    private static func rotl(_ value: UInt32, _ count: UInt32) -> UInt32 { (value << count) | (value >> (32 - count)) }

    private static func word(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var position = 0
        var hash: UInt32
        if bytes.count >= 16 {
            var lanes = (seed &+ p1 &+ p2, seed &+ p2, seed, seed &- p1)
            func round(_ lane: UInt32, _ input: UInt32) -> UInt32 { rotl(lane &+ input &* p2, 13) &* p1 }
            while position + 16 <= bytes.count {
                lanes.0 = round(lanes.0, word(bytes, position))
                lanes.1 = round(lanes.1, word(bytes, position + 4))
                lanes.2 = round(lanes.2, word(bytes, position + 8))
                lanes.3 = round(lanes.3, word(bytes, position + 12))
                position += 16
            }
            hash = rotl(lanes.0, 1) &+ rotl(lanes.1, 7) &+ rotl(lanes.2, 12) &+ rotl(lanes.3, 18)
        } else {
            hash = seed &+ p5
        }
        hash &+= UInt32(truncatingIfNeeded: bytes.count)
        while position + 4 <= bytes.count {
            hash = rotl(hash &+ word(bytes, position) &* p3, 17) &* p4
            position += 4
        }
        while position < bytes.count {
            hash = rotl(hash &+ UInt32(bytes[position]) &* p5, 11) &* p1
            position += 1
        }
        hash ^= hash >> 15
        hash &*= p2
        hash ^= hash >> 13
        hash &*= p3
        hash ^= hash >> 16
        return hash
    }

    public static func hash(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 { bytes.withUnsafeBytes { hash($0, seed: seed) } }
}
