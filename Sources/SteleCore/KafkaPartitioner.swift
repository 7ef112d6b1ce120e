/// Kafka's default partitioner for keyed records (Java `BuiltInPartitioner`,
/// `Utils.toPositive(Utils.murmur2(key)) % partitions`), so a stream lands in the partition
/// where Java clients, kafka-python and aiokafka would put it. librdkafka's default is
/// different (`consistent_random`, CRC32): its users set `partitioner=murmur2_random`.
public enum KafkaPartitioner {
    /// The partition of `key` among `partitions`.
    public static func partition(forKey key: [UInt8], partitions: Int) -> Int32 {
        precondition(partitions > 0, "a topic has at least one partition")
        return Int32((murmur2(key) & 0x7fff_ffff) % UInt32(partitions))
    }

    /// Kafka's 32-bit murmur2 (seed 0x9747b28c), as an unsigned value.
    public static func murmur2(_ data: [UInt8]) -> UInt32 {
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: data.count)
        let blocks = data.count / 4
        for block in 0..<blocks {
            let i = block * 4
            var k = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            k &*= m
            k ^= k >> r
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = blocks * 4
        switch data.count % 4 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(data[tail])
            h &*= m
        default: break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return h
    }
}
