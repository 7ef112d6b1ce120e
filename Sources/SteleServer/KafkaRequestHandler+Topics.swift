import Foundation
import SteleBroker
import SteleCore
import SteleKafkaProtocol
import SteleSecurity

/// Topics and the cluster as clients see them: Metadata, DescribeCluster, CreateTopics,
/// DeleteTopics, and the mapping of topic ids and topic errors to the wire.
extension KafkaRequestHandler {
    // MARK: Metadata

    func metadata(_ request: MetadataRequest, requester: Requester) async -> MetadataResponse {
        var topics: [MetadataResponse.Topic] = []
        var answered = Set<String>()
        for name in request.topics ?? broker.topicNames {
            // A topic named twice is answered once, as in Kafka: 8,000 repeats of a topic of
            // 10,000 partitions would make a 25 KB request a response past 2 GiB.
            guard answered.insert(name).inserted else { continue }
            // Topics the requester may not describe: named, they are refused; listed (all
            // topics), they are left out, so their names do not leak (as Kafka does).
            guard allowed(requester, .describe, .topic(name)) else {
                if request.topics != nil { topics.append(.init(errorCode: .topicAuthorizationFailed, name: name, partitions: [])) }
                continue
            }
            if let problem = TopicName.validate(name) {
                logger.info("metadata for an invalid topic name", metadata: ["topic": "\(name)", "reason": "\(problem)"])
                topics.append(.init(errorCode: .invalidTopic, name: name, partitions: []))
                continue
            }
            if broker.offlineReason(name) != nil {
                topics.append(.init(errorCode: .kafkaStorageError, name: name, partitions: []))
                continue
            }
            var topic = broker.topic(name)
            if topic == nil && request.allowAutoTopicCreation && broker.config.autoCreateTopics && mayCreate(requester, topic: name) {
                topic = try? await broker.createTopic(name)
                if topic == nil { topic = broker.topic(name) }
            }
            if let topic {
                topics.append(.init(errorCode: .none, name: name, topicId: Self.wireTopicId(topic),
                                    partitions: (0..<Int32(topic.partitions.count)).map { $0 }))
            } else {
                topics.append(.init(errorCode: .unknownTopicOrPartition, name: name, partitions: []))
            }
        }
        // v12: topics asked by id. An id no open topic has, or one the requester may not
        // describe, is answered without a name, so neither leaks one.
        for id in request.topicIds {
            guard let uuid = Self.topicId(id), let topic = broker.topic(id: uuid) else {
                topics.append(.init(errorCode: .unknownTopicId, name: nil, topicId: id, partitions: []))
                continue
            }
            guard allowed(requester, .describe, .topic(topic.name)) else {
                topics.append(.init(errorCode: .topicAuthorizationFailed, name: nil, topicId: id, partitions: []))
                continue
            }
            topics.append(.init(errorCode: .none, name: topic.name, topicId: id, partitions: (0..<Int32(topic.partitions.count)).map { $0 }))
        }
        return MetadataResponse(brokers: [.init(nodeId: nodeId, host: advertisedHost, port: advertisedPort)],
                                clusterId: "stele", controllerId: nodeId, topics: topics)
    }

    // MARK: DescribeCluster

    /// The one node, as Metadata names it. Kafka asks no ACL for this (only for the cluster's
    /// authorized operations, which Stele does not compute: `Int32.min`, "not provided").
    func describeCluster(_ request: DescribeClusterRequest, requester: Requester) -> DescribeClusterResponse {
        guard request.endpointType == 1 else {
            // 2 asks for controllers (this is a broker endpoint); anything else is unknown.
            let known = request.endpointType == 2
            return DescribeClusterResponse(errorCode: known ? .mismatchedEndpointType : .unsupportedEndpointType,
                                           errorMessage: known ? "this is a broker endpoint, not a controller's" : "unknown endpoint type \(request.endpointType)",
                                           endpointType: request.endpointType, clusterId: "stele", controllerId: -1, brokers: [])
        }
        return DescribeClusterResponse(clusterId: "stele", controllerId: nodeId,
                                       brokers: [.init(nodeId: nodeId, host: advertisedHost, port: advertisedPort)])
    }

    // MARK: Topic admin

