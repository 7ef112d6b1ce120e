/// The replica and leadership admin APIs, answered as a single-node cluster answers them:
/// ElectLeaders (43, v0–2, flexible from v2), ListPartitionReassignments (46, v0, flexible),
/// AlterPartitionReassignments (45, v0, flexible), AlterReplicaLogDirs (34, v0–2, flexible from
/// v2) and DescribeProducers (61, v0, flexible).

/// Topics with partition lists, the request shape these APIs share.
public struct TopicPartitionList: Sendable, Equatable {
    public var name: String
    public var partitions: [Int32]

    public init(name: String, partitions: [Int32]) { (self.name, self.partitions) = (name, partitions) }

    static func decode(_ decoder: inout KafkaDecoder) throws -> Self {
        let name = try decoder.string("topic name")
        let partitions = try decoder.array("partitions") { try $0.int32("partition") }
        try decoder.taggedFields()
        return Self(name: name, partitions: partitions)
    }
}

/// Per partition: an error code and message, the result shape these APIs share.
public struct PartitionResult: Sendable, Equatable {
    public var partition: Int32
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?

    public init(partition: Int32, errorCode: KafkaErrorCode, errorMessage: String? = nil) {
        (self.partition, self.errorCode, self.errorMessage) = (partition, errorCode, errorMessage)
    }
}

public struct ElectLeadersRequest: Sendable, Equatable {
    /// 0 preferred, 1 unclean (v1+; v0 is preferred).
    public var electionType: Int8
    /// nil: every partition.
    public var topics: [TopicPartitionList]?

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let type = version >= 1 ? try decoder.int8("election type") : 0
        let topics = try decoder.nullableArray("topic partitions") { try TopicPartitionList.decode(&$0) }
        _ = try decoder.int32("timeout")
        try decoder.taggedFields()
        return Self(electionType: type, topics: topics)
    }
}

public struct ElectLeadersResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var topics: [(name: String, partitions: [PartitionResult])]

    public init(errorCode: KafkaErrorCode = .none, topics: [(name: String, partitions: [PartitionResult])]) { (self.errorCode, self.topics) = (errorCode, topics) }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.errorCode == rhs.errorCode && lhs.topics.map(\.name) == rhs.topics.map(\.name) && lhs.topics.map(\.partitions) == rhs.topics.map(\.partitions)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        if version >= 1 { encoder.int16(errorCode.rawValue) }
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, result in
                encoder.int32(result.partition)
                encoder.int16(result.errorCode.rawValue)
                encoder.nullableString(result.errorMessage)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct ListPartitionReassignmentsRequest: Sendable, Equatable {
    public var topics: [TopicPartitionList]?

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        _ = try decoder.int32("timeout")
        let topics = try decoder.nullableArray("topics") { try TopicPartitionList.decode(&$0) }
        try decoder.taggedFields()
        return Self(topics: topics)
    }
}

/// A single node never has a reassignment in progress: the answer lists none, or an error.
public struct ListPartitionReassignmentsResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?

    public init(errorCode: KafkaErrorCode = .none, errorMessage: String? = nil) { (self.errorCode, self.errorMessage) = (errorCode, errorMessage) }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.nullableString(errorMessage)
        encoder.array([Int]()) { _, _ in }
        encoder.taggedFields()
    }
}

public struct AlterPartitionReassignmentsRequest: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var partition: Int32
        /// nil cancels a reassignment in progress.
        public var replicas: [Int32]?
    }

    public var topics: [(name: String, partitions: [Partition])]

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.topics.map(\.name) == rhs.topics.map(\.name) && lhs.topics.map(\.partitions) == rhs.topics.map(\.partitions) }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        _ = try decoder.int32("timeout")
        let topics = try decoder.array("topics") { decoder in
            let name = try decoder.string("topic name")
            let partitions = try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                let replicas = try decoder.nullableArray("replicas") { try $0.int32("replica") }
                try decoder.taggedFields()
                return Partition(partition: partition, replicas: replicas)
            }
            try decoder.taggedFields()
            return (name: name, partitions: partitions)
        }
        try decoder.taggedFields()
        return Self(topics: topics)
    }
}

public struct AlterPartitionReassignmentsResponse: Sendable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    public var topics: [(name: String, partitions: [PartitionResult])]

    public init(errorCode: KafkaErrorCode = .none, errorMessage: String? = nil, topics: [(name: String, partitions: [PartitionResult])]) {
        (self.errorCode, self.errorMessage, self.topics) = (errorCode, errorMessage, topics)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.nullableString(errorMessage)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, result in
                encoder.int32(result.partition)
                encoder.int16(result.errorCode.rawValue)
                encoder.nullableString(result.errorMessage)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct AlterReplicaLogDirsRequest: Sendable, Equatable {
    public var directories: [(path: String, topics: [TopicPartitionList])]

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.directories.map(\.path) == rhs.directories.map(\.path) && lhs.directories.map(\.topics) == rhs.directories.map(\.topics) }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let directories = try decoder.array("directories") { decoder in
            let path = try decoder.string("path")
            let topics = try decoder.array("topics") { try TopicPartitionList.decode(&$0) }
            try decoder.taggedFields()
            return (path: path, topics: topics)
        }
        try decoder.taggedFields()
        return Self(directories: directories)
    }
}

public struct AlterReplicaLogDirsResponse: Sendable {
    public var topics: [(name: String, partitions: [PartitionResult])]

    public init(topics: [(name: String, partitions: [PartitionResult])]) { self.topics = topics }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, result in
                encoder.int32(result.partition)
                encoder.int16(result.errorCode.rawValue)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct DescribeProducersRequest: Sendable, Equatable {
    public var topics: [TopicPartitionList]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let topics = try decoder.array("topics") { try TopicPartitionList.decode(&$0) }
        try decoder.taggedFields()
        return Self(topics: topics)
    }
}

public struct DescribeProducersResponse: Sendable {
    public struct Producer: Sendable, Equatable {
        public var producerId: Int64
        public var epoch: Int32
        public var lastSequence: Int32
        public var lastTimestamp: Int64
        /// The first offset of its transaction open in the partition; -1 when none.
        public var currentTransactionStartOffset: Int64

        public init(producerId: Int64, epoch: Int32, lastSequence: Int32, lastTimestamp: Int64, currentTransactionStartOffset: Int64 = -1) {
            (self.producerId, self.epoch, self.lastSequence, self.lastTimestamp) = (producerId, epoch, lastSequence, lastTimestamp)
            self.currentTransactionStartOffset = currentTransactionStartOffset
        }
    }

    public struct Partition: Sendable, Equatable {
        public var result: PartitionResult
        public var producers: [Producer]

        public init(_ result: PartitionResult, producers: [Producer] = []) { (self.result, self.producers) = (result, producers) }
    }

    public var topics: [(name: String, partitions: [Partition])]

    public init(topics: [(name: String, partitions: [Partition])]) { self.topics = topics }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.result.partition)
                encoder.int16(partition.result.errorCode.rawValue)
                encoder.nullableString(partition.result.errorMessage)
                encoder.array(partition.producers) { encoder, producer in
                    encoder.int64(producer.producerId)
                    encoder.int32(producer.epoch)
                    encoder.int32(producer.lastSequence)
                    encoder.int64(producer.lastTimestamp)
                    encoder.int32(0) // coordinator epoch: one coordinator, never moved
                    encoder.int64(producer.currentTransactionStartOffset)
                    encoder.taggedFields()
                }
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}
