// The client side of the transaction APIs, as `stele mirror --offsets translate` sends them to
// a target it writes transactionally: InitProducerId v1, AddPartitionsToTxn v1 and EndTxn v1
// (classic, non-flexible encodings every Kafka-protocol broker with transactions answers). The
// server side of the same versions is in TopicAdmin.swift and TransactionApis.swift.

extension InitProducerIdRequest {
    public init(transactionalId: String?, transactionTimeoutMs: Int32) {
        self.init(transactionalId: transactionalId)
        self.transactionTimeoutMs = transactionTimeoutMs
    }

    /// v0–2: the transactional id (null: an idempotent producer) and the transaction timeout.
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version <= 2, "the transaction client speaks InitProducerId v0–2")
        encoder.nullableString(transactionalId)
        encoder.int32(transactionTimeoutMs)
    }
}

extension InitProducerIdResponse {
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        precondition(version <= 2, "the transaction client speaks InitProducerId v0–2")
        _ = try decoder.int32("throttle")
        let code = KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError
        return Self(errorCode: code, producerId: try decoder.int64("producer id"), producerEpoch: try decoder.int16("producer epoch"))
    }
}

extension AddPartitionsToTxnRequest {
    /// v0–2.
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version <= 2, "the transaction client speaks AddPartitionsToTxn v0–2")
        encoder.string(transactionalId)
        encoder.int64(producerId)
        encoder.int16(producerEpoch)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { $0.int32($1) }
        }
    }
}

extension AddPartitionsToTxnResponse {
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        precondition(version <= 2, "the transaction client speaks AddPartitionsToTxn v0–2")
        _ = try decoder.int32("throttle")
        let topics = try decoder.array("topics") { decoder in
            Topic(name: try decoder.string("topic"), partitions: try decoder.array("partitions") { decoder in
                Partition(partition: try decoder.int32("partition"),
                          errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError)
            })
        }
        return Self(topics: topics)
    }
}

extension EndTxnRequest {
    /// v0–2.
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version <= 2, "the transaction client speaks EndTxn v0–2")
        encoder.string(transactionalId)
        encoder.int64(producerId)
        encoder.int16(producerEpoch)
        encoder.bool(committed)
    }
}

extension EndTxnResponse {
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        precondition(version <= 2, "the transaction client speaks EndTxn v0–2")
        _ = try decoder.int32("throttle")
        return Self(errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError)
    }
}
