import NIOCore

/// Produce (key 0), versions 0–12. Versions 0–2 carry message sets (formats v0 and v1), which
/// the server converts to one v2 batch (``LegacyMessageSet``). v9 is flexible; v10 (KIP-951) adds
/// tagged fields naming a new leader after NOT_LEADER_OR_FOLLOWER, which a single node never
/// answers, so they are never written; v11 (KIP-890) only allows an error Stele does not send;
/// v12 is the same on the wire and tells the broker the producer uses transaction version 2
/// (its transactional batches add their partitions to the transaction).
public struct ProduceRequest: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var records: ByteBuffer?
    }

    public struct Topic: Sendable {
        public var name: String
        public var partitions: [Partition]
    }

    public var transactionalId: String?
    public var acks: Int16
    public var timeoutMs: Int32
    public var topics: [Topic]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let transactionalId = version >= 3 ? try decoder.nullableString("transactional id") : nil
        let acks = try decoder.int16("acks")
        let timeout = try decoder.int32("timeout")
        let topics = try decoder.array("topics") { decoder in
            let topic = Topic(name: try decoder.string("topic name"), partitions: try decoder.array("partitions") { decoder in
                let partition = Partition(index: try decoder.int32("partition"), records: try decoder.nullableBytes("records"))
                try decoder.taggedFields()
                return partition
            })
            try decoder.taggedFields()
            return topic
        }
        try decoder.taggedFields()
        return Self(transactionalId: transactionalId, acks: acks, timeoutMs: timeout, topics: topics)
    }
}

public struct ProduceResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var errorCode: KafkaErrorCode
        public var baseOffset: Int64
        public var logAppendTimeMs: Int64
        public var logStartOffset: Int64
        public var errorMessage: String?
        /// v8+: the records of the batch that failed validation, by their index in the batch.
        public var recordErrors: [RecordError]

        public init(index: Int32, errorCode: KafkaErrorCode, baseOffset: Int64 = -1, logAppendTimeMs: Int64 = -1,
                    logStartOffset: Int64 = -1, errorMessage: String? = nil, recordErrors: [RecordError] = []) {
            (self.index, self.errorCode, self.baseOffset, self.logAppendTimeMs, self.logStartOffset, self.errorMessage) =
                (index, errorCode, baseOffset, logAppendTimeMs, logStartOffset, errorMessage)
            self.recordErrors = recordErrors
        }
    }

    /// Why one record of a batch was refused (KIP-467).
    public struct RecordError: Sendable, Equatable {
        public var batchIndex: Int32
        public var message: String?

        public init(batchIndex: Int32, message: String?) {
            self.batchIndex = batchIndex
            self.message = message
        }
    }

    public var topics: [(name: String, partitions: [Partition])]
    /// How long the client must wait before its next request: past its quota (v1+).
    public var throttleTimeMs: Int32 = 0

    public init(topics: [(name: String, partitions: [Partition])]) { self.topics = topics }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.throttleTimeMs == rhs.throttleTimeMs && lhs.topics.elementsEqual(rhs.topics) { $0.name == $1.name && $0.partitions == $1.partitions }
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.index)
                encoder.int16(partition.errorCode.rawValue)
                encoder.int64(partition.baseOffset)
                if version >= 2 { encoder.int64(partition.logAppendTimeMs) }
                if version >= 5 { encoder.int64(partition.logStartOffset) }
                if version >= 8 {
                    encoder.array(partition.recordErrors) { encoder, error in
                        encoder.int32(error.batchIndex)
                        encoder.nullableString(error.message)
                        encoder.taggedFields()
                    }
                    encoder.nullableString(partition.errorMessage)
                }
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        // Unlike most responses, ThrottleTimeMs comes last in Produce.
        if version >= 1 { encoder.int32(throttleTimeMs) }
        encoder.taggedFields()
    }
}
