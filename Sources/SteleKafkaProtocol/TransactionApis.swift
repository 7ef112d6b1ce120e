/// The transaction APIs a transactional producer sends to its coordinator (KIP-98):
/// AddPartitionsToTxn (key 24, v0–3: v4+ is the brokers' batched form), AddOffsetsToTxn (25,
/// v0–4), EndTxn (26, v0–5), TxnOffsetCommit (28, v0–5). v3 is the first flexible version of
/// each; v4 only adds an error code clients may receive. EndTxn v5 and TxnOffsetCommit v5 are
/// KIP-890's transaction version 2: the epoch bumped at every transaction end (returned by
/// EndTxn v5), the group's offsets added to the transaction by TxnOffsetCommit itself.

/// AddPartitionsToTxn: the partitions a transaction is about to write to.
public struct AddPartitionsToTxnRequest: Sendable, Equatable {
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var topics: [(name: String, partitions: [Int32])]

    public init(transactionalId: String, producerId: Int64, producerEpoch: Int16, topics: [(name: String, partitions: [Int32])]) {
        (self.transactionalId, self.producerId, self.producerEpoch, self.topics) = (transactionalId, producerId, producerEpoch, topics)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.transactionalId == rhs.transactionalId && lhs.producerId == rhs.producerId && lhs.producerEpoch == rhs.producerEpoch
            && lhs.topics.map(\.name) == rhs.topics.map(\.name) && lhs.topics.map(\.partitions) == rhs.topics.map(\.partitions)
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let id = try decoder.string("transactional id")
        let producerId = try decoder.int64("producer id")
        let epoch = try decoder.int16("producer epoch")
        let topics = try decoder.array("topics") { decoder in
            let topic = (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { try $0.int32("partition") })
            try decoder.taggedFields()
            return topic
        }
        try decoder.taggedFields()
        return Self(transactionalId: id, producerId: producerId, producerEpoch: epoch, topics: topics)
    }
}

public struct AddPartitionsToTxnResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var partition: Int32
        public var errorCode: KafkaErrorCode
        public init(partition: Int32, errorCode: KafkaErrorCode) { (self.partition, self.errorCode) = (partition, errorCode) }
    }
    public struct Topic: Sendable, Equatable {
        public var name: String
        public var partitions: [Partition]
        public init(name: String, partitions: [Partition]) { (self.name, self.partitions) = (name, partitions) }
    }
    public var topics: [Topic]
    public init(topics: [Topic]) { self.topics = topics }

    /// The same shape as OffsetCommit's answer: a throttle time, then each topic's partition errors.
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        PartitionErrorsResponse(topics: topics.map { topic in (topic.name, topic.partitions.map { ($0.partition, $0.errorCode) }) })
            .encode(&encoder, version: version, throttleFrom: 0)
    }
}

/// AddOffsetsToTxn: the transaction will commit offsets of this group (TxnOffsetCommit follows).
public struct AddOffsetsToTxnRequest: Sendable, Equatable {
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var groupId: String

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let request = Self(transactionalId: try decoder.string("transactional id"), producerId: try decoder.int64("producer id"),
                           producerEpoch: try decoder.int16("producer epoch"), groupId: try decoder.string("group id"))
        try decoder.taggedFields()
        return request
    }
}

/// The response of AddOffsetsToTxn: a throttle time and an error code.
public struct TransactionErrorResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public init(errorCode: KafkaErrorCode) { self.errorCode = errorCode }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.taggedFields()
    }
}

/// The response of EndTxn: from v5 (transaction version 2) the producer id and epoch the
/// producer continues with — the epoch bumped by this end, or a new id once the epoch ran out.
public struct EndTxnResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1

    public init(errorCode: KafkaErrorCode, producerId: Int64 = -1, producerEpoch: Int16 = -1) {
        (self.errorCode, self.producerId, self.producerEpoch) = (errorCode, producerId, producerEpoch)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        if version >= 5 {
            encoder.int64(producerId)
            encoder.int16(producerEpoch)
        }
        encoder.taggedFields()
    }
}

/// EndTxn: commit or abort the producer's transaction.
public struct EndTxnRequest: Sendable, Equatable {
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var committed: Bool

    public init(transactionalId: String, producerId: Int64, producerEpoch: Int16, committed: Bool) {
        (self.transactionalId, self.producerId, self.producerEpoch, self.committed) = (transactionalId, producerId, producerEpoch, committed)
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let request = Self(transactionalId: try decoder.string("transactional id"), producerId: try decoder.int64("producer id"),
                           producerEpoch: try decoder.int16("producer epoch"), committed: try decoder.bool("committed"))
        try decoder.taggedFields()
        return request
    }
}

