import NIOCore

// The client side of the requests `stele topics` sends: request encoders and response decoders
// for Metadata v4, ListOffsets v2, CreateTopics v4 and DeleteTopics v3 (all classic encodings).

extension MetadataRequest {
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version >= 4 && version <= 7, "the admin client speaks Metadata v4–7")
        encoder.array(topics) { $0.string($1) }
        encoder.bool(allowAutoTopicCreation)
    }
}

extension MetadataResponse {
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        precondition(version >= 4 && version <= 7)
        _ = try decoder.int32("throttle")
        let brokers = try decoder.array("brokers") { decoder in
            let broker = Broker(nodeId: try decoder.int32("node id"), host: try decoder.string("host"), port: try decoder.int32("port"))
            _ = try decoder.nullableString("rack")
            return broker
        }
        let clusterId = try decoder.nullableString("cluster id") ?? ""
        let controller = try decoder.int32("controller id")
        let topics = try decoder.array("topics") { decoder in
            let error = try decoder.int16("error code")
            let name = try decoder.string("topic")
            _ = try decoder.bool("internal")
            let partitions = try decoder.array("partitions") { decoder in
                _ = try decoder.int16("partition error")
                let index = try decoder.int32("partition")
                _ = try decoder.int32("leader")
                if version >= 7 { _ = try decoder.int32("leader epoch") }
                _ = try decoder.array("replicas") { try $0.int32() }
                _ = try decoder.array("isr") { try $0.int32() }
                if version >= 5 { _ = try decoder.array("offline") { try $0.int32() } }
                return index
            }
            return Topic(errorCode: KafkaErrorCode(rawValue: error) ?? .unknownServerError, name: name, partitions: partitions)
        }
        return MetadataResponse(brokers: brokers, clusterId: clusterId, controllerId: controller, topics: topics)
    }
}

extension ListOffsetsRequest {
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version >= 2 && version <= 3)
        encoder.int32(-1) // replica id: a consumer
        encoder.int8(0) // read uncommitted
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int64(partition.timestamp)
            }
        }
    }
}

extension ListOffsetsResponse {
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        precondition(version >= 2 && version <= 3)
        _ = try decoder.int32("throttle")
        let topics = try decoder.array("topics") { decoder in
            (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { decoder in
                Partition(partition: try decoder.int32("partition"),
                          errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError,
                          timestamp: try decoder.int64("timestamp"), offset: try decoder.int64("offset"))
            })
        }
        return ListOffsetsResponse(topics: topics)
    }
}

extension CreateTopicsRequest {
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version >= 2 && version <= 4)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.int32(topic.partitions)
            encoder.int16(topic.replicationFactor)
            encoder.array([Int32]()) { $0.int32($1) } // no manual assignments
            encoder.array(topic.configs.sorted { $0.key < $1.key }) { encoder, config in
                encoder.string(config.key)
                encoder.nullableString(config.value)
            }
        }
        encoder.int32(30_000)
        encoder.bool(validateOnly)
    }
}

extension CreateTopicsResponse {
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        _ = try decoder.int32("throttle")
        return CreateTopicsResponse(topics: try decoder.array("topics") { decoder in
            (name: try decoder.string("topic"), errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError,
             message: try decoder.nullableString("message"))
        })
    }
}

extension DeleteTopicsRequest {
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.array(names) { $0.string($1) }
        encoder.int32(30_000)
    }
}

extension DeleteTopicsResponse {
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        _ = try decoder.int32("throttle")
        return DeleteTopicsResponse(topics: try decoder.array("topics") { decoder in
            (name: try decoder.string("topic"), errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError)
        })
    }
}

/// Frames a request: size, header v1 (key, version, correlation id, client id) — v2, with an
/// empty tagged-field section, for a flexible version — and the body, in compact encodings
/// when the version is flexible.
public enum RequestFrame {
    public static func encode(api: ApiKey, version: Int16, correlationId: Int32, clientId: String,
                              body: (inout KafkaEncoder) -> Void) -> ByteBuffer {
        var header = KafkaEncoder(ByteBuffer(), flexible: false)
        header.int32(0)
        header.int16(api.rawValue)
        header.int16(version)
        header.int32(correlationId)
        // The client id stays a classic string even in header v2 (KIP-482).
        header.nullableString(clientId)
        let flexible = api.isFlexible(version)
        if flexible { header.unsignedVarint(0) }
        var encoder = KafkaEncoder(header.buffer, flexible: flexible)
        body(&encoder)
        var buffer = encoder.buffer
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}

extension OffsetFetchRequest {
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version >= 2 && version <= 5)
        encoder.string(groupId)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { $0.int32($1) }
        }
    }
}

extension OffsetFetchResponse {
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        precondition(version >= 2 && version <= 5)
        if version >= 3 { _ = try decoder.int32("throttle") }
        let topics = try decoder.array("topics") { decoder in
            (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                let offset = try decoder.int64("offset")
                let epoch = version >= 5 ? try decoder.int32("leader epoch") : -1
                let metadata = try decoder.nullableString("metadata")
                return Partition(partition: partition, offset: offset, leaderEpoch: epoch, metadata: metadata,
                                 errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError)
            })
        }
        return Self(topics: topics, errorCode: KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError)
    }
}
