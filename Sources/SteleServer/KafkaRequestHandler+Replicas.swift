import Foundation
import SteleBroker
import SteleKafkaProtocol
import SteleSecurity

/// Leadership and replica placement on a single node: every partition has one replica, this
/// node, which is its leader. Elections are never needed, reassignments can only keep a
/// partition where it is, and there is one log directory. Answered as Kafka answers these
/// requests on a one-broker cluster, with the same ACL checks.
extension KafkaRequestHandler {
    /// Whether `topic`/`partition` exists.
    private func exists(_ topic: String, _ partition: Int32) -> Bool {
        guard let found = broker.topic(topic) else { return false }
        return partition >= 0 && Int(partition) < found.partitions.count
    }

    func electLeaders(_ request: ElectLeadersRequest, requester: Requester) -> ElectLeadersResponse {
        let asked = request.topics ?? []
        guard allowed(requester, .alter, .cluster) else {
            return ElectLeadersResponse(errorCode: .clusterAuthorizationFailed, topics: asked.map { topic in
                (topic.name, topic.partitions.map { PartitionResult(partition: $0, errorCode: .clusterAuthorizationFailed) })
            })
        }
        guard request.electionType == 0 || request.electionType == 1 else {
            return ElectLeadersResponse(errorCode: .invalidRequest, topics: [])
        }
        // Asked for every partition, Kafka leaves out those needing no election: all of them here.
        return ElectLeadersResponse(topics: asked.map { topic in
            (topic.name, topic.partitions.map { partition in
                exists(topic.name, partition)
                    ? PartitionResult(partition: partition, errorCode: .electionNotNeeded, errorMessage: "Leader election not needed for topic partition")
                    : PartitionResult(partition: partition, errorCode: .unknownTopicOrPartition, errorMessage: "The partition does not exist.")
            })
        })
    }

    func listPartitionReassignments(_ request: ListPartitionReassignmentsRequest, requester: Requester) -> ListPartitionReassignmentsResponse {
        guard allowed(requester, .describe, .cluster) else {
            return ListPartitionReassignmentsResponse(errorCode: .clusterAuthorizationFailed, errorMessage: "DESCRIBE on the cluster is needed")
        }
        return ListPartitionReassignmentsResponse()
    }

    func alterPartitionReassignments(_ request: AlterPartitionReassignmentsRequest, requester: Requester) -> AlterPartitionReassignmentsResponse {
        guard allowed(requester, .alter, .cluster) else {
            return AlterPartitionReassignmentsResponse(errorCode: .clusterAuthorizationFailed, errorMessage: "ALTER on the cluster is needed", topics: [])
        }
        return AlterPartitionReassignmentsResponse(topics: request.topics.map { topic in
            (topic.name, topic.partitions.map { partition in
                func result(_ code: KafkaErrorCode, _ message: String? = nil) -> PartitionResult {
                    PartitionResult(partition: partition.partition, errorCode: code, errorMessage: message)
                }
                guard exists(topic.name, partition.partition) else { return result(.unknownTopicOrPartition, "The partition does not exist.") }
                guard let replicas = partition.replicas else { return result(.noReassignmentInProgress, "no reassignment is in progress for this partition") }
                guard replicas == [nodeId] else {
                    let missing = replicas.first { $0 != nodeId }.map { "broker \($0) does not exist" } ?? "the replica list is empty"
                    return result(.invalidReplicaAssignment, "The manual partition assignment is invalid: \(missing); this node (\(nodeId)) is the only replica")
                }
                return result(.none)
            })
        })
    }

    /// The one log directory, as DescribeLogDirs names it: moving a partition to it is already
    /// done; any other path is not a log directory.
    func alterReplicaLogDirs(_ request: AlterReplicaLogDirsRequest, requester: Requester) -> AlterReplicaLogDirsResponse {
        let mayAlter = allowed(requester, .alter, .cluster)
        let directory = URL(fileURLWithPath: broker.config.dataDirectory + "/topics").standardizedFileURL.path
        var topics: [(name: String, partitions: [PartitionResult])] = []
        for target in request.directories {
            for topic in target.topics {
                topics.append((topic.name, topic.partitions.map { partition in
                    guard mayAlter else { return PartitionResult(partition: partition, errorCode: .clusterAuthorizationFailed) }
                    guard exists(topic.name, partition) else { return PartitionResult(partition: partition, errorCode: .unknownTopicOrPartition) }
                    let same = URL(fileURLWithPath: target.path).standardizedFileURL.path == directory
                    return PartitionResult(partition: partition, errorCode: same ? .none : .logDirNotFound)
                }))
            }
        }
        return AlterReplicaLogDirsResponse(topics: topics)
    }

    /// READ on the topic is needed, as in Kafka.
    func describeProducers(_ request: DescribeProducersRequest, requester: Requester) -> DescribeProducersResponse {
        DescribeProducersResponse(topics: request.topics.map { topic in
            let mayRead = allowed(requester, .read, .topic(topic.name))
            return (topic.name, topic.partitions.map { partition in
                guard mayRead else { return .init(PartitionResult(partition: partition, errorCode: .topicAuthorizationFailed)) }
                guard exists(topic.name, partition), let log = broker.topic(topic.name)?.partitions[Int(partition)] else {
                    return .init(PartitionResult(partition: partition, errorCode: .unknownTopicOrPartition))
                }
                return .init(PartitionResult(partition: partition, errorCode: .none), producers: log.activeProducers.map {
                    .init(producerId: $0.producerId, epoch: Int32($0.epoch), lastSequence: $0.lastSequence, lastTimestamp: $0.lastAppendMilliseconds,
                          currentTransactionStartOffset: $0.transactionStartOffset)
                })
            })
        })
    }
}
