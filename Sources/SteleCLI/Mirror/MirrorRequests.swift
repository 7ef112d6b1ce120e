import NIOCore
import SteleCore
import SteleKafkaProtocol

/// The requests `stele mirror` sends, on ``KafkaConnection``: classic versions any
/// Kafka-protocol broker answers (Metadata v5, ListOffsets v2, Fetch v11, Produce v8,
/// CreateTopics v4, IncrementalAlterConfigs v0).
extension KafkaConnection {
    /// Topic names and partition counts (internal topics, `__…`, left out).
    func topicPartitions() async throws -> [String: Int] {
        var decoder = try await send(.metadata, version: 5) { MetadataRequest(topics: nil, allowAutoTopicCreation: false).encode(&$0, version: 5) }
        let response = try MetadataResponse.decode(&decoder, version: 5)
        var topics: [String: Int] = [:]
        for topic in response.topics where topic.errorCode == .none {
            guard let name = topic.name, !name.hasPrefix("__") else { continue }
            topics[name] = topic.partitions.count
        }
        return topics
    }

    /// ListOffsets at `timestamp` (-1 latest, -2 earliest) for one partition.
    func offset(topic: String, partition: Int32, at timestamp: Int64) async throws -> Int64 {
        let request = ListOffsetsRequest(topics: [(topic, [.init(partition: partition, timestamp: timestamp)])])
        var decoder = try await send(.listOffsets, version: 2) { request.encode(&$0, version: 2) }
        let response = try ListOffsetsResponse.decode(&decoder, version: 2)
        guard let found = response.topics.first?.partitions.first else { throw MirrorError("ListOffsets of \(topic)-\(partition) answered nothing") }
        guard found.errorCode == .none else { throw MirrorError("ListOffsets of \(topic)-\(partition)", refused: found.errorCode, nil) }
        return found.offset
    }

    struct FetchedBatches {
        var errorCode: KafkaErrorCode
        /// Whole batches only (a fetch may end in part of one), empty ones left out.
        var batches: [UInt8]
        var batchCount = 0
        /// Past the last whole batch fetched (empty ones too).
        var nextOffset: Int64?
        /// The source partition's high watermark when it answered.
        var highWatermark: Int64 = -1
        /// The newest timestamp among the batches kept (their max timestamps).
        var newestTimestamp: Int64?
    }

