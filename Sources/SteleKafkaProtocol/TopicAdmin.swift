/// CreateTopics (key 19), versions 0–7: v1 adds validate-only and the error message, v2 the
/// throttle time. From v4, -1 partitions or replication means "broker default"; v5 is flexible
/// and answers with the topic's partitions, replication and configs (KIP-525); v7 with its id.
public struct CreateTopicsRequest: Sendable, Equatable {
    public struct Topic: Sendable, Equatable {
        public var name: String
        public var partitions: Int32
        public var replicationFactor: Int16
        public var configs: [String: String?]

        public init(name: String, partitions: Int32, replicationFactor: Int16 = -1, configs: [String: String?] = [:]) {
            self.name = name
            self.partitions = partitions
            self.replicationFactor = replicationFactor
            self.configs = configs
        }
    }

    public var topics: [Topic]
    public var validateOnly: Bool

    public init(topics: [Topic], validateOnly: Bool = false) {
        self.topics = topics
        self.validateOnly = validateOnly
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let topics = try decoder.array("topics") { decoder in
            let name = try decoder.string("topic name")
            let partitions = try decoder.int32("partitions")
            let replication = try decoder.int16("replication factor")
            _ = try decoder.array("assignments") { decoder in
                _ = try decoder.int32("partition")
                _ = try decoder.array("broker ids") { try $0.int32("broker id") }
                try decoder.taggedFields()
            }
            var configs: [String: String?] = [:]
            for (key, value) in try decoder.array("configs", { decoder in
                let config = (try decoder.string("config name"), try decoder.nullableString("config value"))
                try decoder.taggedFields()
                return config
            }) {
                configs[key] = value
            }
            try decoder.taggedFields()
            return Topic(name: name, partitions: partitions, replicationFactor: replication, configs: configs)
        }
        _ = try decoder.int32("timeout")
        let request = Self(topics: topics, validateOnly: version >= 1 ? try decoder.bool("validate only") : false)
        try decoder.taggedFields()
        return request
    }
}

public struct CreateTopicsResponse: Sendable {
    public struct Result: Sendable {
        public var name: String
        /// v7+: 16 bytes (zeros with an error or validate-only).
        public var topicId: [UInt8]
        public var errorCode: KafkaErrorCode
        public var message: String?
        /// v5+: what was (or would be) created; -1 and no configs with an error.
        public var partitions: Int32
        public var replicationFactor: Int16
        public var configs: [DescribeConfigsResponse.Config]?
        /// v5+ (tagged field 0): why configs are left out (TOPIC_AUTHORIZATION_FAILED without
        /// DESCRIBE_CONFIGS on the topic); written only when set.
        public var configErrorCode: KafkaErrorCode = .none

        public init(name: String, topicId: [UInt8] = MetadataResponse.Topic.zeroTopicId, errorCode: KafkaErrorCode, message: String? = nil,
                    partitions: Int32 = -1, replicationFactor: Int16 = -1, configs: [DescribeConfigsResponse.Config]? = nil) {
            (self.name, self.topicId, self.errorCode, self.message) = (name, topicId, errorCode, message)
            (self.partitions, self.replicationFactor, self.configs) = (partitions, replicationFactor, configs)
        }
    }

    public var results: [Result]
    public var topics: [(name: String, errorCode: KafkaErrorCode, message: String?)] { results.map { ($0.name, $0.errorCode, $0.message) } }

    public init(results: [Result]) { self.results = results }
    public init(topics: [(name: String, errorCode: KafkaErrorCode, message: String?)]) {
        self.results = topics.map { Result(name: $0.name, errorCode: $0.errorCode, message: $0.message) }
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 2 { encoder.int32(0) }
        encoder.array(results) { encoder, topic in
            encoder.string(topic.name)
            if version >= 7 { encoder.uuid(topic.topicId) }
            encoder.int16(topic.errorCode.rawValue)
            if version >= 1 { encoder.nullableString(topic.message) }
            if version >= 5 {
                encoder.int32(topic.partitions)
                encoder.int16(topic.replicationFactor)
                encoder.array(topic.configs) { encoder, config in
                    encoder.string(config.name)
                    encoder.nullableString(config.value)
                    encoder.bool(config.readOnly)
                    encoder.int8(config.source)
                    encoder.bool(config.isSensitive)
                    encoder.taggedFields()
                }
            }
            if encoder.flexible && topic.configErrorCode != .none {
                // One tagged field: tag 0, two bytes, the error code.
                encoder.unsignedVarint(1)
                encoder.unsignedVarint(0)
                encoder.unsignedVarint(2)
                encoder.int16(topic.configErrorCode.rawValue)
            } else {
                encoder.taggedFields()
            }
        }
        encoder.taggedFields()
    }
}

/// DeleteTopics (key 20), versions 0–6: v1 adds the throttle time, v4 is flexible, v5 answers
/// with an error message, v6 (KIP-516) names each topic by name or by id.
public struct DeleteTopicsRequest: Sendable, Equatable {
    public struct Topic: Sendable, Equatable {
        public var name: String?
        /// 16 bytes; all zeros when the topic is named.
        public var topicId: [UInt8]
        public init(name: String?, topicId: [UInt8] = MetadataResponse.Topic.zeroTopicId) { (self.name, self.topicId) = (name, topicId) }
    }

