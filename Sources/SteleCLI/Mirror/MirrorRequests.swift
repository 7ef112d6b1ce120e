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
        var batchCount: Int
        /// Past the last whole batch fetched (empty ones too).
        var nextOffset: Int64?
        /// The source partition's high watermark when it answered.
        var highWatermark: Int64
        /// The newest timestamp among the batches kept (their max timestamps).
        var newestTimestamp: Int64?
        /// The base offset of a batch whose offsets no log can hold (negative, or past what
        /// Int64 can count): the batches before it are kept, nothing after.
        var impossible: Int64?

        /// What a partition's fetch answered, cut to whole batches.
        init(errorCode: KafkaErrorCode, highWatermark: Int64, records bytes: [UInt8]) {
            (self.errorCode, self.highWatermark) = (errorCode, highWatermark)
            var kept: [UInt8] = []
            var (count, position) = (0, 0)
            var next: Int64?
            var newest: Int64?
            var impossible: Int64?
            bytes.withUnsafeBytes { raw in
                while position + RecordBatchHeader.size <= raw.count,
                      let header = try? RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[position...])),
                      header.totalSize >= RecordBatchHeader.size, position + header.totalSize <= raw.count {
                    // The source's bytes are not trusted: offsets no log can hold end what is
                    // taken (and would trap the arithmetic below).
                    guard header.hasPossibleOffsets else {
                        impossible = header.baseOffset
                        break
                    }
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
            (batches, batchCount, nextOffset, newestTimestamp, self.impossible) = (kept, count, next, newest, impossible)
        }
    }

    /// A topic's partition, as the mirror names what it copies.
    struct PartitionKey: Hashable, Comparable, CustomStringConvertible {
        let topic: String
        let partition: Int32
        static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
        var description: String { "\(topic)-\(partition)" }
    }

    /// Fetch v11 of one partition, read_uncommitted (markers and aborted batches included: the
    /// mirror copies the log as it is).
    func fetchBatches(topic: String, partition: Int32, offset: Int64, maxBytes: Int32, maxWaitMs: Int32) async throws -> FetchedBatches {
        let (code, highWatermark, records) = try await fetchPartition(topic: topic, partition: partition, offset: offset, maxBytes: maxBytes,
                                                                      maxWaitMs: maxWaitMs, minBytes: 1)
        return FetchedBatches(errorCode: KafkaErrorCode(rawValue: code) ?? .unknownServerError, highWatermark: highWatermark,
                              records: records.getBytes(at: records.readerIndex, length: records.readableBytes) ?? [])
    }

    /// Fetch v11 of many partitions at once, read_uncommitted, each from its offset: the source
    /// holds the request up to `maxWaitMs` while none has anything new (a long poll), so a
    /// caught-up mirror hears of a new record one round trip after it lands.
    ///
    /// `rotation` picks the partition asked first (the index into the sorted partitions): a
    /// broker fills partitions in the order asked, gives only the first with data a batch larger
    /// than its share (KIP-74), and stops at `maxBytes`; turning the order each pass gives every
    /// partition its turn at the front.
    func fetchMany(_ offsets: [PartitionKey: Int64], partitionMaxBytes: Int32, maxBytes: Int32, maxWaitMs: Int32,
                   rotation: Int = 0) async throws -> [PartitionKey: FetchedBatches] {
        let sorted = offsets.keys.sorted()
        let turn = sorted.isEmpty ? 0 : rotation % sorted.count
        var topicOrder: [String] = []
        var byTopic: [String: [PartitionKey]] = [:]
        for key in sorted[turn...] + sorted[..<turn] {
            if byTopic[key.topic] == nil { topicOrder.append(key.topic) }
            byTopic[key.topic, default: []].append(key)
        }
        let request = FetchRequest(maxWaitMs: maxWaitMs, minBytes: 1, maxBytes: maxBytes, topics: topicOrder.map { topic in
            FetchRequest.Topic(name: topic, partitions: byTopic[topic]!.map { .init(partition: $0.partition, fetchOffset: offsets[$0]!, maxBytes: partitionMaxBytes) })
        })
        var decoder = try await send(.fetch, version: 11) { request.encode(&$0, version: 11) }
        let response = try FetchResponse.decode(&decoder, version: 11)
        guard response.errorCode == .none else { throw MirrorError("fetching from the source", refused: response.errorCode, nil) }
        var fetched: [PartitionKey: FetchedBatches] = [:]
        for topic in response.topics {
            for partition in topic.partitions {
                let key = PartitionKey(topic: topic.name, partition: partition.partition)
                guard offsets[key] != nil else { throw MirrorError("the source answered \(key), which was not asked for") }
                fetched[key] = FetchedBatches(errorCode: partition.errorCode, highWatermark: partition.highWatermark, records: partition.records ?? [])
            }
        }
        return fetched
    }

    /// Produce v8 with acks=all of each partition's batches (in order, at their source offsets
    /// for a mirror topic): each partition's error and message.
    func produceMany(_ batches: [PartitionKey: [UInt8]]) async throws -> [PartitionKey: (KafkaErrorCode, String?)] {
        let byTopic = Dictionary(grouping: batches.keys.sorted(), by: \.topic).sorted { $0.key < $1.key }
        let request = ProduceRequest(acks: -1, timeoutMs: 30_000, batches: byTopic.map { topic, keys in
            (topic: topic, partitions: keys.map { (index: $0.partition, records: ByteBuffer(bytes: batches[$0]!)) })
        })
        var decoder = try await send(.produce, version: 8) { request.encode(&$0, version: 8) }
        let response = try ProduceResponse.decode(&decoder, version: 8)
        var results: [PartitionKey: (KafkaErrorCode, String?)] = [:]
        for topic in response.topics {
            for partition in topic.partitions {
                results[PartitionKey(topic: topic.name, partition: partition.index)] = (partition.errorCode, partition.errorMessage)
            }
        }
        return results
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
        let described = try await topicOverrides([topic])
        guard let overrides = described[topic] else { throw MirrorError("describing \(topic)'s configs: no answer for it") }
        return try overrides.get()
    }

    /// The configs set on each topic itself, in one DescribeConfigs v1 request; a topic the
    /// broker refused (deleted meanwhile, say) maps to its error.
    func topicOverrides(_ topics: [String]) async throws -> [String: Result<[String: String], MirrorError>] {
        var response = try await send(.describeConfigs, version: 1) { encoder in
            encoder.array(topics) { encoder, name in
                encoder.int8(2) // topic
                encoder.string(name)
                encoder.int32(-1) // every config (a null array)
            }
            encoder.bool(false)
        }
        _ = try response.int32("throttle")
        var described: [String: Result<[String: String], MirrorError>] = [:]
        _ = try response.array("results") { response in
            let error = KafkaErrorCode(rawValue: try response.int16("error")) ?? .unknownServerError
            let message = try response.nullableString("message")
            _ = try response.int8("resource type")
            let name = try response.string("resource name")
            var overrides: [String: String] = [:]
            _ = try response.array("configs") { decoder in
                let key = try decoder.string("name")
                let value = try decoder.nullableString("value")
                _ = try decoder.bool("read only")
                let source = try decoder.int8("source")
                _ = try decoder.bool("sensitive")
                _ = try decoder.array("synonyms") { decoder in (try decoder.string("name"), try decoder.nullableString("value"), try decoder.int8("source")) }
                if source == 1, let value { overrides[key] = value }
            }
            described[name] = error == .none ? .success(overrides) : .failure(MirrorError("describing \(name)'s configs", refused: error, message))
        }
        return described
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
        try await alterTopicConfigs(topic, set: [key: value], delete: [])
    }

    /// IncrementalAlterConfigs v0 of one topic: `set` (SET) and `delete` (DELETE: back to the default).
    func alterTopicConfigs(_ topic: String, set: [String: String], delete: [String]) async throws {
        let operations = set.sorted { $0.key < $1.key }.map { ($0.key, Int8(0), Optional($0.value)) } + delete.sorted().map { ($0, Int8(1), String?.none) }
        var response = try await send(.incrementalAlterConfigs, version: 0) { encoder in
            encoder.array([topic]) { encoder, name in
                encoder.int8(2) // topic
                encoder.string(name)
                encoder.array(operations) { encoder, operation in
                    encoder.string(operation.0)
                    encoder.int8(operation.1)
                    encoder.nullableString(operation.2)
                }
            }
            encoder.bool(false)
        }
        _ = try response.int32("throttle")
        _ = try response.int32("responses")
        let error = KafkaErrorCode(rawValue: try response.int16("error")) ?? .unknownServerError
        let message = try response.nullableString("message")
        let change = (set.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + delete.sorted().map { "\($0) removed" }).joined(separator: ", ")
        guard error == .none else { throw MirrorError("setting \(change) on \(topic)", refused: error, message) }
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
        // Another mirror took this transactional id over: the two would fence each other for ever.
        .producerFenced, .transactionalIdAuthorizationFailed, .invalidTimestamp,
    ]
}