    func createTopics(_ request: CreateTopicsRequest, requester: Requester) async -> CreateTopicsResponse {
        var results: [CreateTopicsResponse.Result] = []
        for topic in request.topics {
            guard mayCreate(requester, topic: topic.name) else {
                results.append(.init(name: topic.name, errorCode: .topicAuthorizationFailed, message: "CREATE on the cluster or on topic \(topic.name) is needed"))
                continue
            }
            guard topic.replicationFactor == -1 || topic.replicationFactor == 1 else {
                results.append(.init(name: topic.name, errorCode: .invalidReplicationFactor, message: "Stele is a single node: replication factor must be 1 or -1"))
                continue
            }
            var configs: [String: String] = [:]
            for (key, value) in topic.configs { if let value { configs[key] = value } }
            do {
                let partitions = topic.partitions == -1 ? nil : Int(topic.partitions)
                let created = try await broker.createTopic(topic.name, partitions: partitions, configs: configs, validateOnly: request.validateOnly)
                // v5 answers with what was created, or (validate-only) what would have been.
                let config = try created?.config ?? TopicConfig(partitions: partitions ?? broker.config.defaultPartitions,
                                                                configs: TopicConfig.normalized(configs, defaults: broker.config.logDefaults))
                let topicId = created.map(Self.wireTopicId) ?? MetadataResponse.Topic.zeroTopicId
                // As Kafka: what the topic looks like only for a requester who may describe its
                // configs; otherwise TOPIC_AUTHORIZATION_FAILED in the tagged config error.
                guard allowed(requester, .describeConfigs, .topic(topic.name)) else {
                    var result = CreateTopicsResponse.Result(name: topic.name, topicId: topicId, errorCode: .none, configs: [])
                    result.configErrorCode = .topicAuthorizationFailed
                    results.append(result)
                    continue
                }
                let described = ConfigCatalog.describe(topic: config, broker: broker.config).map { entry in
                    DescribeConfigsResponse.Config(name: entry.name, value: entry.value, readOnly: entry.readOnly, source: entry.source.rawValue)
                }
                results.append(.init(name: topic.name, topicId: topicId, errorCode: .none,
                                     partitions: Int32(config.partitions), replicationFactor: 1, configs: described))
            } catch let error as BrokerError {
                results.append(.init(name: topic.name, errorCode: Self.errorCode(for: error), message: error.description))
            } catch {
                results.append(.init(name: topic.name, errorCode: .unknownServerError, message: "\(error)"))
            }
        }
        return CreateTopicsResponse(results: results)
    }

    func deleteTopics(_ request: DeleteTopicsRequest, requester: Requester) async -> DeleteTopicsResponse {
        var results: [DeleteTopicsResponse.Result] = []
        for asked in request.topics {
            // v6 names a topic by name or by id (KIP-516), never both (as Kafka's ControllerApis).
            let byId = Self.topicId(asked.topicId)
            guard (asked.name == nil) != (byId == nil) else {
                results.append(.init(name: asked.name, topicId: asked.topicId, errorCode: .invalidRequest,
                                     errorMessage: asked.name == nil ? "a topic needs a name or an id" : "You may not specify both topic name and topic id."))
                continue
            }
            let resolved = byId.flatMap { broker.topic(id: $0) }
            guard byId == nil || resolved != nil else {
                results.append(.init(name: nil, topicId: asked.topicId, errorCode: .unknownTopicId, errorMessage: "no topic has this id"))
                continue
            }
            let name = resolved?.name ?? asked.name!
            // A topic asked by id is named in the answer only to one who may describe it.
            let shownName = byId == nil || allowed(requester, .describe, .topic(name)) ? name : nil
            guard allowed(requester, .delete, .topic(name)) else {
                results.append(.init(name: shownName, topicId: asked.topicId, errorCode: .topicAuthorizationFailed))
                continue
            }
            let topicId = resolved.map(Self.wireTopicId) ?? broker.topic(name).map(Self.wireTopicId) ?? MetadataResponse.Topic.zeroTopicId
            do {
                try await broker.deleteTopic(name)
                results.append(.init(name: name, topicId: topicId, errorCode: .none))
            } catch let error as BrokerError {
                results.append(.init(name: name, topicId: topicId, errorCode: Self.errorCode(for: error), errorMessage: error.description))
            } catch {
                results.append(.init(name: name, topicId: topicId, errorCode: .unknownServerError, errorMessage: "\(error)"))
            }
        }
        return DeleteTopicsResponse(results: results)
    }

    /// Kafka's code for a topic administration failure.
    static func errorCode(for error: BrokerError) -> KafkaErrorCode {
        switch error {
        case .topicAlreadyExists: .topicAlreadyExists
        case .invalidTopic: .invalidTopic
        case .invalidPartitions: .invalidPartitions
        case .invalidConfig: .invalidConfig
        case .policyViolation: .policyViolation
        case .unknownTopicOrPartition: .unknownTopicOrPartition
        case .storage, .topicOffline: .kafkaStorageError
        }
    }

    /// A topic's id as the wire carries it (16 bytes; zeros for none).
    static func wireTopicId(_ topic: Broker.Topic) -> [UInt8] {
        guard let id = topic.config.topicId else { return MetadataResponse.Topic.zeroTopicId }
        return withUnsafeBytes(of: id.uuid) { Array($0) }
    }

    /// The id in 16 wire bytes; nil for the zero id, which names no topic.
    static func topicId(_ bytes: [UInt8]) -> UUID? {
        guard bytes.count == 16, bytes != MetadataResponse.Topic.zeroTopicId else { return nil }
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
