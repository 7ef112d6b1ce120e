import NIOCore

// Consumer-group APIs, classic protocol (kafka-protocol.md §1.7, §4): FindCoordinator 0–4,
// JoinGroup 0–9, SyncGroup 0–5, Heartbeat 0–4, LeaveGroup 0–5 (offsets: GroupOffsetApis.swift).
// Each struct ends with a tagged-field section, written and read only in flexible versions.

/// FindCoordinator (key 10). v4 (KIP-699) asks for several keys at once and answers each.
public struct FindCoordinatorRequest: Sendable, Equatable {
    public var keys: [String]
    /// 0: a group; 1: a transactional id.
    public var keyType: Int8

    public init(keys: [String], keyType: Int8) { (self.keys, self.keyType) = (keys, keyType) }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let request: Self
        if version >= 4 {
            let type = try decoder.int8("key type")
            request = Self(keys: try decoder.array("coordinator keys") { try $0.string("coordinator key") }, keyType: type)
        } else {
            let key = try decoder.string("coordinator key")
            request = Self(keys: [key], keyType: version >= 1 ? try decoder.int8("key type") : 0)
        }
        try decoder.taggedFields()
        return request
    }
}

public struct FindCoordinatorResponse: Sendable, Equatable {
    public struct Coordinator: Sendable, Equatable {
        public var key: String
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?
        public var nodeId: Int32
        public var host: String
        public var port: Int32

        public init(key: String, errorCode: KafkaErrorCode, errorMessage: String? = nil, nodeId: Int32 = -1, host: String = "", port: Int32 = -1) {
            (self.key, self.errorCode, self.errorMessage, self.nodeId, self.host, self.port) = (key, errorCode, errorMessage, nodeId, host, port)
        }
    }

    /// One per key asked; versions before 4 carry the first only.
    public var coordinators: [Coordinator]

    public init(coordinators: [Coordinator]) { self.coordinators = coordinators }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        if version >= 4 {
            encoder.array(coordinators) { encoder, coordinator in
                encoder.string(coordinator.key)
                encoder.int32(coordinator.nodeId)
                encoder.string(coordinator.host)
                encoder.int32(coordinator.port)
                encoder.int16(coordinator.errorCode.rawValue)
                encoder.nullableString(coordinator.errorMessage)
                encoder.taggedFields()
            }
        } else {
            let coordinator = coordinators.first ?? Coordinator(key: "", errorCode: .invalidRequest)
            encoder.int16(coordinator.errorCode.rawValue)
            if version >= 1 { encoder.nullableString(coordinator.errorMessage) }
            encoder.int32(coordinator.nodeId)
            encoder.string(coordinator.host)
            encoder.int32(coordinator.port)
        }
        encoder.taggedFields()
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
    /// Why the member (re)joins (v8+, KIP-800): logged, not acted on.
    public var reason: String?

    public init(groupId: String, sessionTimeoutMs: Int32, rebalanceTimeoutMs: Int32, memberId: String,
                groupInstanceId: String? = nil, protocolType: String, protocols: [ProtocolChoice], reason: String? = nil) {
        (self.groupId, self.sessionTimeoutMs, self.rebalanceTimeoutMs, self.memberId) = (groupId, sessionTimeoutMs, rebalanceTimeoutMs, memberId)
        (self.groupInstanceId, self.protocolType, self.protocols, self.reason) = (groupInstanceId, protocolType, protocols, reason)
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
            let choice = ProtocolChoice(name: try decoder.string("protocol name"), metadata: Array(try decoder.bytes("protocol metadata").readableBytesView))
            try decoder.taggedFields()
            return choice
        }
        let reason = version >= 8 ? try decoder.nullableString("reason") : nil
        try decoder.taggedFields()
        return Self(groupId: group, sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberId: member,
                    groupInstanceId: instance, protocolType: type, protocols: protocols, reason: reason)
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
    /// v7+: the group's protocol type, so the client can check it is the one it asked for.
    public var protocolType: String?
    public var protocolName: String
    public var leader: String
    public var memberId: String
    public var members: [Member]