    /// Fetch v11 of one partition, read_uncommitted (markers and aborted batches included: the
    /// mirror copies the log as it is).
    func fetchBatches(topic: String, partition: Int32, offset: Int64, maxBytes: Int32, maxWaitMs: Int32) async throws -> FetchedBatches {
        var (code, highWatermark, records) = try await fetchPartition(topic: topic, partition: partition, offset: offset, maxBytes: maxBytes,
                                                          maxWaitMs: maxWaitMs, minBytes: 1)
        let error = KafkaErrorCode(rawValue: code) ?? .unknownServerError
        let bytes = records.readBytes(length: records.readableBytes) ?? []
        var kept: [UInt8] = []
        var count = 0
        var position = 0
        var next: Int64?
        var newest: Int64?
        bytes.withUnsafeBytes { raw in
            while position + RecordBatchHeader.size <= raw.count,
                  let header = try? RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[position...])),
                  header.totalSize >= RecordBatchHeader.size, position + header.totalSize <= raw.count {
                // A batch compaction emptied (Kafka keeps some for producer state) holds no
                // record to copy; its offsets stay a gap here.
                if header.recordCount > 0 {
                    kept += raw[position..<(position + header.totalSize)]
                    count += 1
                    newest = max(newest ?? header.maxTimestamp, header.maxTimestamp)
                }
                position += header.totalSize
                next = header.nextOffset
            }
        }
        return FetchedBatches(errorCode: error, batches: kept, batchCount: count, nextOffset: next, highWatermark: highWatermark, newestTimestamp: newest)
    }

    /// The consumer groups (ListGroups v2).
    func groupIds() async throws -> [String] {
        var decoder = try await send(.listGroups, version: 2) { ListGroupsRequest().encode(&$0, version: 2) }
        let response = try ListGroupsResponse.decode(&decoder, version: 2)
        guard response.errorCode == .none else { throw MirrorError("ListGroups", refused: response.errorCode, nil) }
        return response.groups.map(\.groupId)
    }

    /// A group's committed offsets, every partition (OffsetFetch v5 with no topics named).
    func committedOffsets(of group: String) async throws -> [String: [Int32: Int64]] {
        let request = OffsetFetchRequest(groupId: group, topics: nil)
        var decoder = try await send(.offsetFetch, version: 5) { request.encode(&$0, version: 5) }
        let response = try OffsetFetchResponse.decode(&decoder, version: 5)
        guard response.errorCode == .none else { throw MirrorError("OffsetFetch of \(group)", refused: response.errorCode, nil) }
        var offsets: [String: [Int32: Int64]] = [:]
        for topic in response.topics {
            for partition in topic.partitions where partition.errorCode == .none && partition.offset >= 0 {
                offsets[topic.name, default: [:]][partition.partition] = partition.offset
            }
        }
        return offsets
    }

    /// OffsetCommit v2 as a tool does (generation -1, no member): accepted only while the group
    /// has no members. Returns the first partition's error, if any.
    func commit(_ offsets: [String: [Int32: Int64]], for group: String) async throws -> KafkaErrorCode {
        var response = try await send(.offsetCommit, version: 2) { encoder in
            encoder.string(group)
            encoder.int32(-1)
            encoder.string("")
            encoder.int64(-1)
            encoder.array(offsets.sorted { $0.key < $1.key }) { encoder, topic in
                encoder.string(topic.key)
                encoder.array(topic.value.sorted { $0.key < $1.key }) { encoder, partition in
                    encoder.int32(partition.key)
                    encoder.int64(partition.value)
                    encoder.nullableString(nil)
                }
            }
        }
        var first = KafkaErrorCode.none
        _ = try response.array("topics") { decoder in
            _ = try decoder.string("topic")
            _ = try decoder.array("partitions") { decoder in
                _ = try decoder.int32("partition")
                let code = KafkaErrorCode(rawValue: try decoder.int16("error")) ?? .unknownServerError
                if first == .none { first = code }
            }
        }
        return first
    }

    /// CreateTopics v4 of one topic; an existing topic is not an error.
    func createTopic(_ name: String, partitions: Int, configs: [String: String]) async throws {
        let request = CreateTopicsRequest(topics: [.init(name: name, partitions: Int32(partitions), configs: configs.mapValues { $0 })], validateOnly: false)
        var decoder = try await send(.createTopics, version: 4) { request.encode(&$0, version: 4) }
        let response = try CreateTopicsResponse.decode(&decoder, version: 4)
        guard let result = response.topics.first else { throw MirrorError("CreateTopics of \(name) answered nothing") }
        guard result.errorCode == .none || result.errorCode == .topicAlreadyExists else {
            throw MirrorError("creating \(name)", refused: result.errorCode, result.message)
        }
    }

    /// The configs set on a topic itself (DescribeConfigs v1, source DYNAMIC_TOPIC_CONFIG):
    /// what a mirror topic takes over, defaults of the source's brokers left out.
    func topicOverrides(_ topic: String) async throws -> [String: String] {
        var response = try await send(.describeConfigs, version: 1) { encoder in
            encoder.array([topic]) { encoder, name in
                encoder.int8(2) // topic
                encoder.string(name)
                encoder.int32(-1) // every config (a null array)
            }
            encoder.bool(false)
        }
        _ = try response.int32("throttle")
        _ = try response.int32("results")
        let error = KafkaErrorCode(rawValue: try response.int16("error")) ?? .unknownServerError
        let message = try response.nullableString("message")
        guard error == .none else { throw MirrorError("describing \(topic)'s configs at the source", refused: error, message) }
        _ = try response.int8("resource type")
        _ = try response.string("resource name")
        var overrides: [String: String] = [:]
        _ = try response.array("configs") { decoder in
            let name = try decoder.string("name")
            let value = try decoder.nullableString("value")
            _ = try decoder.bool("read only")
            let source = try decoder.int8("source")
            _ = try decoder.bool("sensitive")
            _ = try decoder.array("synonyms") { decoder in (try decoder.string("name"), try decoder.nullableString("value"), try decoder.int8("source")) }
            if source == 1, let value { overrides[name] = value }
        }
        return overrides
    }

    /// CreatePartitions v1: grows a topic to `count` partitions.
    func growTopic(_ topic: String, to count: Int) async throws {
        var response = try await send(.createPartitions, version: 1) { encoder in
            encoder.array([topic]) { encoder, name in
                encoder.string(name)
                encoder.int32(Int32(count))
                encoder.int32(-1) // no assignments (a null array)
            }
            encoder.int32(30_000)
            encoder.bool(false)
        }
        _ = try response.int32("throttle")
        _ = try response.int32("results")
        _ = try response.string("topic")
        let error = KafkaErrorCode(rawValue: try response.int16("error")) ?? .unknownServerError
        let message = try response.nullableString("message")
        guard error == .none else { throw MirrorError("growing \(topic) to \(count) partitions on the target", refused: error, message) }
    }

    /// IncrementalAlterConfigs v0: sets one topic config.
    func setTopicConfig(_ topic: String, _ key: String, _ value: String) async throws {
        var response = try await send(.incrementalAlterConfigs, version: 0) { encoder in
            encoder.array([topic]) { encoder, name in
                encoder.int8(2) // topic
                encoder.string(name)
                encoder.array([(key, value)]) { encoder, config in
                    encoder.string(config.0)
                    encoder.int8(0) // SET
                    encoder.nullableString(config.1)
                }
            }
            encoder.bool(false)
        }
        _ = try response.int32("throttle")
        _ = try response.int32("responses")
        let error = KafkaErrorCode(rawValue: try response.int16("error")) ?? .unknownServerError
        let message = try response.nullableString("message")
        guard error == .none else { throw MirrorError("setting \(key)=\(value) on \(topic)", refused: error, message) }
    }
}

/// Why the mirror stopped. `permanent`: the operator's to fix (a promoted topic, a target
/// ahead of its source); otherwise the mirror connects again and resumes from the target.
struct MirrorError: Error, CustomStringConvertible {
    var description: String
    var permanent: Bool
    init(_ description: String, permanent: Bool = false) { (self.description, self.permanent) = (description, permanent) }

    /// `what` was answered with `error`: permanent when it refuses the mirror or its data (the
    /// operator's to fix; trying again every second would only hold back every partition after
    /// this one), else tried again after reconnecting.
    init(_ what: String, refused error: KafkaErrorCode, _ message: String?) {
        self.init("\(what): \(error)" + (message.map { ": \($0)" } ?? ""), permanent: Self.refusals.contains(error))
    }

    static let refusals: Set<KafkaErrorCode> = [
        .policyViolation, .invalidRequest, .invalidConfig, .invalidPartitions, .clusterAuthorizationFailed, .topicAuthorizationFailed,
        .invalidRecord, .corruptMessage, .unsupportedCompressionType, .messageTooLarge,
    ]
}
