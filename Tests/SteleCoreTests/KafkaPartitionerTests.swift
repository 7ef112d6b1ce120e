import Testing
import SteleCore

struct KafkaPartitionerTests {
    /// Values from kafka-python's `kafka.partitioner.default.murmur2`, which matches Java's.
    @Test(arguments: [
        ("", UInt32(275_646_681), Int32(3)), ("a", 2_731_586_172, 4), ("acc-123", 2_262_043_825, 5),
        ("account-1", 1_835_529_620, 2), ("cart-42", 1_304_770_459, 1), ("21", 3_321_034_988, 0),
        ("foobar", 3_504_634_814, 0), ("a-very-long-stream-identifier-0123456789", 1_530_787_210, 4),
    ])
    func murmur2MatchesKafka(key: String, hash: UInt32, partitionOfSix: Int32) {
        #expect(KafkaPartitioner.murmur2(Array(key.utf8)) == hash)
        #expect(KafkaPartitioner.partition(forKey: Array(key.utf8), partitions: 6) == partitionOfSix)
    }
}
