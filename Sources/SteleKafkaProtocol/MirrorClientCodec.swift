import NIOCore

// The client side of the requests a mirror sends to move records: Fetch v11 of many partitions
// and Produce v8 of many partitions (classic encodings any Kafka-protocol broker since 2.3
// answers). The server side of the same versions is in Fetch.swift and Produce.swift.

extension FetchRequest {
    /// Fetch v11 as a replica-less client sends it: no session (a full fetch each time), no rack.
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version == 11, "the mirror client speaks Fetch v11")
        encoder.int32(-1) // replica id: a consumer
        encoder.int32(maxWaitMs)
        encoder.int32(minBytes)
        encoder.int32(maxBytes)
        encoder.int8(isolationLevel)
        encoder.int32(sessionId)
        encoder.int32(sessionEpoch)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int32(-1) // current leader epoch: unknown
                encoder.int64(partition.fetchOffset)
                encoder.int64(-1) // log start offset: a consumer has none
                encoder.int32(partition.maxBytes)
            }
        }
        encoder.array(forgotten) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { $0.int32($1) }
        }
        encoder.string("") // rack id
    }
}

extension FetchResponse {
    /// Fetch v11's response.
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        precondition(version == 11, "the mirror client speaks Fetch v11")
        let throttle = try decoder.int32("throttle")
        let error = KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError
        let session = try decoder.int32("session id")
        let topics = try decoder.array("topics") { decoder in
            let name = try decoder.string("topic")
            let partitions = try decoder.array("partitions") { decoder in
                let index = try decoder.int32("partition")
                let code = KafkaErrorCode(rawValue: try decoder.int16("partition error")) ?? .unknownServerError
                let highWatermark = try decoder.int64("high watermark")
                let lastStable = try decoder.int64("last stable offset")
                let logStart = try decoder.int64("log start offset")
                let aborted = try decoder.nullableArray("aborted transactions") { decoder in
                    (producerId: try decoder.int64("producer id"), firstOffset: try decoder.int64("first offset"))
                } ?? []
                _ = try decoder.int32("preferred read replica")
                let records = try decoder.nullableBytes("records")
                return Partition(partition: index, errorCode: code, highWatermark: highWatermark, logStartOffset: logStart,
                                 records: records.map { $0.getBytes(at: $0.readerIndex, length: $0.readableBytes) ?? [] },
                                 lastStableOffset: lastStable, abortedTransactions: aborted)
            }
            return Topic(name: name, partitions: partitions)
        }
        var response = FetchResponse(topics: topics, errorCode: error, sessionId: session)
        response.throttleTimeMs = throttle
        return response
    }
}

extension ProduceRequest {
    public init(transactionalId: String? = nil, acks: Int16, timeoutMs: Int32, batches: [(topic: String, partitions: [(index: Int32, records: ByteBuffer)])]) {
        self.init(transactionalId: transactionalId, acks: acks, timeoutMs: timeoutMs, topics: batches.map { topic in
            Topic(name: topic.topic, partitions: topic.partitions.map { Partition(index: $0.index, records: $0.records) })
        })
    }

    /// Produce v8.
    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        precondition(version == 8, "the mirror client speaks Produce v8")
        encoder.nullableString(transactionalId)
        encoder.int16(acks)
        encoder.int32(timeoutMs)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.index)
                encoder.nullableBytes(partition.records)
            }
        }
    }
}

extension ProduceResponse {
    /// Produce v8's response.
    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        precondition(version == 8, "the mirror client speaks Produce v8")
        let topics = try decoder.array("topics") { decoder in
            (name: try decoder.string("topic"), partitions: try decoder.array("partitions") { decoder in
                let index = try decoder.int32("partition")
                let code = KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError
                let base = try decoder.int64("base offset")
                let appendTime = try decoder.int64("log append time")
                let logStart = try decoder.int64("log start offset")
                let recordErrors = try decoder.array("record errors") { decoder in
                    RecordError(batchIndex: try decoder.int32("batch index"), message: try decoder.nullableString("message"))
                }
                let message = try decoder.nullableString("error message")
                return Partition(index: index, errorCode: code, baseOffset: base, logAppendTimeMs: appendTime, logStartOffset: logStart,
                                 errorMessage: message, recordErrors: recordErrors)
            })
        }
        var response = ProduceResponse(topics: topics)
        response.throttleTimeMs = try decoder.int32("throttle")
        return response
    }
}
