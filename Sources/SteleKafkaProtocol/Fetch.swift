import NIOCore

/// Fetch (key 1), versions 0–11. Fetch sessions (KIP-227) are answered as sessionless
/// (session id 0), which every client accepts. v0–3 carry message sets (formats v0 and v1),
/// converted by the server; v1 adds the throttle time, v4 the last stable offset.
public struct FetchRequest: Sendable {
    public struct Partition: Sendable {
        public var partition: Int32
        public var fetchOffset: Int64
        public var maxBytes: Int32
    }

    public struct Topic: Sendable {
        public var name: String
        public var partitions: [Partition]
    }

    public var maxWaitMs: Int32
    public var minBytes: Int32
    public var maxBytes: Int32
    public var isolationLevel: Int8
    public var topics: [Topic]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        _ = try decoder.int32("replica id")
        let maxWait = try decoder.int32("max wait")
        let minBytes = try decoder.int32("min bytes")
        let maxBytes = version >= 3 ? try decoder.int32("max bytes") : Int32.max
        let isolation = version >= 4 ? try decoder.int8("isolation level") : 0
        if version >= 7 {
            _ = try decoder.int32("session id")
            _ = try decoder.int32("session epoch")
        }
        let topics = try decoder.array("topics") { decoder in
            Topic(name: try decoder.string("topic"), partitions: try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                if version >= 9 { _ = try decoder.int32("current leader epoch") }
                let offset = try decoder.int64("fetch offset")
                if version >= 5 { _ = try decoder.int64("log start offset") }
                return Partition(partition: partition, fetchOffset: offset, maxBytes: try decoder.int32("partition max bytes"))
            })
        }
        if version >= 7 {
            _ = try decoder.array("forgotten topics") { decoder in
                _ = try decoder.string("topic")
                _ = try decoder.array("partitions") { try $0.int32("partition") }
            }
        }
        if version >= 11 { _ = try decoder.string("rack id") }
        return Self(maxWaitMs: maxWait, minBytes: minBytes, maxBytes: maxBytes, isolationLevel: isolation, topics: topics)
    }
}

public struct FetchResponse: Sendable {
    public struct Partition: Sendable {
        public var partition: Int32
        public var errorCode: KafkaErrorCode
        public var highWatermark: Int64
        public var logStartOffset: Int64
        public var records: [UInt8]?

        public init(partition: Int32, errorCode: KafkaErrorCode, highWatermark: Int64 = -1, logStartOffset: Int64 = -1, records: [UInt8]? = nil) {
            (self.partition, self.errorCode, self.highWatermark, self.logStartOffset, self.records) =
                (partition, errorCode, highWatermark, logStartOffset, records)
        }
    }

    public var topics: [(name: String, partitions: [Partition])]
    /// How long the client must wait before its next request: past its quota (v1+).
    public var throttleTimeMs: Int32 = 0

    public init(topics: [(name: String, partitions: [Partition])]) { self.topics = topics }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(throttleTimeMs) }
        if version >= 7 {
            encoder.int16(KafkaErrorCode.none.rawValue)
            encoder.int32(0) // session id: sessionless
        }
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int16(partition.errorCode.rawValue)
                encoder.int64(partition.highWatermark)
                if version >= 4 {
                    encoder.int64(partition.highWatermark) // last stable offset: no transactions
                    if version >= 5 { encoder.int64(partition.logStartOffset) }
                    encoder.array([(Int64, Int64)]()) { _, _ in } // aborted transactions: none
                }
                if version >= 11 { encoder.int32(-1) } // preferred read replica: none
                encoder.nullableBytes(partition.records ?? [])
            }
        }
    }
}
