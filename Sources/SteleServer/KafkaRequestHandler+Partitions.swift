import Foundation
import SteleBroker
import SteleKafkaProtocol
import SteleLog
import SteleSecurity

/// CreatePartitions, DescribeLogDirs and OffsetForLeaderEpoch.
extension KafkaRequestHandler {
    func createPartitions(_ request: CreatePartitionsRequest, requester: Requester) async -> CreatePartitionsResponse {
        let occurrences = Dictionary(grouping: request.topics, by: \.name).mapValues(\.count)
        var results: [CreatePartitionsResponse.Result] = []
        for topic in request.topics {
            func result(_ code: KafkaErrorCode, _ message: String? = nil) -> CreatePartitionsResponse.Result {
                .init(name: topic.name, errorCode: code, errorMessage: message)
            }
            guard occurrences[topic.name] == 1 else {
                results.append(result(.invalidRequest, "topic \(topic.name) appears more than once in the request"))
                continue
            }
            guard allowed(requester, .alter, .topic(topic.name)) else {
                results.append(result(.topicAuthorizationFailed, "ALTER on topic \(topic.name) is needed"))
                continue
            }
            if let assignments = topic.assignments, let current = broker.topic(topic.name)?.partitions.count, Int(topic.count) > current {
                // One node: each new partition's only replica is this node.
                guard assignments.count == Int(topic.count) - current, assignments.allSatisfy({ $0 == [nodeId] }) else {
                    results.append(result(.invalidReplicaAssignment,
                                          "Stele is a single node: give one assignment [\(nodeId)] per new partition, or none"))
                    continue
                }
            }
            do {
                try await broker.createPartitions(topic.name, count: Int(topic.count), validateOnly: request.validateOnly)
                if !request.validateOnly {
                    logger.info("partitions added", metadata: ["topic": "\(topic.name)", "partitions": "\(topic.count)"])
                }
                results.append(result(.none))
            } catch let error as BrokerError {
                results.append(result(Self.errorCode(for: error), error.description))
            } catch {
                results.append(result(.unknownServerError, "\(error)"))
            }
        }
        return CreatePartitionsResponse(results: results)
    }

    /// One log directory, `<data>/topics`, with the size of each partition asked for (unknown
    /// topics and partitions are left out, as Kafka does). DESCRIBE on the cluster is needed:
    /// before v3 a refusal is an empty answer, as Kafka gives.
    func describeLogDirs(_ request: DescribeLogDirsRequest, requester: Requester) -> DescribeLogDirsResponse {
        guard allowed(requester, .describe, .cluster) else { return DescribeLogDirsResponse(errorCode: .clusterAuthorizationFailed, directories: []) }
        let wanted = request.topics.map { topics in Dictionary(topics.map { ($0.name, Set($0.partitions)) }, uniquingKeysWith: { $0.union($1) }) }
        var topics: [DescribeLogDirsResponse.Topic] = []
        for name in wanted.map({ Array($0.keys).sorted() }) ?? broker.topicNames {
            guard let topic = broker.topic(name) else { continue }
            let partitions = topic.partitions.enumerated().compactMap { index, log -> DescribeLogDirsResponse.Partition? in
                if let wanted, !(wanted[name]?.contains(Int32(index)) ?? false) { return nil }
                return .init(index: Int32(index), size: log.sizeInBytes)
            }
            if !partitions.isEmpty { topics.append(.init(name: name, partitions: partitions)) }
        }
        let path = URL(fileURLWithPath: broker.config.dataDirectory + "/topics").standardizedFileURL.path
        let space = try? FileManager.default.attributesOfFileSystem(forPath: path)
        return DescribeLogDirsResponse(directories: [
            .init(path: path, topics: topics, totalBytes: (space?[.systemSize] as? NSNumber)?.int64Value ?? -1,
                  usableBytes: (space?[.systemFreeSize] as? NSNumber)?.int64Value ?? -1),
        ])
    }

    /// Stele's partitions have one leader epoch, 0, for ever (Metadata says so): the end of
    /// epoch 0 is the log end offset, and any other epoch is unknown (-1, -1), as Kafka answers
    /// for an epoch it has no entry for. A consumer validating its position after a leader change
    /// (KIP-320) so never sees a truncation that did not happen.
    func offsetForLeaderEpoch(_ request: OffsetForLeaderEpochRequest, requester: Requester) -> OffsetForLeaderEpochResponse {
        OffsetForLeaderEpochResponse(topics: request.topics.map { topic in
            let mayDescribe = allowed(requester, .describe, .topic(topic.name))
            return (topic.name, topic.partitions.map { partition in
                guard mayDescribe else { return .init(errorCode: .topicAuthorizationFailed, partition: partition.partition) }
                guard let log = broker.topic(topic.name)?.partitions[safe: Int(partition.partition)] else {
                    return .init(errorCode: broker.offlineReason(topic.name) != nil ? .kafkaStorageError : .unknownTopicOrPartition,
                                 partition: partition.partition)
                }
                switch partition.currentLeaderEpoch {
                case -1, 0: break
                case 1...: return .init(errorCode: .unknownLeaderEpoch, partition: partition.partition)
                default: return .init(errorCode: .fencedLeaderEpoch, partition: partition.partition)
                }
                guard partition.leaderEpoch == 0 else { return .init(errorCode: .none, partition: partition.partition) }
                return .init(errorCode: .none, partition: partition.partition, leaderEpoch: 0, endOffset: log.logEndOffset)
            })
        })
    }
}

