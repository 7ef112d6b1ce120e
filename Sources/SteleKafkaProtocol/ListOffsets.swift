/// ListOffsets (key 2), versions 0–8 (flexible from v6; v7 names max-timestamp, v8
/// earliest-local, both answered at every version since librdkafka sends them regardless).
/// v0 (old clients' "offset request") asks for up to N offsets and gets a list; Stele answers
/// earliest and latest with one offset and refuses a time with UNSUPPORTED_VERSION (v0 answers
/// times with segment boundaries, which Stele does not report). Timestamp -2 asks for the
/// earliest offset, -1 for the latest, -3 for the record with the largest timestamp, -4 for the
/// earliest local one; any other negative timestamp is refused with UNSUPPORTED_VERSION, as
/// Kafka does (never answered as a time).
public struct ListOffsetsRequest: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var partition: Int32
        public var timestamp: Int64

        public init(partition: Int32, timestamp: Int64) {
            self.partition = partition
            self.timestamp = timestamp
        }
    }

    public var topics: [(name: String, partitions: [Partition])]
    /// v2+: 1 (read_committed) answers "latest" with the last stable offset.
    public var isolationLevel: Int8 = 0

    public init(topics: [(name: String, partitions: [Partition])], isolationLevel: Int8 = 0) {
        (self.topics, self.isolationLevel) = (topics, isolationLevel)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.isolationLevel == rhs.isolationLevel && lhs.topics.elementsEqual(rhs.topics) { $0.name == $1.name && $0.partitions == $1.partitions }
    }

    public static let earliest: Int64 = -2
    public static let latest: Int64 = -1
    /// The record with the largest timestamp (KIP-734); librdkafka sends it whatever the version.
    public static let maxTimestamp: Int64 = -3
    /// The earliest offset kept locally (KIP-405): the earliest, with no tiered storage.
    public static let earliestLocal: Int64 = -4

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        _ = try decoder.int32("replica id")
        let isolation = version >= 2 ? try decoder.int8("isolation level") : 0
        let topics = try decoder.array("topics") { decoder in
            let topic = (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                if version >= 4 { _ = try decoder.int32("current leader epoch") }
                let timestamp = try decoder.int64("timestamp")
                if version == 0 { _ = try decoder.int32("max number of offsets") }
                try decoder.taggedFields()
                return Partition(partition: partition, timestamp: timestamp)
            })
            try decoder.taggedFields()
            return topic
        }
        try decoder.taggedFields()
        return Self(topics: topics, isolationLevel: isolation)
    }
}

public struct ListOffsetsResponse: Sendable {
    public struct Partition: Sendable {
        public var partition: Int32
        public var errorCode: KafkaErrorCode
        public var timestamp: Int64
        public var offset: Int64

        public init(partition: Int32, errorCode: KafkaErrorCode, timestamp: Int64 = -1, offset: Int64 = -1) {
            (self.partition, self.errorCode, self.timestamp, self.offset) = (partition, errorCode, timestamp, offset)
        }
    }

    public var topics: [(name: String, partitions: [Partition])]

    public init(topics: [(name: String, partitions: [Partition])]) { self.topics = topics }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 2 { encoder.int32(0) }
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int16(partition.errorCode.rawValue)
                guard version >= 1 else {
                    // v0: a list of offsets; none with an error or when nothing was found.
                    encoder.array(partition.errorCode == .none && partition.offset >= 0 ? [partition.offset] : []) { $0.int64($1) }
                    return
                }
                encoder.int64(partition.timestamp)
                encoder.int64(partition.offset)
                if version >= 4 { encoder.int32(0) } // leader epoch
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}
