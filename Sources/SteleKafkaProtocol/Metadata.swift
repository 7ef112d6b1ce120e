/// Metadata (key 3), versions 0–8 (classic encodings).
public struct MetadataRequest: Sendable, Equatable {
    /// `nil` means every topic.
    public var topics: [String]?
    public var allowAutoTopicCreation = true

    public init(topics: [String]? = nil, allowAutoTopicCreation: Bool = true) {
        self.topics = topics
        self.allowAutoTopicCreation = allowAutoTopicCreation
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var request = Self()
        request.topics = try decoder.nullableArray("topics") { try $0.string("topic name") }
        // In v0 an empty array means all topics; from v1 null does.
        if version == 0 && request.topics?.isEmpty == true { request.topics = nil }
        if version >= 4 { request.allowAutoTopicCreation = try decoder.bool("allow auto topic creation") }
        if version >= 8 {
            _ = try decoder.bool("include cluster authorized operations")
            _ = try decoder.bool("include topic authorized operations")
        }
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
        public var name: String
        public var partitions: [Int32]
        public init(errorCode: KafkaErrorCode, name: String, partitions: [Int32]) {
            (self.errorCode, self.name, self.partitions) = (errorCode, name, partitions)
        }
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
        }
        if version >= 2 { encoder.nullableString(clusterId) }
        if version >= 1 { encoder.int32(controllerId) }
        encoder.array(topics) { encoder, topic in
            encoder.int16(topic.errorCode.rawValue)
            encoder.string(topic.name)
            if version >= 1 { encoder.bool(false) }
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int16(KafkaErrorCode.none.rawValue)
                encoder.int32(partition)
                encoder.int32(controllerId) // leader: the single node
                if version >= 7 { encoder.int32(0) } // leader epoch: constant, so KIP-320 never fires
                encoder.array([controllerId]) { $0.int32($1) } // replicas
                encoder.array([controllerId]) { $0.int32($1) } // in-sync replicas
                if version >= 5 { encoder.array([Int32]()) { $0.int32($1) } } // offline replicas
            }
            if version >= 8 { encoder.int32(Int32.min) } // authorized operations: not computed
        }
        if version >= 8 { encoder.int32(Int32.min) }
    }
}