    public init(errorCode: KafkaErrorCode, generationId: Int32 = -1, protocolType: String? = nil, protocolName: String = "", leader: String = "",
                memberId: String, members: [Member] = []) {
        (self.errorCode, self.generationId, self.protocolType, self.protocolName, self.leader, self.memberId, self.members) =
            (errorCode, generationId, protocolType, protocolName, leader, memberId, members)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 2 { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
        encoder.int32(generationId)
        if version >= 7 {
            encoder.nullableString(protocolType)
            // Nullable from v7: an error carries no protocol (Kafka sends null there).
            encoder.nullableString(errorCode == .none ? protocolName : nil)
        } else {
            encoder.string(protocolName)
        }
        encoder.string(leader)
        // v9 (KIP-814): a static leader rejoining an unchanged group may skip assigning. Stele
        // always lets the leader assign (it lists the members then), which is always correct.
        if version >= 9 { encoder.bool(false) }
        encoder.string(memberId)
        encoder.array(members) { encoder, member in
            encoder.string(member.memberId)
            if version >= 5 { encoder.nullableString(member.groupInstanceId) }
            encoder.nullableBytes(member.metadata)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct SyncGroupRequest: Sendable, Equatable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    public var groupInstanceId: String?
    /// v5+: what the member believes the group's protocol type and name are (checked).
    public var protocolType: String?
    public var protocolName: String?
    public var assignments: [(memberId: String, assignment: [UInt8])]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.groupId == rhs.groupId && lhs.generationId == rhs.generationId && lhs.memberId == rhs.memberId
            && lhs.protocolType == rhs.protocolType && lhs.protocolName == rhs.protocolName
            && lhs.assignments.elementsEqual(rhs.assignments) { $0.memberId == $1.memberId && $0.assignment == $1.assignment }
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let group = try decoder.string("group id")
        let generation = try decoder.int32("generation")
        let member = try decoder.string("member id")
        let instance = version >= 3 ? try decoder.nullableString("group instance id") : nil
        let type = version >= 5 ? try decoder.nullableString("protocol type") : nil
        let name = version >= 5 ? try decoder.nullableString("protocol name") : nil
        let assignments = try decoder.array("assignments") { decoder in
            let assignment = (memberId: try decoder.string("member id"), assignment: Array(try decoder.bytes("assignment").readableBytesView))
            try decoder.taggedFields()
            return assignment
        }
        try decoder.taggedFields()
        return Self(groupId: group, generationId: generation, memberId: member, groupInstanceId: instance,
                    protocolType: type, protocolName: name, assignments: assignments)
    }
}

public struct SyncGroupResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    /// v5+: the group's protocol type and name.
    public var protocolType: String?
    public var protocolName: String?
    public var assignment: [UInt8]

    public init(errorCode: KafkaErrorCode, protocolType: String? = nil, protocolName: String? = nil, assignment: [UInt8] = []) {
        (self.errorCode, self.protocolType, self.protocolName, self.assignment) = (errorCode, protocolType, protocolName, assignment)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
        if version >= 5 {
            encoder.nullableString(protocolType)
            encoder.nullableString(protocolName)
        }
        encoder.nullableBytes(assignment)
        encoder.taggedFields()
    }
}

public struct HeartbeatRequest: Sendable, Equatable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let request = Self(groupId: try decoder.string("group id"), generationId: try decoder.int32("generation"), memberId: try decoder.string("member id"))
        if version >= 3 { _ = try decoder.nullableString("group instance id") }
        try decoder.taggedFields()
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
        encoder.taggedFields()
    }
}

public struct LeaveGroupRequest: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        /// v5+ (KIP-800): logged, not acted on.
        public var reason: String?
        public init(memberId: String, groupInstanceId: String? = nil, reason: String? = nil) {
            (self.memberId, self.groupInstanceId, self.reason) = (memberId, groupInstanceId, reason)
        }
    }

    public var groupId: String
    public var members: [Member]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let group = try decoder.string("group id")
        if version <= 2 { return Self(groupId: group, members: [Member(memberId: try decoder.string("member id"))]) }
        let members = try decoder.array("members") { decoder in
            let member = Member(memberId: try decoder.string("member id"), groupInstanceId: try decoder.nullableString("group instance id"),
                                reason: version >= 5 ? try decoder.nullableString("reason") : nil)
            try decoder.taggedFields()
            return member
        }
        try decoder.taggedFields()
        return Self(groupId: group, members: members)
    }
}

public struct LeaveGroupResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var members: [(memberId: String, groupInstanceId: String?, errorCode: KafkaErrorCode)]

    public init(errorCode: KafkaErrorCode, members: [(memberId: String, groupInstanceId: String?, errorCode: KafkaErrorCode)]) {
        (self.errorCode, self.members) = (errorCode, members)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.errorCode == rhs.errorCode && lhs.members.elementsEqual(rhs.members) {
            $0.memberId == $1.memberId && $0.groupInstanceId == $1.groupInstanceId && $0.errorCode == $1.errorCode
        }
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
        if version >= 3 {
            encoder.array(members) { encoder, member in
                encoder.string(member.memberId)
                encoder.nullableString(member.groupInstanceId)
                encoder.int16(member.errorCode.rawValue)
                encoder.taggedFields()
            }
        }
        encoder.taggedFields()
    }
}
