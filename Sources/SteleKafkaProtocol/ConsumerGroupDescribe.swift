import NIOCore

/// ConsumerGroupDescribe (key 69), version 0 (KIP-848): what DescribeGroups shows of a
/// consumer-protocol group, in that protocol's terms — epochs, each member's assignment and the
/// target it moves to. A classic group is GROUP_ID_NOT_FOUND here (clients then ask
/// DescribeGroups), as in Kafka.
public struct ConsumerGroupDescribeRequest: Sendable, Equatable {
    public var groupIds: [String]
    public var includeAuthorizedOperations: Bool

    public init(groupIds: [String], includeAuthorizedOperations: Bool = false) {
        (self.groupIds, self.includeAuthorizedOperations) = (groupIds, includeAuthorizedOperations)
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let ids = try decoder.array("group ids") { try $0.string("group id") }
        let include = try decoder.bool("include authorized operations")
        try decoder.taggedFields()
        return Self(groupIds: ids, includeAuthorizedOperations: include)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.array(groupIds) { $0.string($1) }
        encoder.bool(includeAuthorizedOperations)
        encoder.taggedFields()
    }
}

public struct ConsumerGroupDescribeResponse: Sendable, Equatable {
    public struct TopicPartitions: Sendable, Equatable {
        /// 16 bytes.
        public var topicId: [UInt8]
        public var topicName: String
        public var partitions: [Int32]
        public init(topicId: [UInt8], topicName: String, partitions: [Int32]) {
            (self.topicId, self.topicName, self.partitions) = (topicId, topicName, partitions)
        }
    }

    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var instanceId: String?
        public var rackId: String?
        public var memberEpoch: Int32
        public var clientId: String
        public var clientHost: String
        public var subscribedTopicNames: [String]
        public var subscribedTopicRegex: String?
        public var assignment: [TopicPartitions]
        public var targetAssignment: [TopicPartitions]

        public init(memberId: String, instanceId: String?, rackId: String?, memberEpoch: Int32, clientId: String, clientHost: String,
                    subscribedTopicNames: [String], subscribedTopicRegex: String?, assignment: [TopicPartitions], targetAssignment: [TopicPartitions]) {
            (self.memberId, self.instanceId, self.rackId, self.memberEpoch, self.clientId, self.clientHost) =
                (memberId, instanceId, rackId, memberEpoch, clientId, clientHost)
            (self.subscribedTopicNames, self.subscribedTopicRegex, self.assignment, self.targetAssignment) =
                (subscribedTopicNames, subscribedTopicRegex, assignment, targetAssignment)
        }
    }

    public struct Group: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?
        public var groupId: String
        public var state: String
        public var groupEpoch: Int32
        public var assignmentEpoch: Int32
        public var assignorName: String
        public var members: [Member]

        public init(errorCode: KafkaErrorCode, errorMessage: String? = nil, groupId: String, state: String = "", groupEpoch: Int32 = -1,
                    assignmentEpoch: Int32 = -1, assignorName: String = "", members: [Member] = []) {
            (self.errorCode, self.errorMessage, self.groupId, self.state) = (errorCode, errorMessage, groupId, state)
            (self.groupEpoch, self.assignmentEpoch, self.assignorName, self.members) = (groupEpoch, assignmentEpoch, assignorName, members)
        }
    }

    public var groups: [Group]

    public init(groups: [Group]) { self.groups = groups }

    private static func encode(_ assignment: [TopicPartitions], _ encoder: inout KafkaEncoder) {
        encoder.array(assignment) { encoder, topic in
            encoder.uuid(topic.topicId)
            encoder.string(topic.topicName)
            encoder.array(topic.partitions) { $0.int32($1) }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }

    private static func decodeAssignment(_ decoder: inout KafkaDecoder) throws -> [TopicPartitions] {
        let topics = try decoder.array("topic partitions") { decoder in
            let topic = TopicPartitions(topicId: try decoder.uuid("topic id"), topicName: try decoder.string("topic name"),
                                        partitions: try decoder.array("partitions") { try $0.int32("partition") })
            try decoder.taggedFields()
            return topic
        }
        try decoder.taggedFields()
        return topics
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(groups) { encoder, group in
            encoder.int16(group.errorCode.rawValue)
            encoder.nullableString(group.errorMessage)
            encoder.string(group.groupId)
            encoder.string(group.state)
            encoder.int32(group.groupEpoch)
            encoder.int32(group.assignmentEpoch)
            encoder.string(group.assignorName)
            encoder.array(group.members) { encoder, member in
                encoder.string(member.memberId)
                encoder.nullableString(member.instanceId)
                encoder.nullableString(member.rackId)
                encoder.int32(member.memberEpoch)
                encoder.string(member.clientId)
                encoder.string(member.clientHost)
                encoder.array(member.subscribedTopicNames) { $0.string($1) }
                encoder.nullableString(member.subscribedTopicRegex)
                Self.encode(member.assignment, &encoder)
                Self.encode(member.targetAssignment, &encoder)
                encoder.taggedFields()
            }
            // Authorized operations are not computed (Kafka's "not requested" value).
            encoder.int32(Int32.min)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        _ = try decoder.int32("throttle")
        let groups = try decoder.array("groups") { decoder in
            var group = Group(errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError,
                              errorMessage: try decoder.nullableString("error message"), groupId: try decoder.string("group id"))
            group.state = try decoder.string("state")
            group.groupEpoch = try decoder.int32("group epoch")
            group.assignmentEpoch = try decoder.int32("assignment epoch")
            group.assignorName = try decoder.string("assignor")
            group.members = try decoder.array("members") { decoder in
                let id = try decoder.string("member id"), instance = try decoder.nullableString("instance id")
                let rack = try decoder.nullableString("rack id"), epoch = try decoder.int32("member epoch")
                let client = try decoder.string("client id"), host = try decoder.string("client host")
                let names = try decoder.array("subscribed topic names") { try $0.string("topic") }
                let regex = try decoder.nullableString("subscribed topic regex")
                let member = Member(memberId: id, instanceId: instance, rackId: rack, memberEpoch: epoch, clientId: client, clientHost: host,
                                    subscribedTopicNames: names, subscribedTopicRegex: regex,
                                    assignment: try decodeAssignment(&decoder), targetAssignment: try decodeAssignment(&decoder))
                try decoder.taggedFields()
                return member
            }
            _ = try decoder.int32("authorized operations")
            try decoder.taggedFields()
            return group
        }
        try decoder.taggedFields()
        return Self(groups: groups)
    }
}
