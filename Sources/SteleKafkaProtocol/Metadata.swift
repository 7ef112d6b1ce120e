/// Metadata (key 3), versions 0–12: flexible from v9, topic ids in answers from v10, topics
/// asked by id from v12 (KIP-516).
public struct MetadataRequest: Sendable, Equatable {
    /// The topics asked by name; `nil` means every topic.
    public var topics: [String]?
    /// The topics asked by id (v12+: an entry with a null name).
    public var topicIds: [[UInt8]] = []
    public var allowAutoTopicCreation = true

    public init(topics: [String]? = nil, allowAutoTopicCreation: Bool = true) {
        self.topics = topics
        self.allowAutoTopicCreation = allowAutoTopicCreation
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var request = Self()
        let entries = try decoder.nullableArray("topics") { decoder -> (id: [UInt8]?, name: String?) in
            let id = version >= 10 ? try decoder.uuid("topic id") : nil
            let name = version >= 10 ? try decoder.nullableString("topic name") : try decoder.string("topic name")
            try decoder.taggedFields()
            return (id, name)
        }
        if let entries {
            request.topics = entries.compactMap(\.name)
            // Before v12 a null name is not allowed; from v12 it means "by id".
            if version < 12, entries.contains(where: { $0.name == nil }) { throw KafkaProtocolError.invalid("a topic without a name before Metadata v12") }
            request.topicIds = entries.filter { $0.name == nil }.compactMap(\.id)
        }
        // In v0 an empty array means all topics; from v1 null does.
        if version == 0 && request.topics?.isEmpty == true { request.topics = nil }
        if version >= 4 { request.allowAutoTopicCreation = try decoder.bool("allow auto topic creation") }
        if (8...10).contains(version) { _ = try decoder.bool("include cluster authorized operations") }
        if version >= 8 { _ = try decoder.bool("include topic authorized operations") }
        try decoder.taggedFields()
        return request
    }
}

public struct MetadataResponse: Sendable, Equatable {
    public struct Broker: Sendable, Equatable {
        public var nodeId: Int32
        public var host: String
        public var port: Int32
        public init(nodeId: Int32, host: String, port: Int32) { (self.nodeId, self.host, self.port) = (nodeId, host, port) }
    }

    public struct Topic: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        /// nil only for a topic asked by an id no topic has (v12+).
        public var name: String?
        /// Kafka's topic id (v10+); all zeros when unknown.
        public var topicId: [UInt8]
        public var partitions: [Int32]
        public init(errorCode: KafkaErrorCode, name: String?, topicId: [UInt8] = Self.zeroTopicId, partitions: [Int32]) {
            (self.errorCode, self.name, self.topicId, self.partitions) = (errorCode, name, topicId, partitions)
        }

        public static let zeroTopicId = [UInt8](repeating: 0, count: 16)
    }

    public var brokers: [Broker]
    public var clusterId: String
    public var controllerId: Int32
    public var topics: [Topic]

    public init(brokers: [Broker], clusterId: String, controllerId: Int32, topics: [Topic]) {
        (self.brokers, self.clusterId, self.controllerId, self.topics) = (brokers, clusterId, controllerId, topics)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 3 { encoder.int32(0) }
        encoder.array(brokers) { encoder, broker in
            encoder.int32(broker.nodeId)
            encoder.string(broker.host)
            encoder.int32(broker.port)
            if version >= 1 { encoder.nullableString(nil) }
            encoder.taggedFields()
        }
        if version >= 2 { encoder.nullableString(clusterId) }
        if version >= 1 { encoder.int32(controllerId) }
        encoder.array(topics) { encoder, topic in
            encoder.int16(topic.errorCode.rawValue)
            encoder.nullableString(topic.name)
            if version >= 10 { encoder.uuid(topic.topicId) }
            if version >= 1 { encoder.bool(false) }
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int16(KafkaErrorCode.none.rawValue)
                encoder.int32(partition)
                encoder.int32(controllerId) // leader: the single node
                if version >= 7 { encoder.int32(0) } // leader epoch: constant, so KIP-320 never fires
                encoder.array([controllerId]) { $0.int32($1) } // replicas
                encoder.array([controllerId]) { $0.int32($1) } // in-sync replicas
                if version >= 5 { encoder.array([Int32]()) { $0.int32($1) } } // offline replicas
                encoder.taggedFields()
            }
            if version >= 8 { encoder.int32(Int32.min) } // authorized operations: not computed
            encoder.taggedFields()
        }
        if (8...10).contains(version) { encoder.int32(Int32.min) }
        encoder.taggedFields()
    }
}

