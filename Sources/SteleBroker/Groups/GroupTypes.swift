/// The consumer-group coordinator's own vocabulary: what members ask and what they are told, in
/// the broker's terms. The Kafka listener (`SteleServer`) turns requests into these and these
/// into responses; the broker knows nothing of the wire format.

/// Why the coordinator refuses a group request. Each case is one of Kafka's group error codes.
public enum GroupError: Error, Sendable, Equatable {
    /// The group id is empty.
    case invalidGroupId
    /// The member is not (or no longer) in the group.
    case unknownMemberId
    /// The member's generation is not the group's.
    case illegalGeneration
    /// The group is rebalancing: the member must rejoin.
    case rebalanceInProgress
    /// A new member must join again with the id it was given (KIP-394).
    case memberIdRequired
    /// The session timeout is outside ``ConsumerGroup/sessionTimeoutRange``.
    case invalidSessionTimeout
    /// The member's protocol type or protocols match none of the group's.
    case inconsistentGroupProtocol
    /// The group still has members (deleting it or its offsets needs it empty).
    case nonEmptyGroup
    /// The group has neither members nor committed offsets.
    case groupIdNotFound
    /// The committed offsets could not be stored (the offsets log refused the write).
    case offsetsUnavailable
    /// Consumer protocol: the member's epoch is ahead of or too far behind the coordinator's;
    /// it must rejoin with epoch 0.
    case fencedMemberEpoch
    /// Consumer protocol: a commit or offset fetch carries an epoch other than the member's.
    case staleMemberEpoch
    /// Consumer protocol: another live member holds the static instance id.
    case unreleasedInstanceId
    /// A static member named with a member id other than its instance's current one.
    case fencedInstanceId
    /// Consumer protocol: the member names an assignor the coordinator does not run.
    case unsupportedAssignor
    /// The request contradicts the protocol (the message says how).
    case invalidRequest(String)
}

/// One assignment protocol a member supports (a name and its opaque metadata, the client's
/// subscription).
public struct GroupProtocol: Sendable, Equatable {
    public var name: String
    public var metadata: [UInt8]
    public init(name: String, metadata: [UInt8]) { (self.name, self.metadata) = (name, metadata) }
}

/// A member asking to join a group.
public struct GroupJoin: Sendable, Equatable {
    public var groupId: String
    /// Empty for a member joining for the first time.
    public var memberId: String
    /// Set for a static member (KIP-345).
    public var instanceId: String?
    public var clientId: String
    public var sessionTimeoutMs: Int64
    public var rebalanceTimeoutMs: Int64
    public var protocolType: String
    public var protocols: [GroupProtocol]
    /// The client understands ``GroupError/memberIdRequired`` (JoinGroup v4 and later): a new
    /// dynamic member is given its id and asked to join again with it.
    public var acceptsMemberIdRequired: Bool

    public init(groupId: String, memberId: String, instanceId: String? = nil, clientId: String, sessionTimeoutMs: Int64,
                rebalanceTimeoutMs: Int64, protocolType: String, protocols: [GroupProtocol], acceptsMemberIdRequired: Bool) {
        (self.groupId, self.memberId, self.instanceId, self.clientId) = (groupId, memberId, instanceId, clientId)
        (self.sessionTimeoutMs, self.rebalanceTimeoutMs) = (sessionTimeoutMs, rebalanceTimeoutMs)
        (self.protocolType, self.protocols, self.acceptsMemberIdRequired) = (protocolType, protocols, acceptsMemberIdRequired)
    }
}

/// What a joining member is told: its id and the generation, and for the leader every member's
/// metadata to compute the assignment from.
public struct GroupJoinResult: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var instanceId: String?
        public var metadata: [UInt8]
        public init(memberId: String, instanceId: String?, metadata: [UInt8]) {
            (self.memberId, self.instanceId, self.metadata) = (memberId, instanceId, metadata)
        }
    }

    /// `nil` when the member joined.
    public var error: GroupError?
    /// -1 with an error.
    public var generation: Int32
    public var protocolName: String
    public var leader: String
    public var memberId: String
    /// Every member, for the leader; empty for the others.
    public var members: [Member]

    public init(error: GroupError? = nil, generation: Int32 = -1, protocolName: String = "", leader: String = "",
                memberId: String, members: [Member] = []) {
        (self.error, self.generation, self.protocolName, self.leader, self.memberId, self.members) =
            (error, generation, protocolName, leader, memberId, members)
    }

    static func refused(_ error: GroupError, memberId: String) -> Self { Self(error: error, memberId: memberId) }
}

