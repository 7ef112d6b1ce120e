import Foundation
import SteleBroker
import SteleCore
import SteleKafkaProtocol
import SteleSecurity

/// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: topics' configs change while the
/// broker runs; the broker's are `stele serve` flags, described and read-only.
extension KafkaRequestHandler {
    func describeConfigs(_ request: DescribeConfigsRequest, requester: Requester) -> DescribeConfigsResponse {
        // A resource named twice is described once; the repeats get INVALID_REQUEST (with the
        // documentation, a few bytes of request each could build a response past 2 GiB).
        var namedResources = Set<String>()
        return DescribeConfigsResponse(results: request.resources.map { resource in
            func result(_ code: KafkaErrorCode, _ message: String) -> DescribeConfigsResponse.Result {
                .init(errorCode: code, errorMessage: message, resourceType: resource.type, resourceName: resource.name)
            }
            guard namedResources.insert("\(resource.type) \(resource.name)").inserted else {
                return result(.invalidRequest, "the resource is named twice in one request")
            }
            // Null or empty: every config (Kafka's ConfigHelper treats both alike).
            let keys = resource.keys.flatMap { $0.isEmpty ? nil : Set($0) }
            let described: [DescribedConfig]
            switch ConfigResourceType(rawValue: resource.type) {
            case .topic:
                guard allowed(requester, .describeConfigs, .topic(resource.name)) else {
                    return result(.topicAuthorizationFailed, "DESCRIBE_CONFIGS on topic \(resource.name) is needed")
                }
                if let problem = TopicName.validate(resource.name) { return result(.invalidTopic, problem) }
                guard let topic = broker.topic(resource.name) else {
                    if let reason = broker.offlineReason(resource.name) { return result(.kafkaStorageError, "topic \(resource.name) is offline: \(reason)") }
                    return result(.unknownTopicOrPartition, "topic \(resource.name) does not exist")
                }
                described = ConfigCatalog.describe(topic: topic.config, broker: broker.config, keys: keys)
            case .broker:
                guard allowed(requester, .describeConfigs, .cluster) else {
                    return result(.clusterAuthorizationFailed, "DESCRIBE_CONFIGS on the cluster is needed")
                }
                if let problem = brokerNameProblem(resource.name) { return result(.invalidRequest, problem) }
                described = ConfigCatalog.describe(broker: broker.config, nodeId: nodeId, keys: keys)
            case .brokerLogger:
                guard allowed(requester, .describeConfigs, .cluster) else {
                    return result(.clusterAuthorizationFailed, "DESCRIBE_CONFIGS on the cluster is needed")
                }
                return result(.invalidRequest, "Stele's log levels are set by --log-level, not by broker loggers")
            case nil:
                return result(.invalidRequest, "unsupported resource type \(resource.type): Stele has topic (2) and broker (4) configs")
            }
            return .init(errorCode: .none, resourceType: resource.type, resourceName: resource.name, configs: described.map { config in
                .init(name: config.name, value: config.value, readOnly: config.readOnly, source: config.source.rawValue,
                      synonyms: request.includeSynonyms ? config.synonyms.map { .init(name: $0.name, value: $0.value, source: $0.source.rawValue) } : [],
                      type: config.type.rawValue, documentation: request.includeDocumentation ? config.documentation : nil)
            })
        })
    }

