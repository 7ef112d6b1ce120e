import NIOCore

// Consumer-group APIs, classic versions (kafka-protocol.md §1.7, §4): FindCoordinator 0–2,
// JoinGroup 0–5, SyncGroup 0–3, Heartbeat 0–3, LeaveGroup 0–3, OffsetCommit 2–7, OffsetFetch 1–5.

public struct FindCoordinatorRequest: Sendable, Equatable {
    public var key: String
    public var keyType: Int8

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        Self(key: try decoder.string("coordinator key"), keyType: version >= 1 ? try decoder.int8("key type") : 0)
    }
}

public struct FindCoordinatorResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var nodeId: Int32
    public var host: String
    public var port: Int32

    public init(errorCode: KafkaErrorCode, nodeId: Int32, host: String, port: Int32) {
        (self.errorCode, self.nodeId, self.host, self.port) = (errorCode, nodeId, host, port)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
        if version >= 1 { encoder.nullableString(nil) }
        encoder.int32(nodeId)
        encoder.string(host)
        encoder.int32(port)
    }
}

public struct JoinGroupRequest: Sendable, Equatable {
    public struct ProtocolChoice: Sendable, Equatable {
        public var name: String
        public var metadata: [UInt8]
        public init(name: String, metadata: [UInt8]) { (self.name, self.metadata) = (name, metadata) }
    }

    public var groupId: String
    public var sessionTimeoutMs: Int32
    public var rebalanceTimeoutMs: Int32
    public var memberId: String
    public var groupInstanceId: String?
    public var protocolType: String
    public var protocols: [ProtocolChoice]

    public init(groupId: String, sessionTimeoutMs: Int32, rebalanceTimeoutMs: Int32, memberId: String,
                groupInstanceId: String? = nil, protocolType: String, protocols: [ProtocolChoice]) {
        (self.groupId, self.sessionTimeoutMs, self.rebalanceTimeoutMs, self.memberId) = (groupId, sessionTimeoutMs, rebalanceTimeoutMs, memberId)
        (self.groupInstanceId, self.protocolType, self.protocols) = (groupInstanceId, protocolType, protocols)
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let group = try decoder.string("group id")
        let session = try decoder.int32("session timeout")
        // JoinGroup v0 has no rebalance timeout: Kafka uses the session timeout (§4.3).
        let rebalance = version >= 1 ? try decoder.int32("rebalance timeout") : session
        let member = try decoder.string("member id")
        let instance = version >= 5 ? try decoder.nullableString("group instance id") : nil
        let type = try decoder.string("protocol type")
        let protocols = try decoder.array("protocols") { decoder in
            ProtocolChoice(name: try decoder.string("protocol name"), metadata: Array(try decoder.bytes("protocol metadata").readableBytesView))
        }
        return Self(groupId: group, sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberId: member,
                    groupInstanceId: instance, protocolType: type, protocols: protocols)
    }
}

public struct JoinGroupResponse: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var metadata: [UInt8]
        public init(memberId: String, groupInstanceId: String?, metadata: [UInt8]) {
            (self.memberId, self.groupInstanceId, self.metadata) = (memberId, groupInstanceId, metadata)
        }
    }

    public var errorCode: KafkaErrorCode
    public var generationId: Int32
    public var protocolName: String
    public var leader: String
    public var memberId: String
    public var members: [Member]

    public init(errorCode: KafkaErrorCode, generationId: Int32 = -1, protocolName: String = "", leader: String = "",
                memberId: String, members: [Member] = []) {
        (self.errorCode, self.generationId, self.protocolName, self.leader, self.memberId, self.members) =
            (errorCode, generationId, protocolName, leader, memberId, members)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 2 { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
        encoder.int32(generationId)
        encoder.string(protocolName)
        encoder.string(leader)
        encoder.string(memberId)
        encoder.array(members) { encoder, member in
            encoder.string(member.memberId)
            if version >= 5 { encoder.nullableString(member.groupInstanceId) }
            encoder.nullableBytes(member.metadata)
        }
    }
}

public struct SyncGroupRequest: Sendable, Equatable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    public var groupInstanceId: String?
    public var assignments: [(memberId: String, assignment: [UInt8])]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.groupId == rhs.groupId && lhs.generationId == rhs.generationId && lhs.memberId == rhs.memberId
            && lhs.assignments.elementsEqual(rhs.assignments) { $0.memberId == $1.memberId && $0.assignment == $1.assignment }
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let group = try decoder.string("group id")
        let generation = try decoder.int32("generation")
        let member = try decoder.string("member id")
        let instance = version >= 3 ? try decoder.nullableString("group instance id") : nil
        let assignments = try decoder.array("assignments") { decoder in
            (memberId: try decoder.string("member id"), assignment: Array(try decoder.bytes("assignment").readableBytesView))
        }
        return Self(groupId: group, generationId: generation, memberId: member, groupInstanceId: instance, assignments: assignments)
    }
}

public struct SyncGroupResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var assignment: [UInt8]

    public init(errorCode: KafkaErrorCode, assignment: [UInt8] = []) { (self.errorCode, self.assignment) = (errorCode, assignment) }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
        encoder.nullableBytes(assignment)
    }
}

public struct HeartbeatRequest: Sendable, Equatable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let request = Self(groupId: try decoder.string("group id"), generationId: try decoder.int32("generation"), memberId: try decoder.string("member id"))
        if version >= 3 { _ = try decoder.nullableString("group instance id") }
        return request
    }
}

