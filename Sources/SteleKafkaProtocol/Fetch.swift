import NIOCore

/// Fetch (key 1), versions 0–17. v0–3 carry message sets (formats v0 and v1), converted by the
/// server; v1 adds the throttle time, v4 the last stable offset, v7 fetch sessions (KIP-227),
/// v12 flexible encodings, v13 topic ids instead of names (KIP-516); the fields v15–17 add for
/// replicas travel as tagged fields and are skipped.
public struct FetchRequest: Sendable {
    public struct Partition: Sendable, Equatable {
        public var partition: Int32
        public var fetchOffset: Int64
        public var maxBytes: Int32

        public init(partition: Int32, fetchOffset: Int64, maxBytes: Int32) {
            (self.partition, self.fetchOffset, self.maxBytes) = (partition, fetchOffset, maxBytes)
        }
    }

    public struct Topic: Sendable {
        /// v0–12: as sent. v13+: empty until the server resolves ``topicId``.
        public var name: String
        /// v13+: the topic's id (16 bytes); `nil` before.
        public var topicId: [UInt8]?
        public var partitions: [Partition]

        public init(name: String, topicId: [UInt8]? = nil, partitions: [Partition]) {
            (self.name, self.topicId, self.partitions) = (name, topicId, partitions)
        }
    }

    public struct ForgottenTopic: Sendable {
        public var name: String
        public var topicId: [UInt8]?
        public var partitions: [Int32]
    }

    public var maxWaitMs: Int32
    public var minBytes: Int32
    public var maxBytes: Int32
    public var isolationLevel: Int8
    /// KIP-227: 0 with epoch -1 is a fetch without a session; 0 with epoch 0 asks for one; an
    /// id with epoch -1 closes that session; an id with a positive epoch is an incremental fetch.
    public var sessionId: Int32
    public var sessionEpoch: Int32
    public var topics: [Topic]
    /// Partitions an incremental fetch drops from its session (v7+).
    public var forgotten: [ForgottenTopic]

    public init(maxWaitMs: Int32 = 0, minBytes: Int32 = 0, maxBytes: Int32 = .max, isolationLevel: Int8 = 0, sessionId: Int32 = 0,
                sessionEpoch: Int32 = -1, topics: [Topic], forgotten: [ForgottenTopic] = []) {
        (self.maxWaitMs, self.minBytes, self.maxBytes, self.isolationLevel) = (maxWaitMs, minBytes, maxBytes, isolationLevel)
        (self.sessionId, self.sessionEpoch, self.topics, self.forgotten) = (sessionId, sessionEpoch, topics, forgotten)
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        if version <= 14 { _ = try decoder.int32("replica id") }
        let maxWait = try decoder.int32("max wait")
        let minBytes = try decoder.int32("min bytes")
        let maxBytes = version >= 3 ? try decoder.int32("max bytes") : Int32.max
        let isolation = version >= 4 ? try decoder.int8("isolation level") : 0
        let (session, epoch) = version >= 7 ? (try decoder.int32("session id"), try decoder.int32("session epoch")) : (0, -1)
        let topics = try decoder.array("topics") { decoder in
            let (name, id) = version >= 13 ? ("", try decoder.uuid("topic id")) : (try decoder.string("topic"), nil)
            let partitions = try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                if version >= 9 { _ = try decoder.int32("current leader epoch") }
                let offset = try decoder.int64("fetch offset")
                if version >= 12 { _ = try decoder.int32("last fetched epoch") }
                if version >= 5 { _ = try decoder.int64("log start offset") }
                let partitionMaxBytes = try decoder.int32("partition max bytes")
                try decoder.taggedFields()
                return Partition(partition: partition, fetchOffset: offset, maxBytes: partitionMaxBytes)
            }
            try decoder.taggedFields()
            return Topic(name: name, topicId: id, partitions: partitions)
        }
        var forgotten: [ForgottenTopic] = []
        if version >= 7 {
            forgotten = try decoder.array("forgotten topics") { decoder in
                let (name, id) = version >= 13 ? ("", try decoder.uuid("topic id")) : (try decoder.string("topic"), nil)
                let partitions = try decoder.array("partitions") { try $0.int32("partition") }
                try decoder.taggedFields()
                return ForgottenTopic(name: name, topicId: id, partitions: partitions)
            }
        }
        if version >= 11 { _ = try decoder.string("rack id") }
        try decoder.taggedFields()
        return Self(maxWaitMs: maxWait, minBytes: minBytes, maxBytes: maxBytes, isolationLevel: isolation, sessionId: session,
                    sessionEpoch: epoch, topics: topics, forgotten: forgotten)
    }
}

public struct FetchResponse: Sendable {
    public struct Partition: Sendable {
        public var partition: Int32
        public var errorCode: KafkaErrorCode
        public var highWatermark: Int64
        public var logStartOffset: Int64
        public var records: [UInt8]?
        /// v4+: where read_committed readers stop (the high watermark when `nil`).
        public var lastStableOffset: Int64?
        /// v4+: the aborted transactions (producer id, first offset) whose batches a
        /// read_committed reader must drop.
        public var abortedTransactions: [(producerId: Int64, firstOffset: Int64)] = []

        public init(partition: Int32, errorCode: KafkaErrorCode, highWatermark: Int64 = -1, logStartOffset: Int64 = -1, records: [UInt8]? = nil,
                    lastStableOffset: Int64? = nil, abortedTransactions: [(producerId: Int64, firstOffset: Int64)] = []) {
            (self.partition, self.errorCode, self.highWatermark, self.logStartOffset, self.records) =
                (partition, errorCode, highWatermark, logStartOffset, records)
            (self.lastStableOffset, self.abortedTransactions) = (lastStableOffset, abortedTransactions)
        }
    }

    public struct Topic: Sendable {
        public var name: String
        /// v13+: the id the topic is named by (the zero id for an unknown one).
        public var topicId: [UInt8]
        public var partitions: [Partition]

        public init(name: String, topicId: [UInt8] = MetadataResponse.Topic.zeroTopicId, partitions: [Partition]) {
            (self.name, self.topicId, self.partitions) = (name, topicId, partitions)
        }
    }

    public var topics: [Topic]
    /// How long the client must wait before its next request: past its quota (v1+).
    public var throttleTimeMs: Int32 = 0
    /// A session error (v7+): FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH, with no topics.
    public var errorCode: KafkaErrorCode = .none
    /// The fetch session the answer belongs to; 0 for none (v7+).
    public var sessionId: Int32 = 0

    public init(topics: [Topic], errorCode: KafkaErrorCode = .none, sessionId: Int32 = 0) {
        (self.topics, self.errorCode, self.sessionId) = (topics, errorCode, sessionId)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 1 { encoder.int32(throttleTimeMs) }
        if version >= 7 {
            encoder.int16(errorCode.rawValue)
            encoder.int32(sessionId)
        }
        encoder.array(topics) { encoder, topic in
            if version >= 13 { encoder.uuid(topic.topicId) } else { encoder.string(topic.name) }
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int16(partition.errorCode.rawValue)
                encoder.int64(partition.highWatermark)
                if version >= 4 {
                    encoder.int64(partition.lastStableOffset ?? partition.highWatermark)
                    if version >= 5 { encoder.int64(partition.logStartOffset) }
                    encoder.array(partition.abortedTransactions) { encoder, aborted in
                        encoder.int64(aborted.producerId)
                        encoder.int64(aborted.firstOffset)
                        encoder.taggedFields()
                    }
                }
                if version >= 11 { encoder.int32(-1) } // preferred read replica: none
                encoder.nullableBytes(partition.records ?? [])
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}
