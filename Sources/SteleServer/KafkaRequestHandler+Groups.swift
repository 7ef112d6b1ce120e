import Foundation
import NIOCore
import SteleBroker
import SteleKafkaProtocol
import SteleSecurity

extension KafkaRequestHandler {
    /// Consumer-group APIs: the broker coordinates every group (kafka-protocol.md §4).
    func handleGroupRequest(_ api: ApiKey, version: Int16, decoder: inout KafkaDecoder, clientId: String, requester: Requester,
                            respond: ((inout KafkaEncoder) -> Void) -> Outcome) async throws -> Outcome {
        let groups = broker.groups
        // Kafka's rules: finding, describing and fetching offsets need DESCRIBE on the group;
        // joining, syncing, heartbeats, leaving and commits READ; deleting DELETE. A refused
        // request is answered with GROUP_AUTHORIZATION_FAILED and never reaches the coordinator.
        func may(_ operation: AclOperation, _ group: String) -> Bool { allowed(requester, operation, .group(group)) }
        let refused = KafkaErrorCode.groupAuthorizationFailed
        switch api {
        case .findCoordinator:
            let request = try FindCoordinatorRequest.decode(&decoder, version: version)
            let coordinators = request.keys.map { key -> FindCoordinatorResponse.Coordinator in
                switch request.keyType {
                case 0 where !may(.describe, key): .init(key: key, errorCode: refused)
                case 0: .init(key: key, errorCode: .none, nodeId: nodeId, host: advertisedHost, port: advertisedPort)
                // Key type 1: a transactional id, coordinated here too (DESCRIBE on it to find it).
                case 1 where !allowed(requester, .describe, AclResource(.transactionalId, key)):
                    .init(key: key, errorCode: .transactionalIdAuthorizationFailed)
                case 1: .init(key: key, errorCode: .none, nodeId: nodeId, host: advertisedHost, port: advertisedPort)
                default: .init(key: key, errorCode: .invalidRequest, errorMessage: "unknown coordinator key type \(request.keyType)")
                }
            }
            return respond { FindCoordinatorResponse(coordinators: coordinators).encode(&$0, version: version) }
        case .joinGroup:
            let request = try JoinGroupRequest.decode(&decoder, version: version)
            guard may(.read, request.groupId) else { return respond { JoinGroupResponse(errorCode: refused, memberId: request.memberId).encode(&$0, version: version) } }
            let response = JoinGroupResponse(await groups.join(GroupJoin(request, clientId: clientId, version: version)), protocolType: request.protocolType)
            return respond { response.encode(&$0, version: version) }
        case .syncGroup:
            let request = try SyncGroupRequest.decode(&decoder, version: version)
            guard may(.read, request.groupId) else { return respond { SyncGroupResponse(errorCode: refused).encode(&$0, version: version) } }
            // v5+ must name the protocol type and name (Kafka's KafkaApis refuses it otherwise);
            // the coordinator checks them against the group's after the member and generation.
            if version >= 5 && (request.protocolType == nil || request.protocolName == nil) {
                return respond { SyncGroupResponse(errorCode: .inconsistentGroupProtocol).encode(&$0, version: version) }
            }
            let response = SyncGroupResponse(await groups.sync(group: request.groupId, memberId: request.memberId, generation: request.generationId,
                                                               protocolType: request.protocolType, protocolName: request.protocolName,
                                                               assignments: request.assignments))
            return respond { response.encode(&$0, version: version) }
        case .heartbeat:
            let request = try HeartbeatRequest.decode(&decoder, version: version)
            guard may(.read, request.groupId) else { return respond { ErrorOnlyResponse(refused).encode(&$0, version: version) } }
            let code = KafkaErrorCode(await groups.heartbeat(group: request.groupId, memberId: request.memberId, generation: request.generationId))
            return respond { ErrorOnlyResponse(code).encode(&$0, version: version) }
        case .leaveGroup:
            let request = try LeaveGroupRequest.decode(&decoder, version: version)
            guard may(.read, request.groupId) else {
                return respond { LeaveGroupResponse(errorCode: refused, members: []).encode(&$0, version: version) }
            }
            let left = await groups.leave(group: request.groupId, members: request.members.map { ($0.memberId, $0.groupInstanceId) })
            let results = zip(request.members, left).map { (memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, errorCode: KafkaErrorCode($1.error)) }
            let top = version <= 2 ? results.first?.errorCode ?? .none : .none
            return respond { LeaveGroupResponse(errorCode: top, members: results).encode(&$0, version: version) }
        case .offsetCommit:
            let request = try OffsetCommitRequest.decode(&decoder, version: version)
            guard may(.read, request.groupId) else {
                let response = PartitionErrorsResponse(topics: request.topics.map { ($0.name, $0.partitions.map { ($0.partition, refused) }) })
                return respond { response.encode(&$0, version: version, throttleFrom: 3) }
            }
            let response = await commit(request, version: version, requester: requester)
            return respond { response.encode(&$0, version: version, throttleFrom: 3) }
        case .offsetFetch:
            let request = try OffsetFetchRequest.decode(&decoder, version: version)
            var answered: [OffsetFetchResponse.Group] = []
            for group in request.groups {
                answered.append(await fetchOffsets(group, version: version, requireStable: request.requireStable, requester: requester))
            }
            return respond { OffsetFetchResponse(groups: answered).encode(&$0, version: version) }
        case .listGroups:
            let request = try ListGroupsRequest.decode(&decoder, version: version)
            // DESCRIBE on the cluster lists every group; otherwise those the requester may describe.
            let everything = allowed(requester, .describe, .cluster)
            // Filters compare ignoring case, as Kafka does ("stable" finds Stable groups).
            let states = Set(request.statesFilter.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
            let types = Set(request.typesFilter.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
            let groups = await groups.listGroups()
                .filter { everything || may(.describe, $0.groupId) }
                .filter { (states.isEmpty || states.contains($0.state.lowercased())) && (types.isEmpty || types.contains($0.type)) }
                .map { ListGroupsResponse.Group(groupId: $0.groupId, protocolType: $0.protocolType, state: $0.state, type: $0.type) }
            return respond { ListGroupsResponse(groups: groups).encode(&$0, version: version) }
        case .describeGroups:
            let request = try DescribeGroupsRequest.decode(&decoder, version: version)
            var described: [DescribeGroupsResponse.Group] = []
            for id in request.groups {
                guard may(.describe, id) else {
                    described.append(.init(errorCode: refused, groupId: id, state: "", protocolType: "", protocolName: "", members: []))
                    continue
                }
                if let group = await groups.describe(id) {
                    described.append(.init(errorCode: .none, groupId: id, state: group.state, protocolType: group.protocolType,
                                           protocolName: group.protocolName, members: group.members.map {
                                               .init(memberId: $0.memberId, groupInstanceId: $0.instanceId, clientId: $0.clientId,
                                                     clientHost: "", metadata: $0.metadata, assignment: $0.assignment)
                                           }))
                } else {
                    // Kafka describes an unknown group as Dead with no members.
                    described.append(.init(errorCode: .none, groupId: id, state: "Dead", protocolType: "", protocolName: "", members: []))
                }
            }
            return respond { DescribeGroupsResponse(groups: described).encode(&$0, version: version) }
        case .deleteGroups:
            let named = try DeleteGroupsRequest.decode(&decoder, version: version).groups
            let permitted = named.filter { may(.delete, $0) }
            let deleted = await groups.deleteGroups(permitted)
            let results = named.map { id in
                (groupId: id, errorCode: permitted.contains(id) ? deleted.first { $0.groupId == id }.map { KafkaErrorCode($0.error) } ?? .none : refused)
            }
            return respond { DeleteGroupsResponse(results: results).encode(&$0, version: version) }
        case .offsetDelete:
            let request = try OffsetDeleteRequest.decode(&decoder, version: version)
            guard may(.delete, request.groupId) else {
                let partitions = PartitionErrorsResponse(topics: request.topics.map { ($0.name, $0.partitions.map { ($0, KafkaErrorCode.none) }) })
                return respond { OffsetDeleteResponse(errorCode: refused, partitions: partitions).encode(&$0, version: version) }
            }
            // Offsets of a topic can be deleted only with READ on it too, as in Kafka.
            let readable = Set(request.topics.map(\.name).filter { allowed(requester, .read, .topic($0)) })
            let keys = request.topics.filter { readable.contains($0.name) }.flatMap { topic in
                topic.partitions.map { OffsetStore.Key(group: request.groupId, topic: topic.name, partition: $0) }
            }
            let code = keys.isEmpty ? KafkaErrorCode.none : KafkaErrorCode(await groups.deleteOffsets(group: request.groupId, partitions: keys))
            let partitions = PartitionErrorsResponse(topics: request.topics.map { topic in
                (topic.name, topic.partitions.map { partition -> (Int32, KafkaErrorCode) in
                    guard readable.contains(topic.name) else { return (partition, .topicAuthorizationFailed) }
                    return (partition, code == .nonEmptyGroup || code == .groupIdNotFound ? .none : code)
                })
            })
            return respond { OffsetDeleteResponse(errorCode: code == .none || code == .coordinatorNotAvailable ? .none : code, partitions: partitions).encode(&$0, version: version) }
        case .consumerGroupHeartbeat:
            let request = try ConsumerGroupHeartbeatRequest.decode(&decoder, version: version)
            guard may(.read, request.groupId) else {
                return respond { ConsumerGroupHeartbeatResponse(errorCode: refused, memberId: request.memberId).encode(&$0, version: version) }
            }
            let response = await consumerGroupHeartbeat(request, version: version, clientId: clientId)
            return respond { response.encode(&$0, version: version) }
        case .consumerGroupDescribe:
            let request = try ConsumerGroupDescribeRequest.decode(&decoder, version: version)
            var described: [ConsumerGroupDescribeResponse.Group] = []
            for id in request.groupIds {
                guard may(.describe, id) else {
                    described.append(.init(errorCode: refused, groupId: id))
                    continue
                }
                guard let group = await groups.describeConsumerGroup(id) else {
                    // Kafka's answer for a classic group or none: clients fall back to DescribeGroups.
                    described.append(.init(errorCode: .groupIdNotFound, errorMessage: "Group \(id) is not a consumer group.", groupId: id))
                    continue
                }
                described.append(consumerGroupDescription(group))
            }
            return respond { ConsumerGroupDescribeResponse(groups: described).encode(&$0, version: version) }
        default:
            preconditionFailure("not a group API: \(api)")
        }
    }

    /// One group's committed offsets (OffsetFetch). A consumer-protocol member asking (v9) must
    /// name its current epoch; offsets of topics the requester may not describe are refused
    /// when named and left out when it asked for all.
    private func fetchOffsets(_ request: OffsetFetchRequest.Group, version: Int16, requireStable: Bool = false,
                              requester: Requester) async -> OffsetFetchResponse.Group {
        func refused(_ code: KafkaErrorCode) -> OffsetFetchResponse.Group {
            // v0–1 have no group-level error: Kafka puts it on every partition asked for.
            let topics = version >= 2 ? [] : (request.topics ?? []).map { topic in
                (name: topic.name, partitions: topic.partitions.map { OffsetFetchResponse.Partition(partition: $0, offset: -1, metadata: "", errorCode: code) })
            }
            return .init(groupId: request.groupId, topics: topics, errorCode: code)
        }
        guard allowed(requester, .describe, .group(request.groupId)) else { return refused(.groupAuthorizationFailed) }
        if let error = await broker.groups.validateOffsetFetch(group: request.groupId, memberId: request.memberId, epoch: request.memberEpoch) {
            return refused(KafkaErrorCode(error))
        }
        let committed = await broker.groups.committed(group: request.groupId)
        var wanted = request.topics ?? Dictionary(grouping: committed.keys, by: \.topic).map { (name: $0.key, partitions: $0.value.map(\.partition).sorted()) }
        let hidden = Set(wanted.map(\.name).filter { !allowed(requester, .describe, .topic($0)) })
        if request.topics == nil { wanted.removeAll { hidden.contains($0.name) } }
        let topics = wanted.map { topic in
            (name: topic.name, partitions: topic.partitions.map { partition -> OffsetFetchResponse.Partition in
                if hidden.contains(topic.name) {
                    return .init(partition: partition, offset: -1, metadata: "", errorCode: .topicAuthorizationFailed)
                }
                // v7+: a consumer that must not read an offset a transaction is about to replace
                // is told to retry (read_committed consumers ask this).
                if requireStable && broker.transactions.hasPendingOffset(group: request.groupId, topic: topic.name, partition: partition) {
                    return .init(partition: partition, offset: -1, metadata: "", errorCode: .unstableOffsetCommit)
                }
                guard let entry = committed[OffsetStore.Key(group: request.groupId, topic: topic.name, partition: partition)] else {
                    return .init(partition: partition, offset: -1, metadata: "")
                }
                return .init(partition: partition, offset: entry.offset, leaderEpoch: entry.leaderEpoch, metadata: entry.metadata)
            })
        }
        return .init(groupId: request.groupId, topics: topics)
    }

    /// A consumer-protocol group in ConsumerGroupDescribe's terms: topics by id and name.
    private func consumerGroupDescription(_ group: ConsumerGroupDescription) -> ConsumerGroupDescribeResponse.Group {
        func wire(_ partitions: [TopicPartition]) -> [ConsumerGroupDescribeResponse.TopicPartitions] {
            Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.map { topic, partitions in
                .init(topicId: broker.topic(topic).map(Self.wireTopicId) ?? MetadataResponse.Topic.zeroTopicId, topicName: topic,
                      partitions: partitions.map(\.partition).sorted())
            }
        }
        return .init(errorCode: .none, groupId: group.groupId, state: group.state, groupEpoch: group.groupEpoch,
                     assignmentEpoch: group.assignmentEpoch, assignorName: group.assignor,
                     members: group.members.map { member in
                         .init(memberId: member.memberId, instanceId: member.instanceId, rackId: member.rackId, memberEpoch: member.epoch,
                               clientId: member.clientId, clientHost: "", subscribedTopicNames: member.subscribedNames,
                               subscribedTopicRegex: member.subscribedRegex, assignment: wire(member.assigned), targetAssignment: wire(member.target))
                     })
    }

    /// KIP-848: topics travel by id on the wire and by name in the coordinator.
    private func consumerGroupHeartbeat(_ request: ConsumerGroupHeartbeatRequest, version: Int16, clientId: String) async -> ConsumerGroupHeartbeatResponse {
        // v1: the client names itself from its first heartbeat (KIP-1082).
        if version >= 1 && request.memberId.isEmpty {
            return ConsumerGroupHeartbeatResponse(errorCode: .invalidRequest, errorMessage: "MemberId can't be empty.")
        }
        let owned = request.ownedPartitions.map { owned in
            Set(owned.flatMap { topic -> [TopicPartition] in
                // Partitions of a topic that no longer exists are not owned by anyone.
                guard let id = Self.topicId(topic.topicId), let name = broker.topic(id: id)?.name else { return [] }
                return topic.partitions.map { TopicPartition(topic: name, partition: $0) }
            })
        }
        let heartbeat = ConsumerHeartbeat(groupId: request.groupId, memberId: request.memberId, memberEpoch: request.memberEpoch,
                                          instanceId: request.instanceId, rackId: request.rackId, clientId: clientId,
                                          rebalanceTimeoutMs: request.rebalanceTimeoutMs, subscribedTopicNames: request.subscribedTopicNames,
                                          subscribedTopicRegex: request.subscribedTopicRegex, serverAssignor: request.serverAssignor,
                                          ownedPartitions: owned)
        let result = await broker.groups.consumerHeartbeat(heartbeat, partitionCounts: broker.partitionCounts)
        var message: String?
        if case let .invalidRequest(why)? = result.error { message = why }
        let assignment = result.assignment.map { partitions in
            Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.compactMap { topic, partitions -> TopicIdPartitions? in
                guard let open = broker.topic(topic) else { return nil }
                return TopicIdPartitions(topicId: Self.wireTopicId(open), partitions: partitions.map(\.partition).sorted())
            }
        }
        return ConsumerGroupHeartbeatResponse(errorCode: KafkaErrorCode(result.error), errorMessage: message,
                                              memberId: result.error == nil ? result.memberId : nil, memberEpoch: result.memberEpoch,
                                              heartbeatIntervalMs: result.heartbeatIntervalMs, assignment: result.error == nil ? assignment : nil)
    }

    private func commit(_ request: OffsetCommitRequest, version: Int16, requester: Requester) async -> PartitionErrorsResponse {
        func all(_ code: KafkaErrorCode) -> PartitionErrorsResponse {
            PartitionErrorsResponse(topics: request.topics.map { ($0.name, $0.partitions.map { ($0.partition, code) }) })
        }
        // Per-partition checks first: unknown partitions and oversized metadata are refused alone.
        var accepted = request
        var errors: [String: [Int32: KafkaErrorCode]] = [:]
        accepted.topics = request.topics.map { topic in
            // Committing offsets of a topic needs READ on it as well as on the group.
            guard allowed(requester, .read, .topic(topic.name)) else {
                for partition in topic.partitions { errors[topic.name, default: [:]][partition.partition] = .topicAuthorizationFailed }
                return (topic.name, [])
            }
            let partitions = broker.topic(topic.name)?.partitions.count ?? 0
            return (topic.name, topic.partitions.filter { partition in
                if partition.partition < 0 || Int(partition.partition) >= partitions {
                    errors[topic.name, default: [:]][partition.partition] = .unknownTopicOrPartition
                    return false
                }
                if (partition.metadata?.utf8.count ?? 0) > OffsetStore.maxMetadataBytes {
                    errors[topic.name, default: [:]][partition.partition] = .offsetMetadataTooLarge
                    return false
                }
                return true
            })
        }
        let error = await broker.groups.commit(GroupCommit(accepted))
        // What each commit asked and got, for tracing a group's positions (debug level only).
        logger.debug("offset commit", metadata: [
            "group": "\(request.groupId)", "member": "\(request.memberId)", "generation": "\(request.generationId)",
            "offsets": "\(accepted.topics.map { topic in "\(topic.name):" + topic.partitions.map { "\($0.partition)@\($0.offset)" }.joined(separator: ",") })",
            "result": "\(error.map { "\($0)" } ?? "stored")", "refused": "\(errors)",
        ])
        if let error { return all(KafkaErrorCode(error)) }
        return PartitionErrorsResponse(topics: request.topics.map { topic in
            (topic.name, topic.partitions.map { ($0.partition, errors[topic.name]?[$0.partition] ?? .none) })
        })
    }
}