    public var topics: [Topic]
    /// The names asked for (versions before 6, and v6 topics named rather than identified).
    public var names: [String] { topics.compactMap(\.name) }

    public init(names: [String]) { self.topics = names.map { Topic(name: $0) } }
    public init(topics: [Topic]) { self.topics = topics }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let topics: [Topic]
        if version >= 6 {
            topics = try decoder.array("topics") { decoder in
                let topic = Topic(name: try decoder.nullableString("topic name"), topicId: try decoder.uuid("topic id"))
                try decoder.taggedFields()
                return topic
            }
        } else {
            topics = try decoder.array("topic names") { Topic(name: try $0.string("topic name")) }
        }
        _ = try decoder.int32("timeout")
        try decoder.taggedFields()
        return Self(topics: topics)
    }
}

public struct DeleteTopicsResponse: Sendable {
    public struct Result: Sendable, Equatable {
        public var name: String?
        public var topicId: [UInt8]
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?
        public init(name: String?, topicId: [UInt8] = MetadataResponse.Topic.zeroTopicId, errorCode: KafkaErrorCode, errorMessage: String? = nil) {
            (self.name, self.topicId, self.errorCode, self.errorMessage) = (name, topicId, errorCode, errorMessage)
        }
    }

    public var results: [Result]
    public var topics: [(name: String, errorCode: KafkaErrorCode)] { results.map { ($0.name ?? "", $0.errorCode) } }

    public init(results: [Result]) { self.results = results }
    public init(topics: [(name: String, errorCode: KafkaErrorCode)]) { self.results = topics.map { Result(name: $0.name, errorCode: $0.errorCode) } }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        encoder.array(results) { encoder, result in
            if version >= 6 { encoder.nullableString(result.name) } else { encoder.string(result.name ?? "") }
            if version >= 6 { encoder.uuid(result.topicId) }
            encoder.int16(result.errorCode.rawValue)
            if version >= 5 { encoder.nullableString(result.errorMessage) }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

/// InitProducerId (key 22), versions 0–4; v3+ carries the current id and epoch for KIP-360's bump.
public struct InitProducerIdRequest: Sendable, Equatable {
    public var transactionalId: String?
    public var transactionTimeoutMs: Int32 = 60_000
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var request = Self(transactionalId: try decoder.nullableString("transactional id"))
        request.transactionTimeoutMs = try decoder.int32("transaction timeout")
        if version >= 3 {
            request.producerId = try decoder.int64("producer id")
            request.producerEpoch = try decoder.int16("producer epoch")
        }
        try decoder.taggedFields()
        return request
    }
}

public struct InitProducerIdResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var producerId: Int64
    public var producerEpoch: Int16

    public init(errorCode: KafkaErrorCode, producerId: Int64, producerEpoch: Int16) {
        (self.errorCode, self.producerId, self.producerEpoch) = (errorCode, producerId, producerEpoch)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.int64(producerId)
        encoder.int16(producerEpoch)
        encoder.taggedFields()
    }
}

/// DescribeCluster (key 60, v0–1, flexible): the cluster id, the controller and the brokers —
/// what admin clients' `describe_cluster` asks since KIP-700 instead of Metadata. v1 names the
/// endpoint type (1: brokers).
public struct DescribeClusterRequest: Sendable, Equatable {
    public var includeClusterAuthorizedOperations: Bool
    public var endpointType: Int8

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let include = try decoder.bool("include cluster authorized operations")
        let endpointType = version >= 1 ? try decoder.int8("endpoint type") : 1
        try decoder.taggedFields()
        return Self(includeClusterAuthorizedOperations: include, endpointType: endpointType)
    }
}

public struct DescribeClusterResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    public var endpointType: Int8
    public var clusterId: String
    public var controllerId: Int32
    public var brokers: [MetadataResponse.Broker]
    /// Kafka's bit set of operations; `Int32.min` when not asked for.
    public var clusterAuthorizedOperations: Int32

    public init(errorCode: KafkaErrorCode = .none, errorMessage: String? = nil, endpointType: Int8 = 1, clusterId: String,
                controllerId: Int32, brokers: [MetadataResponse.Broker], clusterAuthorizedOperations: Int32 = Int32.min) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.endpointType = endpointType
        self.clusterId = clusterId
        self.controllerId = controllerId
        self.brokers = brokers
        self.clusterAuthorizedOperations = clusterAuthorizedOperations
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.nullableString(errorMessage)
        if version >= 1 { encoder.int8(endpointType) }
        encoder.string(clusterId)
        encoder.int32(controllerId)
        encoder.array(brokers) { encoder, broker in
            encoder.int32(broker.nodeId)
            encoder.string(broker.host)
            encoder.int32(broker.port)
            encoder.nullableString(nil)
            encoder.taggedFields()
        }
        encoder.int32(clusterAuthorizedOperations)
        encoder.taggedFields()
    }
}