extension Array {
    fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

extension KafkaRequestHandler {
    /// DELETE on the topic is needed, as in Kafka. Each partition succeeds or fails alone.
    func deleteRecords(_ request: DeleteRecordsRequest, requester: Requester) async -> DeleteRecordsResponse {
        var topics: [(name: String, partitions: [DeleteRecordsResponse.Partition])] = []
        for topic in request.topics {
            let mayDelete = allowed(requester, .delete, .topic(topic.name))
            var partitions: [DeleteRecordsResponse.Partition] = []
            for partition in topic.partitions {
                guard mayDelete else {
                    partitions.append(.init(partition: partition.partition, errorCode: .topicAuthorizationFailed))
                    continue
                }
                guard partition.offset >= -1 else {
                    partitions.append(.init(partition: partition.partition, errorCode: .offsetOutOfRange))
                    continue
                }
                do {
                    let low = try await broker.deleteRecords(topic.name, partition: partition.partition, before: partition.offset)
                    logger.info("records deleted", metadata: ["topic": "\(topic.name)", "partition": "\(partition.partition)",
                                                              "log start": "\(low)", "principal": "\(requester.principal)"])
                    partitions.append(.init(partition: partition.partition, lowWatermark: low, errorCode: .none))
                } catch let error as BrokerError {
                    partitions.append(.init(partition: partition.partition, errorCode: Self.errorCode(for: error)))
                } catch let error as LogError {
                    partitions.append(.init(partition: partition.partition, errorCode: Self.errorCode(for: error)))
                } catch {
                    partitions.append(.init(partition: partition.partition, errorCode: .unknownServerError))
                }
            }
            topics.append((topic.name, partitions))
        }
        return DeleteRecordsResponse(topics: topics)
    }
}

extension KafkaRequestHandler {
    /// The most partitions one DescribeTopicPartitions answer carries, whatever the client asks
    /// (Kafka's `max.request.partition.size.limit`).
    static let maxDescribedPartitions: Int32 = 2000

    /// Topics in name order from the cursor on, with at most the asked number of partitions in
    /// all; the next cursor says where to go on. Named topics one may not describe are
    /// TOPIC_AUTHORIZATION_FAILED; listed ones (an empty request) are left out, as in Metadata.
    func describeTopicPartitions(_ request: DescribeTopicPartitionsRequest, requester: Requester) -> DescribeTopicPartitionsResponse {
        var budget = Int(max(1, min(request.partitionLimit, Self.maxDescribedPartitions)))
        let listing = request.topics.isEmpty
        // Kafka's answer to a cursor that is not in the named topics or names no partition.
        if let cursor = request.cursor, cursor.partition < 0 || (!listing && !request.topics.contains(cursor.topic)) {
            return DescribeTopicPartitionsResponse(topics: Array(Set(request.topics)).sorted().map { .init(errorCode: .invalidRequest, name: $0) },
                                                   nextCursor: nil, nodeId: nodeId)
        }
        var names = Array(Set(listing ? broker.topicNames : request.topics)).sorted()
        if let cursor = request.cursor { names = names.filter { $0 >= cursor.topic } }
        var topics: [DescribeTopicPartitionsResponse.Topic] = []
        var next: DescribeTopicPartitionsRequest.Cursor?
        for name in names {
            guard allowed(requester, .describe, .topic(name)) else {
                if !listing { topics.append(.init(errorCode: .topicAuthorizationFailed, name: name)) }
                continue
            }
            guard let topic = broker.topic(name) else {
                // Listing, only topics that can be described are listed (as Kafka leaves errors out).
                let offline = broker.offlineReason(name) != nil
                if !listing { topics.append(.init(errorCode: offline ? .kafkaStorageError : .unknownTopicOrPartition, name: name)) }
                continue
            }
            let first = request.cursor.map { $0.topic == name ? max(0, Int($0.partition)) : 0 } ?? 0
            let count = topic.partitions.count
            guard budget > 0 else {
                next = .init(topic: name, partition: Int32(min(first, count)))
                break
            }
            let end = min(count, first + budget)
            topics.append(.init(errorCode: .none, name: name, topicId: Self.wireTopicId(topic), partitions: (first..<max(first, end)).map { Int32($0) }))
            budget -= max(0, end - first)
            if end < count {
                next = .init(topic: name, partition: Int32(end))
                break
            }
        }
        return DescribeTopicPartitionsResponse(topics: topics, nextCursor: next, nodeId: nodeId)
    }
}
