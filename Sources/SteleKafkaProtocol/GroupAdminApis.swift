import NIOCore

// Group administration: ListGroups 0–5, DescribeGroups 0–5, DeleteGroups 0–2, OffsetDelete 0
// (tagged-field sections are written and read only in flexible versions). Each has a client-side encoder/decoder too, for `stele groups`.

/// ListGroups (key 16). v4 filters by state (KIP-518), v5 by type (KIP-848: classic or consumer).
public struct ListGroupsRequest: Sendable, Equatable {
    /// Group states to list, compared ignoring case; empty lists all.
    public var statesFilter: [String]
    /// Group types ("classic", "consumer") to list, compared ignoring case; empty lists all.
    public var typesFilter: [String]

    public init(statesFilter: [String] = [], typesFilter: [String] = []) { (self.statesFilter, self.typesFilter) = (statesFilter, typesFilter) }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let states = version >= 4 ? try decoder.array("states filter") { try $0.string("state") } : []
        let types = version >= 5 ? try decoder.array("types filter") { try $0.string("type") } : []
        try decoder.taggedFields()
        return Self(statesFilter: states, typesFilter: types)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 4 { encoder.array(statesFilter) { $0.string($1) } }
        if version >= 5 { encoder.array(typesFilter) { $0.string($1) } }
        encoder.taggedFields()
    }
}

public struct ListGroupsResponse: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var groupId: String
        public var protocolType: String
        /// v4+: Kafka's state name (Empty, Stable, PreparingRebalance, Assigning, …).
        public var state: String
        /// v5+: "classic" or "consumer".
        public var type: String
        public init(groupId: String, protocolType: String, state: String = "", type: String = "") {
            (self.groupId, self.protocolType, self.state, self.type) = (groupId, protocolType, state, type)
        }
    }

    public var errorCode: KafkaErrorCode
    public var groups: [Group]

    public init(errorCode: KafkaErrorCode = .none, groups: [Group]) { (self.errorCode, self.groups) = (errorCode, groups) }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        encoder.int16(errorCode.rawValue)
        encoder.array(groups) { encoder, group in
            encoder.string(group.groupId)
            encoder.string(group.protocolType)
            if version >= 4 { encoder.string(group.state) }
            if version >= 5 { encoder.string(group.type) }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        if version >= 1 { _ = try decoder.int32("throttle") }
        let error = KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError
        let groups = try decoder.array("groups") { decoder in
            var group = Group(groupId: try decoder.string("group id"), protocolType: try decoder.string("protocol type"))
            if version >= 4 { group.state = try decoder.string("state") }
            if version >= 5 { group.type = try decoder.string("type") }
            try decoder.taggedFields()
            return group
        }
        try decoder.taggedFields()
        return Self(errorCode: error, groups: groups)
    }
}

public struct DescribeGroupsRequest: Sendable, Equatable {
    public var groups: [String]
    public init(groups: [String]) { self.groups = groups }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let groups = try decoder.array("groups") { try $0.string("group id") }
        if version >= 3 { _ = try decoder.bool("include authorized operations") }
        try decoder.taggedFields()
        return Self(groups: groups)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.array(groups) { $0.string($1) }
        if version >= 3 { encoder.bool(false) }
        encoder.taggedFields()
    }
}