/// DescribeTopicPartitions (75, v0, flexible; KIP-966): topics with their partitions, paged by a
/// cursor so a topic with thousands of partitions need not come in one answer.
public struct DescribeTopicPartitionsRequest: Sendable, Equatable {
    public struct Cursor: Sendable, Equatable {
        public var topic: String
        public var partition: Int32

        public init(topic: String, partition: Int32) { (self.topic, self.partition) = (topic, partition) }
    }

    /// Empty: every topic.
    public var topics: [String]
    public var partitionLimit: Int32
    public var cursor: Cursor?

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let topics = try decoder.array("topics") { decoder in
            let name = try decoder.string("topic name")
            try decoder.taggedFields()
            return name
        }
        let limit = try decoder.int32("response partition limit")
        var cursor: Cursor?
        // A nullable struct: -1 for null, 1 then its fields.
        if try decoder.int8("cursor presence") >= 0 {
            cursor = Cursor(topic: try decoder.string("cursor topic"), partition: try decoder.int32("cursor partition"))
            try decoder.taggedFields()
        }
        try decoder.taggedFields()
        return Self(topics: topics, partitionLimit: limit, cursor: cursor)
    }
}

public struct DescribeTopicPartitionsResponse: Sendable, Equatable {
    public struct Topic: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var name: String?
        public var topicId: [UInt8]
        public var partitions: [Int32]

        public init(errorCode: KafkaErrorCode, name: String?, topicId: [UInt8] = MetadataResponse.Topic.zeroTopicId, partitions: [Int32] = []) {
            (self.errorCode, self.name, self.topicId, self.partitions) = (errorCode, name, topicId, partitions)
        }
    }

    public var topics: [Topic]
    public var nextCursor: DescribeTopicPartitionsRequest.Cursor?
    /// The one node: leader, replica and in-sync replica of every partition.
    public var nodeId: Int32

    public init(topics: [Topic], nextCursor: DescribeTopicPartitionsRequest.Cursor?, nodeId: Int32) {
        (self.topics, self.nextCursor, self.nodeId) = (topics, nextCursor, nodeId)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(topics) { encoder, topic in
            encoder.int16(topic.errorCode.rawValue)
            encoder.nullableString(topic.name)
            encoder.uuid(topic.topicId)
            encoder.bool(false)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int16(KafkaErrorCode.none.rawValue)
                encoder.int32(partition)
                encoder.int32(nodeId)
                encoder.int32(0) // leader epoch: constant
                encoder.array([nodeId]) { $0.int32($1) }
                encoder.array([nodeId]) { $0.int32($1) }
                encoder.array([Int32]?.none) { $0.int32($1) } // eligible leader replicas: none (no ELR)
                encoder.array([Int32]?.none) { $0.int32($1) } // last known ELR
                encoder.array([Int32]()) { $0.int32($1) } // offline replicas
                encoder.taggedFields()
            }
            encoder.int32(Int32.min) // authorized operations: not computed
            encoder.taggedFields()
        }
        if let nextCursor {
            encoder.int8(1)
            encoder.string(nextCursor.topic)
            encoder.int32(nextCursor.partition)
            encoder.taggedFields()
        } else {
            encoder.int8(-1)
        }
        encoder.taggedFields()
    }
}