/// Responses that are just an error code (Heartbeat; LeaveGroup v0–2).
public struct ErrorOnlyResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public init(_ errorCode: KafkaErrorCode) { self.errorCode = errorCode }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16, throttleFrom: Int16 = 1) {
        if version >= throttleFrom { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
    }
}

public struct LeaveGroupRequest: Sendable, Equatable {
    public var groupId: String
    public var memberIds: [String]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let group = try decoder.string("group id")
        if version <= 2 { return Self(groupId: group, memberIds: [try decoder.string("member id")]) }
        let members = try decoder.array("members") { decoder in
            let id = try decoder.string("member id")
            _ = try decoder.nullableString("group instance id")
            return id
        }
        return Self(groupId: group, memberIds: members)
    }
}

public struct LeaveGroupResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var members: [(memberId: String, errorCode: KafkaErrorCode)]

    public init(errorCode: KafkaErrorCode, members: [(memberId: String, errorCode: KafkaErrorCode)]) {
        (self.errorCode, self.members) = (errorCode, members)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.errorCode == rhs.errorCode && lhs.members.elementsEqual(rhs.members) { $0.memberId == $1.memberId && $0.errorCode == $1.errorCode }
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
        if version >= 3 {
            encoder.array(members) { encoder, member in
                encoder.string(member.memberId)
                encoder.nullableString(nil)
                encoder.int16(member.errorCode.rawValue)
            }
        }
    }
}

public struct OffsetCommitRequest: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var partition: Int32
        public var offset: Int64
        public var leaderEpoch: Int32
        public var metadata: String?

        public init(partition: Int32, offset: Int64, leaderEpoch: Int32, metadata: String?) {
            (self.partition, self.offset, self.leaderEpoch, self.metadata) = (partition, offset, leaderEpoch, metadata)
        }
    }

    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    public var topics: [(name: String, partitions: [Partition])]

    public init(groupId: String, generationId: Int32, memberId: String, topics: [(name: String, partitions: [Partition])]) {
        (self.groupId, self.generationId, self.memberId, self.topics) = (groupId, generationId, memberId, topics)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.groupId == rhs.groupId && lhs.generationId == rhs.generationId && lhs.memberId == rhs.memberId
            && lhs.topics.elementsEqual(rhs.topics) { $0.name == $1.name && $0.partitions == $1.partitions }
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let group = try decoder.string("group id")
        let generation = try decoder.int32("generation")
        let member = try decoder.string("member id")
        if version >= 7 { _ = try decoder.nullableString("group instance id") }
        if version >= 2 && version <= 4 { _ = try decoder.int64("retention time") }
        let topics = try decoder.array("topics") { decoder in
            (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                let offset = try decoder.int64("offset")
                let epoch = version >= 6 ? try decoder.int32("leader epoch") : -1
                return Partition(partition: partition, offset: offset, leaderEpoch: epoch, metadata: try decoder.nullableString("metadata"))
            })
        }
        return Self(groupId: group, generationId: generation, memberId: member, topics: topics)
    }
}

/// Per-partition error codes (OffsetCommit response; also OffsetDelete's shape).
public struct PartitionErrorsResponse: Sendable {
    public var topics: [(name: String, partitions: [(partition: Int32, errorCode: KafkaErrorCode)])]

    public init(topics: [(name: String, partitions: [(partition: Int32, errorCode: KafkaErrorCode)])]) { self.topics = topics }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16, throttleFrom: Int16) {
        if version >= throttleFrom { encoder.int32(0) }
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int16(partition.errorCode.rawValue)
            }
        }
    }
}

public struct OffsetFetchRequest: Sendable, Equatable {
    public var groupId: String
    /// `nil`: every partition the group committed (v2+).
    public var topics: [(name: String, partitions: [Int32])]?

    public init(groupId: String, topics: [(name: String, partitions: [Int32])]?) {
        self.groupId = groupId
        self.topics = topics
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.groupId == rhs.groupId && (lhs.topics == nil) == (rhs.topics == nil)
            && (lhs.topics ?? []).elementsEqual(rhs.topics ?? []) { $0.name == $1.name && $0.partitions == $1.partitions }
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let group = try decoder.string("group id")
        let topics = try decoder.nullableArray("topics") { decoder in
            (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { try $0.int32("partition") })
        }
        return Self(groupId: group, topics: topics)
    }
}

public struct OffsetFetchResponse: Sendable {
    public struct Partition: Sendable {
        public var partition: Int32
        public var offset: Int64
        public var leaderEpoch: Int32
        public var metadata: String?
        public var errorCode: KafkaErrorCode

        public init(partition: Int32, offset: Int64, leaderEpoch: Int32 = -1, metadata: String?, errorCode: KafkaErrorCode = .none) {
            (self.partition, self.offset, self.leaderEpoch, self.metadata, self.errorCode) = (partition, offset, leaderEpoch, metadata, errorCode)
        }
    }

    public var topics: [(name: String, partitions: [Partition])]
    public var errorCode: KafkaErrorCode

    public init(topics: [(name: String, partitions: [Partition])], errorCode: KafkaErrorCode = .none) {
        (self.topics, self.errorCode) = (topics, errorCode)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 3 { encoder.int32(0) }
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int64(partition.offset)
                if version >= 5 { encoder.int32(partition.leaderEpoch) }
                encoder.nullableString(partition.metadata)
                encoder.int16(partition.errorCode.rawValue)
            }
        }
        if version >= 2 { encoder.int16(errorCode.rawValue) }
    }
}
