/// The classic consumer's subscription and assignment bytes (AK `ConsumerProtocolSubscription`
/// and `ConsumerProtocolAssignment`, version 0), which DescribeGroups carries. Groups on the
/// consumer protocol have no such bytes of their own; the coordinator writes them so tools that
/// read DescribeGroups show those members' topics and partitions too.
enum ConsumerProtocolEncoding {
    static func subscription(_ topics: [String]) -> [UInt8] {
        var bytes = int16(0)
        bytes += int32(Int32(topics.count))
        for topic in topics { bytes += string(topic) }
        bytes += int32(-1) // user data: null
        return bytes
    }

    static func assignment(_ partitions: Set<TopicPartition>) -> [UInt8] {
        let byTopic = Dictionary(grouping: partitions, by: \.topic)
        var bytes = int16(0)
        bytes += int32(Int32(byTopic.count))
        for topic in byTopic.keys.sorted() {
            bytes += string(topic)
            let numbers = byTopic[topic]!.map(\.partition).sorted()
            bytes += int32(Int32(numbers.count))
            for number in numbers { bytes += int32(number) }
        }
        bytes += int32(-1) // user data: null
        return bytes
    }

    private static func int16(_ value: Int16) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    private static func int32(_ value: Int32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    private static func string(_ value: String) -> [UInt8] {
        let utf8 = Array(value.utf8.prefix(Int(Int16.max)))
        return int16(Int16(utf8.count)) + utf8
    }
}