/// What a member is told at the end of a rebalance: its part of the leader's assignment.
public struct GroupSyncResult: Sendable, Equatable {
    public var error: GroupError?
    public var assignment: [UInt8]
    /// The group's protocol type and name (SyncGroup v5 answers them).
    public var protocolType: String?
    public var protocolName: String?
    public init(error: GroupError? = nil, assignment: [UInt8] = [], protocolType: String? = nil, protocolName: String? = nil) {
        (self.error, self.assignment, self.protocolType, self.protocolName) = (error, assignment, protocolType, protocolName)
    }
}

/// A member's (or a manually assigned consumer's) offsets to commit.
public struct GroupCommit: Sendable, Equatable {
    public struct Offset: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        public var leaderEpoch: Int32
        public var metadata: String?
        public init(topic: String, partition: Int32, offset: Int64, leaderEpoch: Int32, metadata: String?) {
            (self.topic, self.partition, self.offset, self.leaderEpoch, self.metadata) = (topic, partition, offset, leaderEpoch, metadata)
        }
    }

    public var groupId: String
    /// Empty, with generation -1, for a consumer outside any group membership.
    public var memberId: String
    public var generation: Int32
    public var offsets: [Offset]

    public init(groupId: String, memberId: String, generation: Int32, offsets: [Offset]) {
        (self.groupId, self.memberId, self.generation, self.offsets) = (groupId, memberId, generation, offsets)
    }
}

/// A member's heartbeat under the consumer protocol (KIP-848), topics by name. Fields that are
/// `nil` (or -1) did not change since the member's last heartbeat.
public struct ConsumerHeartbeat: Sendable, Equatable {
    public var groupId: String
    /// Empty on a first heartbeat of ConsumerGroupHeartbeat v0 (the coordinator names the member).
    public var memberId: String
    /// 0 joins, -1 leaves, -2 leaves for a while (a static member coming back).
    public var memberEpoch: Int32
    public var instanceId: String?
    public var rackId: String?
    public var clientId: String
    public var rebalanceTimeoutMs: Int32
    public var subscribedTopicNames: [String]?
    public var subscribedTopicRegex: String?
    public var serverAssignor: String?
    /// The partitions the member owns (has not yet given up).
    public var ownedPartitions: Set<TopicPartition>?

    public init(groupId: String, memberId: String, memberEpoch: Int32, instanceId: String? = nil, rackId: String? = nil,
                clientId: String = "", rebalanceTimeoutMs: Int32 = -1, subscribedTopicNames: [String]? = nil,
                subscribedTopicRegex: String? = nil, serverAssignor: String? = nil, ownedPartitions: Set<TopicPartition>? = nil) {
        (self.groupId, self.memberId, self.memberEpoch, self.instanceId, self.rackId, self.clientId) =
            (groupId, memberId, memberEpoch, instanceId, rackId, clientId)
        (self.rebalanceTimeoutMs, self.subscribedTopicNames, self.subscribedTopicRegex) = (rebalanceTimeoutMs, subscribedTopicNames, subscribedTopicRegex)
        (self.serverAssignor, self.ownedPartitions) = (serverAssignor, ownedPartitions)
    }
}

/// What a member is told in answer to its heartbeat.
public struct ConsumerHeartbeatResult: Sendable, Equatable {
    public var error: GroupError?
    public var memberId: String
    public var memberEpoch: Int32
    public var heartbeatIntervalMs: Int32
    /// The partitions the member may consume now; `nil` when unchanged since it was last told.
    public var assignment: Set<TopicPartition>?

    public init(error: GroupError? = nil, memberId: String, memberEpoch: Int32 = -1, heartbeatIntervalMs: Int32 = 0,
                assignment: Set<TopicPartition>? = nil) {
        (self.error, self.memberId, self.memberEpoch, self.heartbeatIntervalMs, self.assignment) =
            (error, memberId, memberEpoch, heartbeatIntervalMs, assignment)
    }
}

/// A consumer-protocol group (KIP-848) as ConsumerGroupDescribe shows it.
public struct ConsumerGroupDescription: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var instanceId: String?
        public var rackId: String?
        public var epoch: Int32
        public var clientId: String
        public var subscribedNames: [String]
        public var subscribedRegex: String?
        /// What the member owns now, and the target it moves to.
        public var assigned: [TopicPartition]
        public var target: [TopicPartition]
    }

    public var groupId: String
    public var state: String
    public var groupEpoch: Int32
    public var assignmentEpoch: Int32
    public var assignor: String
    public var members: [Member]
}