    /// AlterConfigs replaces a topic's overrides with the request's; IncrementalAlterConfigs
    /// applies SET, DELETE, APPEND and SUBTRACT to them. Both take effect at once, without a
    /// restart, and each resource succeeds or fails alone.
    func alterConfigs(_ request: AlterConfigsRequest, requester: Requester) async -> AlterConfigsResponse {
        let occurrences = Dictionary(grouping: request.resources) { "\($0.type)/\($0.name)" }.mapValues(\.count)
        var results: [AlterConfigsResponse.Result] = []
        for resource in request.resources {
            func result(_ code: KafkaErrorCode, _ message: String? = nil) -> AlterConfigsResponse.Result {
                .init(errorCode: code, errorMessage: message, resourceType: resource.type, resourceName: resource.name)
            }
            guard occurrences["\(resource.type)/\(resource.name)"] == 1 else {
                results.append(result(.invalidRequest, "resource \(resource.name) appears more than once in the request"))
                continue
            }
            let names = resource.changes.map(\.name)
            guard Set(names).count == names.count else {
                results.append(result(.invalidRequest, "a config appears more than once for \(resource.name)"))
                continue
            }
            switch ConfigResourceType(rawValue: resource.type) {
            case .topic:
                guard allowed(requester, .alterConfigs, .topic(resource.name)) else {
                    results.append(result(.topicAuthorizationFailed, "ALTER_CONFIGS on topic \(resource.name) is needed"))
                    continue
                }
                if let problem = TopicName.validate(resource.name) {
                    results.append(result(.invalidTopic, problem))
                    continue
                }
                do {
                    // Computed from the overrides as they are under the broker's admin lock, so
                    // concurrent changes apply one after the other.
                    let (changes, incremental, brokerConfig) = (resource.changes, request.incremental, broker.config)
                    try await broker.alterTopicConfigs(resource.name, validateOnly: request.validateOnly) { current in
                        try ConfigChanges.apply(changes, to: current, incremental: incremental, broker: brokerConfig)
                    }
                    if !request.validateOnly {
                        logger.info("topic configs changed", metadata: ["topic": "\(resource.name)", "principal": "\(requester.principal)",
                                                                        "configs": "\(broker.topic(resource.name)?.config.configs.sorted { $0.key < $1.key } ?? [])"])
                    }
                    results.append(result(.none))
                } catch let error as ConfigChanges.Refusal {
                    results.append(result(error.code, error.message))
                } catch let error as BrokerError {
                    results.append(result(Self.errorCode(for: error), error.description))
                } catch {
                    results.append(result(.unknownServerError, "\(error)"))
                }
            case .broker:
                guard allowed(requester, .alterConfigs, .cluster) else {
                    results.append(result(.clusterAuthorizationFailed, "ALTER_CONFIGS on the cluster is needed"))
                    continue
                }
                if let problem = brokerNameProblem(resource.name) {
                    results.append(result(.invalidRequest, problem))
                } else if resource.changes.isEmpty {
                    results.append(result(.none))
                } else {
                    // Kafka's answer for a config that is not dynamic, naming them.
                    results.append(result(.invalidRequest, "cannot update these configs dynamically: \(names.sorted().joined(separator: ", ")); "
                        + "Stele's broker configs are `stele serve` flags: restart with the new value"))
                }
            case .brokerLogger:
                guard allowed(requester, .alterConfigs, .cluster) else {
                    results.append(result(.clusterAuthorizationFailed, "ALTER_CONFIGS on the cluster is needed"))
                    continue
                }
                results.append(result(.invalidRequest, "Stele's log levels are set by --log-level, not by broker loggers"))
            case nil:
                results.append(result(.invalidRequest, "unsupported resource type \(resource.type): Stele has topic (2) and broker (4) configs"))
            }
        }
        return AlterConfigsResponse(results: results)
    }

    /// Why a broker resource name is not this node ("" names the cluster-wide defaults).
    private func brokerNameProblem(_ name: String) -> String? {
        guard !name.isEmpty else { return nil }
        guard let id = Int32(name) else { return "broker id must be an integer, but it is: \(name)" }
        return id == nodeId ? nil : "unexpected broker id, expected \(nodeId) or empty string, but received \(id)"
    }
}

/// The overrides a topic has after an AlterConfigs or IncrementalAlterConfigs request: pure,
/// so the rules (null values, list operations) are tested without a broker.
enum ConfigChanges {
    struct Refusal: Error {
        var code: KafkaErrorCode
        var message: String
    }

    static func apply(_ changes: [AlterConfigsRequest.Change], to current: [String: String], incremental: Bool,
                      broker: BrokerConfig) throws -> [String: String] {
        var configs = incremental ? current : [:]
        for change in changes {
            switch (incremental, change.operation) {
            case (false, _), (true, 0):
                guard let value = change.value else { throw Refusal(code: .invalidRequest, message: "null value not supported for \(change.name)") }
                configs[change.name] = value
            case (true, 1):
                configs[change.name] = nil
            case (true, 2), (true, 3):
                let verb = change.operation == 2 ? "append" : "subtract"
                guard ConfigCatalog.isList(change.name) else {
                    throw Refusal(code: .invalidConfig, message: "config value \(verb) is not allowed for config key: \(change.name)")
                }
                guard let value = change.value else { throw Refusal(code: .invalidRequest, message: "null value not supported for \(change.name)") }
                let now = configs[change.name] ?? ConfigCatalog.brokerValue(of: change.name, broker: broker) ?? ""
                var items = Self.items(now)
                for item in Self.items(value) {
                    if change.operation == 2 { if !items.contains(item) { items.append(item) } } else { items.removeAll { $0 == item } }
                }
                configs[change.name] = items.joined(separator: ",")
            default:
                throw Refusal(code: .invalidRequest, message: "unknown config operation \(change.operation) for \(change.name)")
            }
        }
        return configs
    }

    private static func items(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
