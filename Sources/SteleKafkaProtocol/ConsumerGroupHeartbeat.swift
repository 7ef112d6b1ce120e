import NIOCore

// ConsumerGroupHeartbeat (68, v0–1, flexible; KIP-848): the consumer rebalance protocol of
// Kafka 4.0. A member joins, stays and leaves by heartbeats alone; the coordinator computes the
// assignment and hands each member its partitions, by topic id, as the previous owners release
// them. librdkafka 2.4+ sends it with `group.protocol=consumer`.

/// Partitions named by topic id, as KIP-848 carries them.
public struct TopicIdPartitions: Sendable, Equatable {
    public var topicId: [UInt8]
    public var partitions: [Int32]

    public init(topicId: [UInt8], partitions: [Int32]) { (self.topicId, self.partitions) = (topicId, partitions) }

    static func decode(_ decoder: inout KafkaDecoder) throws -> Self {
        let id = try decoder.uuid("topic id")
        let partitions = try decoder.array("partitions") { try $0.int32("partition") }
        try decoder.taggedFields()
        return Self(topicId: id, partitions: partitions)
    }

    func encode(_ encoder: inout KafkaEncoder) {
        encoder.uuid(topicId)
        encoder.array(partitions) { $0.int32($1) }
        encoder.taggedFields()
    }
}

public struct ConsumerGroupHeartbeatRequest: Sendable, Equatable {
    public var groupId: String
    /// v0: empty on the first heartbeat (the coordinator names the member). v1: the client's own
    /// id, a UUID, from the first heartbeat on.
    public var memberId: String
    /// 0 to join, -1 to leave, -2 for a static member that will come back; else the member's epoch.
    public var memberEpoch: Int32
    /// Fields below are `nil` (or -1) when unchanged since the member's last heartbeat.
    public var instanceId: String?
    public var rackId: String?
    public var rebalanceTimeoutMs: Int32
    public var subscribedTopicNames: [String]?
    public var subscribedTopicRegex: String?
    public var serverAssignor: String?
    /// The partitions the member owns now.
    public var ownedPartitions: [TopicIdPartitions]?

    public init(groupId: String, memberId: String, memberEpoch: Int32, instanceId: String? = nil, rackId: String? = nil,
                rebalanceTimeoutMs: Int32 = -1, subscribedTopicNames: [String]? = nil, subscribedTopicRegex: String? = nil,
                serverAssignor: String? = nil, ownedPartitions: [TopicIdPartitions]? = nil) {
        (self.groupId, self.memberId, self.memberEpoch, self.instanceId, self.rackId) = (groupId, memberId, memberEpoch, instanceId, rackId)
        (self.rebalanceTimeoutMs, self.subscribedTopicNames, self.subscribedTopicRegex) = (rebalanceTimeoutMs, subscribedTopicNames, subscribedTopicRegex)
        (self.serverAssignor, self.ownedPartitions) = (serverAssignor, ownedPartitions)
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let group = try decoder.string("group id")
        let member = try decoder.string("member id")
        let epoch = try decoder.int32("member epoch")
        let instance = try decoder.nullableString("instance id")
        let rack = try decoder.nullableString("rack id")
        let rebalance = try decoder.int32("rebalance timeout")
        let names = try decoder.nullableArray("subscribed topic names") { try $0.string("topic name") }
        let regex = version >= 1 ? try decoder.nullableString("subscribed topic regex") : nil
        let assignor = try decoder.nullableString("server assignor")
        let owned = try decoder.nullableArray("topic partitions") { try TopicIdPartitions.decode(&$0) }
        try decoder.taggedFields()
        return Self(groupId: group, memberId: member, memberEpoch: epoch, instanceId: instance, rackId: rack, rebalanceTimeoutMs: rebalance,
                    subscribedTopicNames: names, subscribedTopicRegex: regex, serverAssignor: assignor, ownedPartitions: owned)
    }

    /// The request as a client writes it (tests and the fuzz corpus).
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.string(groupId)
        encoder.string(memberId)
        encoder.int32(memberEpoch)
        encoder.nullableString(instanceId)
        encoder.nullableString(rackId)
        encoder.int32(rebalanceTimeoutMs)
        encoder.array(subscribedTopicNames) { $0.string($1) }
        if version >= 1 { encoder.nullableString(subscribedTopicRegex) }
        encoder.nullableString(serverAssignor)
        encoder.array(ownedPartitions) { $1.encode(&$0) }
        encoder.taggedFields()
    }
}

public struct ConsumerGroupHeartbeatResponse: Sendable, Equatable {
    public var throttleTimeMs: Int32
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    public var memberId: String?
    public var memberEpoch: Int32
    public var heartbeatIntervalMs: Int32
    /// `nil` when the member's assignment did not change since it last heard it.
    public var assignment: [TopicIdPartitions]?

    public init(throttleTimeMs: Int32 = 0, errorCode: KafkaErrorCode = .none, errorMessage: String? = nil, memberId: String? = nil,
                memberEpoch: Int32 = -1, heartbeatIntervalMs: Int32 = 0, assignment: [TopicIdPartitions]? = nil) {
        (self.throttleTimeMs, self.errorCode, self.errorMessage, self.memberId) = (throttleTimeMs, errorCode, errorMessage, memberId)
        (self.memberEpoch, self.heartbeatIntervalMs, self.assignment) = (memberEpoch, heartbeatIntervalMs, assignment)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(throttleTimeMs)
        encoder.int16(errorCode.rawValue)
        encoder.nullableString(errorMessage)
        encoder.nullableString(memberId)
        encoder.int32(memberEpoch)
        encoder.int32(heartbeatIntervalMs)
        // A nullable struct: -1 for null, 1 then its fields.
        if let assignment {
            encoder.int8(1)
            encoder.array(assignment) { $1.encode(&$0) }
            encoder.taggedFields()
        } else {
            encoder.int8(-1)
        }
        encoder.taggedFields()
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var response = Self(throttleTimeMs: try decoder.int32("throttle time"))
        response.errorCode = KafkaErrorCode(rawValue: try decoder.int16("error code")) ?? .unknownServerError
        response.errorMessage = try decoder.nullableString("error message")
        response.memberId = try decoder.nullableString("member id")
        response.memberEpoch = try decoder.int32("member epoch")
        response.heartbeatIntervalMs = try decoder.int32("heartbeat interval")
        if try decoder.int8("assignment presence") >= 0 {
            response.assignment = try decoder.array("topic partitions") { try TopicIdPartitions.decode(&$0) }
            try decoder.taggedFields()
        }
        try decoder.taggedFields()
        return response
    }
}