public struct DescribeGroupsResponse: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var metadata: [UInt8]
        public var assignment: [UInt8]
        public init(memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, metadata: [UInt8], assignment: [UInt8]) {
            (self.memberId, self.groupInstanceId, self.clientId, self.clientHost, self.metadata, self.assignment) =
                (memberId, groupInstanceId, clientId, clientHost, metadata, assignment)
        }
    }

    public struct Group: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var groupId: String
        public var state: String
        public var protocolType: String
        public var protocolName: String
        public var members: [Member]
        public init(errorCode: KafkaErrorCode, groupId: String, state: String, protocolType: String, protocolName: String, members: [Member]) {
            (self.errorCode, self.groupId, self.state, self.protocolType, self.protocolName, self.members) =
                (errorCode, groupId, state, protocolType, protocolName, members)
        }
    }

    public var groups: [Group]
    public init(groups: [Group]) { self.groups = groups }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(0) }
        encoder.array(groups) { encoder, group in
            encoder.int16(group.errorCode.rawValue)
            encoder.string(group.groupId)
            encoder.string(group.state)
            encoder.string(group.protocolType)
            encoder.string(group.protocolName)
            encoder.array(group.members) { encoder, member in
                encoder.string(member.memberId)
                if version >= 4 { encoder.nullableString(member.groupInstanceId) }
                encoder.string(member.clientId)
                encoder.string(member.clientHost)
                encoder.nullableBytes(member.metadata)
                encoder.nullableBytes(member.assignment)
                encoder.taggedFields()
            }
            if version >= 3 { encoder.int32(Int32.min) }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        if version >= 1 { _ = try decoder.int32("throttle") }
        let groups = try decoder.array("groups") { decoder in
            let error = KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError
            let id = try decoder.string("group id"), state = try decoder.string("state")
            let type = try decoder.string("protocol type"), name = try decoder.string("protocol")
            let members = try decoder.array("members") { decoder in
                let memberId = try decoder.string("member id")
                let instance = version >= 4 ? try decoder.nullableString("instance id") : nil
                let member = Member(memberId: memberId, groupInstanceId: instance, clientId: try decoder.string("client id"),
                                    clientHost: try decoder.string("client host"),
                                    metadata: Array(try decoder.bytes("metadata").readableBytesView),
                                    assignment: Array(try decoder.bytes("assignment").readableBytesView))
                try decoder.taggedFields()
                return member
            }
            if version >= 3 { _ = try decoder.int32("authorized operations") }
            try decoder.taggedFields()
            return Group(errorCode: error, groupId: id, state: state, protocolType: type, protocolName: name, members: members)
        }
        try decoder.taggedFields()
        return Self(groups: groups)
    }
}

public struct DeleteGroupsRequest: Sendable, Equatable {
    public var groups: [String]
    public init(groups: [String]) { self.groups = groups }
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let groups = try decoder.array("groups") { try $0.string("group id") }
        try decoder.taggedFields()
        return Self(groups: groups)
    }
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.array(groups) { $0.string($1) }
        encoder.taggedFields()
    }
}

public struct DeleteGroupsResponse: Sendable, Equatable {
    public var results: [(groupId: String, errorCode: KafkaErrorCode)]
    public init(results: [(groupId: String, errorCode: KafkaErrorCode)]) { self.results = results }
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.results.elementsEqual(rhs.results) { $0.groupId == $1.groupId && $0.errorCode == $1.errorCode }
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(results) { encoder, result in
            encoder.string(result.groupId)
            encoder.int16(result.errorCode.rawValue)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        _ = try decoder.int32("throttle")
        let results = try decoder.array("results") { decoder in
            let result = (groupId: try decoder.string("group id"), errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError)
            try decoder.taggedFields()
            return result
        }
        try decoder.taggedFields()
        return Self(results: results)
    }
}

public struct OffsetDeleteRequest: Sendable, Equatable {
    public var groupId: String
    public var topics: [(name: String, partitions: [Int32])]
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.groupId == rhs.groupId && lhs.topics.elementsEqual(rhs.topics) { $0.name == $1.name && $0.partitions == $1.partitions }
    }
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        Self(groupId: try decoder.string("group id"), topics: try decoder.array("topics") { decoder in
            (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { try $0.int32("partition") })
        })
    }
}

/// OffsetDelete's response: a top-level error, then per-partition errors.
public struct OffsetDeleteResponse: Sendable {
    public var errorCode: KafkaErrorCode
    public var partitions: PartitionErrorsResponse
    public init(errorCode: KafkaErrorCode, partitions: PartitionErrorsResponse) { (self.errorCode, self.partitions) = (errorCode, partitions) }
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int16(errorCode.rawValue)
        partitions.encode(&encoder, version: version, throttleFrom: 0)
    }
}
