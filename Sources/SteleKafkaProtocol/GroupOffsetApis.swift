import NIOCore

// Committed offsets of consumer groups: OffsetCommit 0–9 and OffsetFetch 0–9.

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
    /// The generation of a classic group, or the member epoch in a consumer-protocol group.
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
        // v0 has no generation or member: a commit from outside any group.
        let generation = version >= 1 ? try decoder.int32("generation") : -1
        let member = version >= 1 ? try decoder.string("member id") : ""
        if version >= 7 { _ = try decoder.nullableString("group instance id") }
        if version >= 2 && version <= 4 { _ = try decoder.int64("retention time") }
        let topics = try decoder.array("topics") { decoder in
            let topic = (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                let offset = try decoder.int64("offset")
                let epoch = version >= 6 ? try decoder.int32("leader epoch") : -1
                // v1 only: the commit time; Stele stamps commits itself (as Kafka does for -1).
                if version == 1 { _ = try decoder.int64("commit timestamp") }
                let committed = Partition(partition: partition, offset: offset, leaderEpoch: epoch, metadata: try decoder.nullableString("metadata"))
                try decoder.taggedFields()
                return committed
            })
            try decoder.taggedFields()
            return topic
        }
        try decoder.taggedFields()
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
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

/// OffsetFetch (key 9). Up to v7 it names one group; v8 (KIP-709) several, each answered
/// alone; v9 (KIP-848) a consumer-protocol member names itself and its epoch.
public struct OffsetFetchRequest: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var groupId: String
        /// v9: the member asking and its epoch (`nil`/-1: not a member, e.g. a tool).
        public var memberId: String?
        public var memberEpoch: Int32
        /// `nil`: every partition the group committed (v2+).
        public var topics: [(name: String, partitions: [Int32])]?

        public init(groupId: String, memberId: String? = nil, memberEpoch: Int32 = -1, topics: [(name: String, partitions: [Int32])]?) {
            (self.groupId, self.memberId, self.memberEpoch, self.topics) = (groupId, memberId, memberEpoch, topics)
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.groupId == rhs.groupId && lhs.memberId == rhs.memberId && lhs.memberEpoch == rhs.memberEpoch
                && (lhs.topics == nil) == (rhs.topics == nil)
                && (lhs.topics ?? []).elementsEqual(rhs.topics ?? []) { $0.name == $1.name && $0.partitions == $1.partitions }
        }
    }

    public var groups: [Group]
    /// v7+: wait for pending transactional offsets. Stele has no transactions yet, so no offset
    /// is ever pending and every answer is stable.
    public var requireStable: Bool

    public init(groups: [Group], requireStable: Bool = false) { (self.groups, self.requireStable) = (groups, requireStable) }

    /// One group (versions before 8).
    public init(groupId: String, topics: [(name: String, partitions: [Int32])]?) {
        self.init(groups: [Group(groupId: groupId, topics: topics)])
    }

    public var groupId: String { groups.first?.groupId ?? "" }
    public var topics: [(name: String, partitions: [Int32])]? { groups.first?.topics }

    private static func decodeTopics(_ decoder: inout KafkaDecoder) throws -> [(name: String, partitions: [Int32])]? {
        try decoder.nullableArray("topics") { decoder in
            let topic = (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { try $0.int32("partition") })
            try decoder.taggedFields()
            return topic
        }
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var request: Self
        if version >= 8 {
            request = Self(groups: try decoder.array("groups") { decoder in
                let id = try decoder.string("group id")
                let member = version >= 9 ? try decoder.nullableString("member id") : nil
                let epoch = version >= 9 ? try decoder.int32("member epoch") : -1
                let group = Group(groupId: id, memberId: member, memberEpoch: epoch, topics: try decodeTopics(&decoder))
                try decoder.taggedFields()
                return group
            })
        } else {
            request = Self(groups: [Group(groupId: try decoder.string("group id"), topics: try decodeTopics(&decoder))])
        }
        if version >= 7 { request.requireStable = try decoder.bool("require stable") }
        try decoder.taggedFields()
        return request
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

    public struct Group: Sendable {
        public var groupId: String
        public var topics: [(name: String, partitions: [Partition])]
        public var errorCode: KafkaErrorCode

        public init(groupId: String, topics: [(name: String, partitions: [Partition])], errorCode: KafkaErrorCode = .none) {
            (self.groupId, self.topics, self.errorCode) = (groupId, topics, errorCode)
        }
    }

    /// One per group asked; versions before 8 carry the first only.
    public var groups: [Group]

    public init(groups: [Group]) { self.groups = groups }

    /// One group (versions before 8).
    public init(topics: [(name: String, partitions: [Partition])], errorCode: KafkaErrorCode = .none) {
        self.init(groups: [Group(groupId: "", topics: topics, errorCode: errorCode)])
    }

    public var topics: [(name: String, partitions: [Partition])] { groups.first?.topics ?? [] }
    public var errorCode: KafkaErrorCode { groups.first?.errorCode ?? .none }

    private static func encode(_ topics: [(name: String, partitions: [Partition])], _ encoder: inout KafkaEncoder, version: Int16) {
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int64(partition.offset)
                if version >= 5 { encoder.int32(partition.leaderEpoch) }
                encoder.nullableString(partition.metadata)
                encoder.int16(partition.errorCode.rawValue)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 3 { encoder.int32(0) }
        if version >= 8 {
            encoder.array(groups) { encoder, group in
                encoder.string(group.groupId)
                Self.encode(group.topics, &encoder, version: version)
                encoder.int16(group.errorCode.rawValue)
                encoder.taggedFields()
            }
        } else {
            Self.encode(topics, &encoder, version: version)
            if version >= 2 { encoder.int16(errorCode.rawValue) }
        }
        encoder.taggedFields()
    }
}