/// TxnOffsetCommit: offsets that commit with the producer's transaction.
public struct TxnOffsetCommitRequest: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var partition: Int32
        public var offset: Int64
        public var leaderEpoch: Int32
        public var metadata: String?
    }
    public struct Topic: Sendable, Equatable {
        public var name: String
        public var partitions: [Partition]
    }
    public var transactionalId: String
    public var groupId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var generationId: Int32 = -1
    public var memberId: String = ""
    public var groupInstanceId: String?
    public var topics: [Topic]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var request = Self(transactionalId: try decoder.string("transactional id"), groupId: try decoder.string("group id"),
                           producerId: try decoder.int64("producer id"), producerEpoch: try decoder.int16("producer epoch"), topics: [])
        if version >= 3 {
            request.generationId = try decoder.int32("generation id")
            request.memberId = try decoder.string("member id")
            request.groupInstanceId = try decoder.nullableString("group instance id")
        }
        request.topics = try decoder.array("topics") { decoder in
            let name = try decoder.string("topic")
            let partitions = try decoder.array("partitions") { decoder in
                let partition = Partition(partition: try decoder.int32("partition"), offset: try decoder.int64("offset"),
                                          leaderEpoch: version >= 2 ? try decoder.int32("leader epoch") : -1,
                                          metadata: try decoder.nullableString("metadata"))
                try decoder.taggedFields()
                return partition
            }
            try decoder.taggedFields()
            return Topic(name: name, partitions: partitions)
        }
        try decoder.taggedFields()
        return request
    }
}

public struct TxnOffsetCommitResponse: Sendable, Equatable {
    public var topics: [AddPartitionsToTxnResponse.Topic]
    public init(topics: [AddPartitionsToTxnResponse.Topic]) { self.topics = topics }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        AddPartitionsToTxnResponse(topics: topics).encode(&encoder, version: version)
    }
}

/// ListTransactions (key 66, v0–1, flexible): the transactional ids a coordinator knows, by
/// state, producer id and (v1) how long their transaction has been running.
public struct ListTransactionsRequest: Sendable, Equatable {
    public var stateFilters: [String]
    public var producerIdFilters: [Int64]
    /// v1+: only transactions running longer than this many milliseconds; -1: all.
    public var durationFilterMs: Int64 = -1

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var request = Self(stateFilters: try decoder.array("state filters") { try $0.string("state") },
                           producerIdFilters: try decoder.array("producer id filters") { try $0.int64("producer id") })
        if version >= 1 { request.durationFilterMs = try decoder.int64("duration filter") }
        try decoder.taggedFields()
        return request
    }
}

public struct ListTransactionsResponse: Sendable, Equatable {
    public struct State: Sendable, Equatable {
        public var transactionalId: String
        public var producerId: Int64
        public var state: String
        public init(transactionalId: String, producerId: Int64, state: String) {
            (self.transactionalId, self.producerId, self.state) = (transactionalId, producerId, state)
        }
    }
    public var errorCode: KafkaErrorCode
    public var unknownStateFilters: [String]
    public var states: [State]

    public init(errorCode: KafkaErrorCode = .none, unknownStateFilters: [String], states: [State]) {
        (self.errorCode, self.unknownStateFilters, self.states) = (errorCode, unknownStateFilters, states)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.array(unknownStateFilters) { $0.string($1) }
        encoder.array(states) { encoder, state in
            encoder.string(state.transactionalId)
            encoder.int64(state.producerId)
            encoder.string(state.state)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

/// DescribeTransactions (key 65, v0, flexible): each transactional id's state, timeout, start
/// time, producer id and epoch, and the partitions of its transaction.
public struct DescribeTransactionsRequest: Sendable, Equatable {
    public var transactionalIds: [String]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let request = Self(transactionalIds: try decoder.array("transactional ids") { try $0.string("transactional id") })
        try decoder.taggedFields()
        return request
    }
}

public struct DescribeTransactionsResponse: Sendable, Equatable {
    public struct State: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var transactionalId: String
        public var state: String = ""
        public var timeoutMs: Int32 = 0
        public var startTimeMs: Int64 = -1
        public var producerId: Int64 = -1
        public var producerEpoch: Int16 = -1
        public var topics: [(name: String, partitions: [Int32])] = []

        public init(errorCode: KafkaErrorCode, transactionalId: String) { (self.errorCode, self.transactionalId) = (errorCode, transactionalId) }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.errorCode == rhs.errorCode && lhs.transactionalId == rhs.transactionalId && lhs.state == rhs.state
                && lhs.timeoutMs == rhs.timeoutMs && lhs.startTimeMs == rhs.startTimeMs && lhs.producerId == rhs.producerId
                && lhs.producerEpoch == rhs.producerEpoch && lhs.topics.map(\.name) == rhs.topics.map(\.name)
                && lhs.topics.map(\.partitions) == rhs.topics.map(\.partitions)
        }
    }
    public var states: [State]
    public init(states: [State]) { self.states = states }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(states) { encoder, state in
            encoder.int16(state.errorCode.rawValue)
            encoder.string(state.transactionalId)
            encoder.string(state.state)
            encoder.int32(state.timeoutMs)
            encoder.int64(state.startTimeMs)
            encoder.int64(state.producerId)
            encoder.int16(state.producerEpoch)
            encoder.array(state.topics) { encoder, topic in
                encoder.string(topic.name)
                encoder.array(topic.partitions) { $0.int32($1) }
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}
