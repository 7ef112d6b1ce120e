import SteleBroker
import SteleKafkaProtocol

// The consumer-group coordinator speaks in its own terms (GroupTypes.swift in SteleBroker);
// here they meet the wire: requests become coordinator calls, results become responses.

extension KafkaErrorCode {
    /// The Kafka error code for a coordinator's answer (`nil`: none).
    init(_ error: GroupError?) {
        switch error {
        case nil: self = .none
        case .invalidGroupId?: self = .invalidGroupId
        case .unknownMemberId?: self = .unknownMemberId
        case .illegalGeneration?: self = .illegalGeneration
        case .rebalanceInProgress?: self = .rebalanceInProgress
        case .memberIdRequired?: self = .memberIdRequired
        case .invalidSessionTimeout?: self = .invalidSessionTimeout
        case .inconsistentGroupProtocol?: self = .inconsistentGroupProtocol
        case .nonEmptyGroup?: self = .nonEmptyGroup
        case .groupIdNotFound?: self = .groupIdNotFound
        // Kafka answers a commit its offsets log could not take with COORDINATOR_NOT_AVAILABLE:
        // the client retries (after looking the coordinator up again).
        case .offsetsUnavailable?: self = .coordinatorNotAvailable
        case .fencedMemberEpoch?: self = .fencedMemberEpoch
        case .staleMemberEpoch?: self = .staleMemberEpoch
        case .unreleasedInstanceId?: self = .unreleasedInstanceId
        case .fencedInstanceId?: self = .fencedInstanceId
        case .unsupportedAssignor?: self = .unsupportedAssignor
        case .invalidRequest?: self = .invalidRequest
        }
    }
}

extension GroupJoin {
    init(_ request: JoinGroupRequest, clientId: String, version: Int16) {
        self.init(groupId: request.groupId, memberId: request.memberId, instanceId: request.groupInstanceId, clientId: clientId,
                  sessionTimeoutMs: Int64(request.sessionTimeoutMs), rebalanceTimeoutMs: Int64(request.rebalanceTimeoutMs),
                  protocolType: request.protocolType,
                  protocols: request.protocols.map { GroupProtocol(name: $0.name, metadata: $0.metadata) },
                  // KIP-394: JoinGroup v4 and later understand MEMBER_ID_REQUIRED.
                  acceptsMemberIdRequired: version >= 4)
    }
}

extension JoinGroupResponse {
    /// A member joins only with the group's protocol type, so on success it is the request's.
    init(_ result: GroupJoinResult, protocolType: String) {
        self.init(errorCode: KafkaErrorCode(result.error), generationId: result.generation,
                  protocolType: result.error == nil ? protocolType : nil, protocolName: result.protocolName,
                  leader: result.leader, memberId: result.memberId,
                  members: result.members.map { .init(memberId: $0.memberId, groupInstanceId: $0.instanceId, metadata: $0.metadata) })
    }
}

extension SyncGroupResponse {
    init(_ result: GroupSyncResult) {
        self.init(errorCode: KafkaErrorCode(result.error), protocolType: result.protocolType, protocolName: result.protocolName,
                  assignment: result.assignment)
    }
}

extension GroupCommit {
    init(_ request: OffsetCommitRequest) {
        self.init(groupId: request.groupId, memberId: request.memberId, generation: request.generationId,
                  offsets: request.topics.flatMap { topic in
                      topic.partitions.map {
                          Offset(topic: topic.name, partition: $0.partition, offset: $0.offset, leaderEpoch: $0.leaderEpoch, metadata: $0.metadata)
                      }
                  })
    }
}
