import Foundation
import Logging
import NIOCore
import SteleBroker
import SteleCompression
import SteleCore
import SteleKafkaProtocol
import SteleLog
import SteleSecurity

/// Turns one request frame into one response frame, calling the broker. Free of networking:
/// it takes and returns buffers, so tests can drive it directly.
struct KafkaRequestHandler: Sendable {
    let broker: Broker
    let advertisedHost: String
    let advertisedPort: Int32
    let logger: Logger
    let allocator = ByteBufferAllocator()
    /// The longest a fetch is parked, whatever it asks: below the idle timeout, so a long poll
    /// never looks like an idle connection.
    var maxFetchWait: Duration = .seconds(300)
    /// The most a fetch response carries, whatever the client asks (Kafka `fetch.max.bytes`,
    /// 55 MiB): a client asking for 2 GiB cannot make the broker hold that much for it.
    var fetchMaxBytes = 55 << 20
    /// Decides each request from the broker's ACLs; nil: every request is allowed (no
    /// authorizer, Kafka's default).
    var authorizer: Authorizer?
    /// The node id Metadata and FindCoordinator name (`--node-id`, Kafka's `node.id`).
    var nodeId: Int32 = 0
    /// Threads for validating and decompressing produced batches (see `produce`).
    static let decoding = IOExecutor(threadCount: 2, name: "stele-decode")

    enum Outcome {
        case respond(ByteBuffer)
        /// Send the response, then read nothing more from the connection for the throttle time
        /// (a client past its quota, KIP-219; with nil, acks=0 produce, send nothing).
        case respondThenPause(ByteBuffer?, Duration)
        /// Produce with acks=0: the client expects nothing, and answering would break its
        /// correlation-id bookkeeping.
        case noResponse
        case close(String)
        /// Send the response, then close the connection after `delay` (a failed authentication).
        case respondThenClose(ByteBuffer, after: Duration, String)
        /// Close the connection without an answer, after `delay`.
        case closeAfter(Duration, String)
    }

    /// Handles a request from a connection that needs no authentication (tests).
    func handle(_ frame: ByteBuffer) async -> Outcome {
        var connection = ConnectionSecurity.plaintext
        return await handle(frame, connection: &connection)
    }

    func handle(_ frame: ByteBuffer, connection: inout ConnectionSecurity) async -> Outcome {
        if connection.rawTokens { return await rawToken(frame, connection: &connection) }
        guard let (key, version, correlation) = RequestHeader.peek(frame) else { return .close("request shorter than its header") }
        // On a SASL listener only ApiVersions and SASL itself come before authentication; a
        // session past its lifetime (KIP-368) must re-authenticate before anything else.
        if let session = connection.sasl, !session.isAuthenticated(at: .now), !Self.allowedBeforeAuthentication(key) {
            return .close(session.principal == nil ? "a request (api \(key)) before authenticating" : "the SASL session of \(session.principal!) expired")
        }
        do {
            let (header, api, decoder) = try RequestHeader.decode(frame)
            switch api {
            case .saslHandshake, .saslAuthenticate:
                return try await sasl(api, version: version, correlationId: correlation, decoder: decoder, connection: &connection)
            default:
                return try await dispatch(api, version: version, correlationId: correlation, clientId: header.clientId ?? "", decoder: decoder,
                                          requester: connection.requester, isConnected: connection.isConnected)
            }
        } catch KafkaProtocolError.unsupportedVersion(_, _) where key == ApiKey.apiVersions.rawValue {
            // KIP-511: an ApiVersions request newer than ours gets error 35 in a v0 body, with
            // our ranges, so the client can retry with a version we speak.
            return .respond(ResponseFrame.encode(correlationId: correlation, api: .apiVersions, version: 0, allocator: allocator) {
                ApiVersionsResponse(errorCode: .unsupportedVersion).encode(&$0, version: 0)
            })
        } catch {
            logger.warning("bad request", metadata: ["api": "\(key)", "version": "\(version)", "error": "\(error)"])
            return .close("\(error)")
        }
    }

    private func sasl(_ api: ApiKey, version: Int16, correlationId: Int32, decoder: KafkaDecoder,
                      connection: inout ConnectionSecurity) async throws -> Outcome {
        var decoder = decoder
        let allocator = allocator
        func frame(_ body: (inout KafkaEncoder) -> Void) -> ByteBuffer {
            ResponseFrame.encode(correlationId: correlationId, api: api, version: version, allocator: allocator, body: body)
        }
        if api == .saslHandshake {
            return saslHandshake(try SaslHandshakeRequest.decode(&decoder, version: version), version: version, connection: &connection) { response in
                frame { response.encode(&$0, version: version) }
            }
        }
        return await saslAuthenticate(try SaslAuthenticateRequest.decode(&decoder, version: version), connection: &connection) { response in
            frame { response.encode(&$0, version: version) }
        }
    }

    private func dispatch(_ api: ApiKey, version: Int16, correlationId: Int32, clientId: String, decoder: KafkaDecoder,
                          requester: Requester, isConnected: @escaping @Sendable () -> Bool) async throws -> Outcome {
        var decoder = decoder
        func respond(_ body: (inout KafkaEncoder) -> Void) -> Outcome {
            .respond(ResponseFrame.encode(correlationId: correlationId, api: api, version: version, allocator: allocator, body: body))
        }
        switch api {
        case .apiVersions:
            _ = try ApiVersionsRequest.decode(&decoder, version: version)
            return respond { ApiVersionsResponse().encode(&$0, version: version) }
        case .metadata:
            let response = await metadata(try MetadataRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .produce:
            let request = try ProduceRequest.decode(&decoder, version: version)
            var response = await produce(request, version: version, clientId: clientId, requester: requester)
            // Kafka counts the request's size against the producer's quota.
            let bytes = request.topics.reduce(0) { $0 + $1.partitions.reduce(0) { $0 + ($1.records?.readableBytes ?? 0) } }
            response.throttleTimeMs = throttle(bytes, .producerByteRate, requester: requester, clientId: clientId).milliseconds
            let pause = Duration.milliseconds(Int64(response.throttleTimeMs))
            if request.acks == 0 { return response.throttleTimeMs > 0 ? .respondThenPause(nil, pause) : .noResponse }
            guard response.throttleTimeMs > 0 else { return respond { response.encode(&$0, version: version) } }
            return .respondThenPause(ResponseFrame.encode(correlationId: correlationId, api: api, version: version, allocator: allocator) {
                response.encode(&$0, version: version)
            }, pause)
        case .fetch:
            var request = try FetchRequest.decode(&decoder, version: version)
            // Under a quota, one answer holds at most what the window allows (Kafka's
            // getMaxValueInQuotaWindow): a larger one would always be throttled, answered empty
            // and asked again, and the consumer would never progress.
            if let (_, bound) = broker.quotas.quotas.quota(.consumerByteRate, user: requester.principal.name, clientId: clientId) {
                let window = Int32(clamping: Int64(min(bound * Double(QuotaRates.samples - 1) * Double(QuotaRates.sampleMilliseconds) / 1000, Double(Int32.max))))
                request.maxBytes = min(request.maxBytes, window)
                for topic in request.topics.indices {
                    for partition in request.topics[topic].partitions.indices {
                        request.topics[topic].partitions[partition].maxBytes = min(request.topics[topic].partitions[partition].maxBytes, window)
                    }
                }
            }
            var response = await fetch(request, version: version, requester: requester)
            let bytes = response.topics.reduce(0) { $0 + $1.partitions.reduce(0) { $0 + ($1.records?.count ?? 0) } }
            let (throttle, entity) = throttle(bytes, .consumerByteRate, requester: requester, clientId: clientId)
            guard throttle > 0 else { return respond { response.encode(&$0, version: version) } }
            // Past its quota a consumer gets an empty answer with the throttle time, and the
            // bytes it did not get are taken back (as Kafka does).
            if let entity { broker.unrecordQuotaBytes(bytes, .consumerByteRate, entity: entity) }
            response.throttleTimeMs = throttle
            for index in response.topics.indices {
                for partition in response.topics[index].partitions.indices where response.topics[index].partitions[partition].records != nil {
                    response.topics[index].partitions[partition].records = []
                }
            }
            return .respondThenPause(ResponseFrame.encode(correlationId: correlationId, api: api, version: version, allocator: allocator) {
                response.encode(&$0, version: version)
            }, .milliseconds(Int64(throttle)))
        case .listOffsets:
            let response = await listOffsets(try ListOffsetsRequest.decode(&decoder, version: version), version: version, requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .createTopics:
            let response = await createTopics(try CreateTopicsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .deleteTopics:
            let response = await deleteTopics(try DeleteTopicsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .initProducerId, .addPartitionsToTxn, .addOffsetsToTxn, .endTxn, .txnOffsetCommit, .listTransactions, .describeTransactions:
            return try await handleTransactionRequest(api, version: version, decoder: &decoder, requester: requester,
                                                      isConnected: isConnected, respond: respond)
        case .findCoordinator, .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit, .offsetFetch,
             .listGroups, .describeGroups, .deleteGroups, .offsetDelete, .consumerGroupHeartbeat,
             .consumerGroupDescribe:
            return try await handleGroupRequest(api, version: version, decoder: &decoder, clientId: clientId, requester: requester, respond: respond)
        case .describeAcls:
            let response = describeAcls(try DescribeAclsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .createAcls:
            let response = createAcls(try CreateAclsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .deleteAcls:
            let response = deleteAcls(try DeleteAclsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .describeUserScramCredentials:
            let response = describeUserScramCredentials(try DescribeUserScramCredentialsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .describeCluster:
            let request = try DescribeClusterRequest.decode(&decoder, version: version)
            let response = describeCluster(request, requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .alterUserScramCredentials:
            let response = alterUserScramCredentials(try AlterUserScramCredentialsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .describeConfigs:
            let response = describeConfigs(try DescribeConfigsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .alterConfigs, .incrementalAlterConfigs:
            let request = try AlterConfigsRequest.decode(&decoder, version: version, incremental: api == .incrementalAlterConfigs)
            let response = await alterConfigs(request, requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .createPartitions:
            let response = await createPartitions(try CreatePartitionsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .describeLogDirs:
            let response = describeLogDirs(try DescribeLogDirsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .offsetForLeaderEpoch:
            let response = offsetForLeaderEpoch(try OffsetForLeaderEpochRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .deleteRecords:
            let response = await deleteRecords(try DeleteRecordsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .electLeaders:
            let response = electLeaders(try ElectLeadersRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .listPartitionReassignments:
            let response = listPartitionReassignments(try ListPartitionReassignmentsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .alterPartitionReassignments:
            let response = alterPartitionReassignments(try AlterPartitionReassignmentsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .alterReplicaLogDirs:
            let response = alterReplicaLogDirs(try AlterReplicaLogDirsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .describeProducers:
            let response = describeProducers(try DescribeProducersRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .describeTopicPartitions:
            let response = describeTopicPartitions(try DescribeTopicPartitionsRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .describeClientQuotas:
            let response = describeClientQuotas(try DescribeClientQuotasRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .alterClientQuotas:
            let response = alterClientQuotas(try AlterClientQuotasRequest.decode(&decoder, version: version), requester: requester)
            return respond { response.encode(&$0, version: version) }
        case .saslHandshake, .saslAuthenticate:
            preconditionFailure("SASL requests are handled with their connection's state")
        }
    }

    // MARK: Produce

    private func produce(_ request: ProduceRequest, version: Int16, clientId: String, requester: Requester) async -> ProduceResponse {
        var topics: [(name: String, partitions: [ProduceResponse.Partition])] = []
        var appended = false
        for topic in request.topics {
            var partitions: [ProduceResponse.Partition] = []
            for partition in topic.partitions {
                let result = await produce(topic: topic.name, partition: partition, acks: request.acks, version: version,
                                           transactionalId: request.transactionalId, clientId: clientId, requester: requester)
                if result.errorCode == .none { appended = true }
                partitions.append(result)
            }
            topics.append((topic.name, partitions))
        }
        if appended { broker.arrivals.notifyAll() }
        return ProduceResponse(topics: topics)
    }

    private func produce(topic: String, partition: ProduceRequest.Partition, acks: Int16, version: Int16,
                         transactionalId: String?, clientId: String, requester: Requester) async -> ProduceResponse.Partition {
        func failure(_ code: KafkaErrorCode, _ message: String) -> ProduceResponse.Partition {
            logger.debug("produce rejected", metadata: ["topic": "\(topic)", "partition": "\(partition.index)", "reason": "\(message)"])
            return .init(index: partition.index, errorCode: code, errorMessage: message)
        }
        guard acks == 0 || acks == 1 || acks == -1 else { return failure(.invalidRequiredAcks, "acks must be -1, 0 or 1") }
        if let problem = TopicName.validate(topic) { return failure(.invalidTopic, problem) }
        guard allowed(requester, .write, .topic(topic)) else { return failure(.topicAuthorizationFailed, "WRITE on topic \(topic) is not allowed") }
        // Producing to a missing topic creates it: that needs CREATE as well.
        if broker.topic(topic) == nil && broker.offlineReason(topic) == nil && !mayCreate(requester, topic: topic) {
            return failure(.unknownTopicOrPartition, "topic \(topic) does not exist")
        }
        guard let records = partition.records, records.readableBytes > 0 else {
            return failure(.invalidRecord, "a produce request must hold one record batch")
        }
        if let mirrored = await mirrorProduce(topic: topic, partition: partition.index, records: records, version: version,
                                              clientId: clientId, requester: requester) {
            return mirrored
        }
        var sentBytes = Array(records.readableBytesView)
        // v0–2 carry message sets (formats v0 and v1): converted to one v2 batch, which is what
        // is stored, so v2 readers see exactly what a v3+ producer of the same records gives.
        if version <= 2 {
            let sent = sentBytes
            let converted = try? await Self.decoding.run { () -> Result<[UInt8], any Error> in
                Result { LegacyMessageSet.batch(of: try LegacyMessageSet.decode(sent, decompressor: KafkaCodecs())) }
            }
            switch converted ?? .failure(CancellationError()) {
            case let .success(batch): sentBytes = batch
            case let .failure(error):
                let reason = "\(error)"
                let code: KafkaErrorCode = reason.contains("CRC32") ? .corruptMessage : reason.contains("is not available") ? .unsupportedCompressionType
                    : reason.contains(LegacyMessageSet.expandsPastLimit) ? .messageTooLarge : .invalidRecord
                return failure(code, "Produce v\(version) carries message format v0 or v1: \(reason)")
            }
        }
        let bytes = sentBytes
        // (A batch too short for a header is refused by the log's validation, with its reason.)
        if let header = try? RecordBatchHeader(parsing: bytes) {
            // zstd needs Produce v7+ (KIP-110): older clients cannot read it back.
            if version < 7 && header.attributes.compression == .zstd {
                return failure(.unsupportedCompressionType, "zstd needs Produce v7 or later")
            }
            // v3+ carries exactly one batch per partition (kafka-protocol.md §2.4).
            if header.totalSize < bytes.count {
                return failure(.invalidRecord, "a produce request must hold exactly one record batch per partition")
            }
        }
        let log: PartitionLog
        do { log = try await broker.partition(topic, partition.index, autoCreate: true) } catch let error as BrokerError {
            if case .topicOffline = error { return failure(.kafkaStorageError, error.description) }
            return failure(.unknownTopicOrPartition, error.description)
        } catch {
            return failure(.unknownTopicOrPartition, "\(error)")
        }
        // CPU-heavy checks run on threads of their own, never on the pool every connection and
        // the HTTP API share: the CRC first (a damaged batch is refused before it is
        // decompressed), then the expected-version headers, which decompress a compressed batch
        // (at most KafkaCodecs' 64 MiB per batch; a bomb past it is refused).
        let check: @Sendable () -> Result<[StreamExpectation], any Error> = {
            do {
                _ = try RecordBatch.validate(bytes)
                return .success(try ExpectedVersionHeader.expectations(in: bytes, codecs: KafkaCodecs()))
            } catch { return .failure(error) }
        }
        // An uncompressed batch costs a CRC pass and a header scan (microseconds per MiB): checked
        // in place. Only a compressed one, which may expand to 64 MiB, hops to the decode threads.
        let compressed = (try? RecordBatchHeader(parsing: bytes))?.attributes.compression.map { $0 != .none } ?? false
        let checked: Result<[StreamExpectation], any Error> = compressed
            ? ((try? await Self.decoding.run(check)) ?? .failure(CancellationError()))
            : check()
        let expectations: [StreamExpectation]
        switch checked {
        case let .success(found): expectations = found
        case let .failure(error):
            let reason = "\(error)"
            return failure(reason.contains("CRC32C") ? .corruptMessage : reason.contains("is not available") ? .unsupportedCompressionType : .invalidRecord, reason)
        }
        // A transactional batch: only into a partition its open transaction added, and the
        // transaction cannot end until the batch is in (KIP-890 part 1, checked locally).
        var transactionalProducer: Int64?
        if let header = try? RecordBatchHeader(parsing: bytes), header.attributes.isTransactional {
            guard let transactionalId else {
                return failure(.transactionalIdAuthorizationFailed, "a transactional batch needs the request's transactional id")
            }
            guard !transactionalId.hasPrefix(Self.reservedTransactionalIdPrefix), allowed(requester, .write, AclResource(.transactionalId, transactionalId)) else {
                return failure(.transactionalIdAuthorizationFailed, "WRITE on transactional id \(transactionalId) is not allowed")
            }
            let transactionPartition = TransactionMetadata.Partition(topic: topic, partition: partition.index)
            if version >= 12, let refusal = await broker.transactions.add(transactionalId: transactionalId, producerId: header.producerId,
                                                                         epoch: header.producerEpoch, partitions: [transactionPartition]) {
                // Transaction version 2: the batch adds its own partition (beginning the
                // transaction), as Kafka's broker does for Produce v12. Its coordinator answers
                // reach the producer as Kafka's do: a fenced epoch as INVALID_PRODUCER_EPOCH, a
                // coordinator that could not store the change as the retriable NOT_ENOUGH_REPLICAS.
                let code: KafkaErrorCode = switch refusal {
                case .producerFenced: .invalidProducerEpoch
                case .unavailable: .notEnoughReplicas
                default: Self.errorCode(for: refusal)
                }
                return failure(code, "\(refusal)")
            }
            if let refusal = broker.transactions.beginBatch(transactionalId: transactionalId, producerId: header.producerId, epoch: header.producerEpoch,
                                                            partition: transactionPartition) {
                return failure(Self.errorCode(for: refusal), "\(refusal)")
            }
            transactionalProducer = header.producerId
        }
        defer { if let transactionalProducer { broker.transactions.finishedBatch(producerId: transactionalProducer) } }
        do {
            let started = ContinuousClock.now
            let result = try await log.append(bytes, expecting: expectations)
            broker.metrics.kafkaAppends.record(records: Int(result.lastOffset - result.baseOffset + 1), bytes: bytes.count, since: started)
            return .init(index: partition.index, errorCode: .none, baseOffset: result.baseOffset,
                         logAppendTimeMs: result.logAppendTime ?? -1, logStartOffset: log.logStartOffset)
        } catch let error as LogError {
            broker.metrics.kafkaAppends.failures.increment()
            var response = failure(Self.errorCode(for: error), error.description)
            // The batch is refused whole; the record whose check failed is named (KIP-467), the
            // others are refused with it, as Kafka does.
            if case let .wrongExpectedVersion(_, _, _, offsetDelta) = error {
                response.errorMessage = "record \(offsetDelta): \(error.description)"
                response.recordErrors = [.init(batchIndex: offsetDelta, message: error.description)]
            }
            return response
        } catch {
            return failure(.unknownServerError, "\(error)")
        }
    }

    static func errorCode(for error: LogError) -> KafkaErrorCode {
        switch error {
        case let .invalidBatch(reason):
            reason.contains("CRC32C") ? .corruptMessage : reason.contains("is not available") ? .unsupportedCompressionType : .invalidRecord
        case .batchTooLarge: .messageTooLarge
        case .offsetOutOfRange: .offsetOutOfRange
        case .corruption, .storage: .kafkaStorageError
        case .closed: .unknownTopicOrPartition
        // A stream not at the expected version: the whole batch is refused (kafka-protocol.md §6).
        case .wrongExpectedVersion: .invalidRecord
        case let .producerRejected(rejection):
            switch rejection {
            case .outOfOrderSequence: .outOfOrderSequenceNumber
            case .invalidProducerEpoch: .invalidProducerEpoch
            case .unknownProducerId: .unknownProducerId
            case .invalidTransactionState: .invalidTxnState
            }
        }
    }

    // MARK: ListOffsets

    private func listOffsets(_ request: ListOffsetsRequest, version: Int16, requester: Requester) async -> ListOffsetsResponse {
        var topics: [(name: String, partitions: [ListOffsetsResponse.Partition])] = []
        // A partition named twice is answered once; the repeats get INVALID_REQUEST, as in
        // Kafka (a 1 MiB request could otherwise ask for one segment's scan 87,000 times).
        var asked = Set<String>()
        for topic in request.topics {
            guard allowed(requester, .describe, .topic(topic.name)) else {
                topics.append((topic.name, topic.partitions.map { .init(partition: $0.partition, errorCode: .topicAuthorizationFailed) }))
                continue
            }
            var partitions: [ListOffsetsResponse.Partition] = []
            for partition in topic.partitions {
                guard asked.insert("\(partition.partition) \(topic.name)").inserted else {
                    partitions.append(.init(partition: partition.partition, errorCode: .invalidRequest))
                    continue
                }
                guard let log = try? await broker.partition(topic.name, partition.partition, autoCreate: false) else {
                    // An offline topic is there but damaged: a storage error, not "unknown".
                    let code: KafkaErrorCode = broker.offlineReason(topic.name) == nil ? .unknownTopicOrPartition : .kafkaStorageError
                    partitions.append(.init(partition: partition.partition, errorCode: code))
                    continue
                }
                switch partition.timestamp {
                case ListOffsetsRequest.earliest, ListOffsetsRequest.earliestLocal:
                    partitions.append(.init(partition: partition.partition, errorCode: .none, offset: log.logStartOffset))
                case ListOffsetsRequest.latest:
                    // read_committed consumers start at the last stable offset.
                    partitions.append(.init(partition: partition.partition, errorCode: .none,
                                            offset: request.isolationLevel == 1 ? log.lastStableOffset : log.highWatermark))
                case ListOffsetsRequest.maxTimestamp:
                    do {
                        let found = try await log.recordWithMaxTimestamp()
                        partitions.append(.init(partition: partition.partition, errorCode: .none,
                                                timestamp: found?.timestamp ?? -1, offset: found?.offset ?? -1))
                    } catch let error as LogError {
                        partitions.append(.init(partition: partition.partition, errorCode: Self.errorCode(for: error)))
                    } catch {
                        partitions.append(.init(partition: partition.partition, errorCode: .unknownServerError))
                    }
                case ..<0:
                    // A spec Stele does not know (latest-tiered, a newer one): Kafka's error for
                    // it, never an offset found by treating it as a time.
                    partitions.append(.init(partition: partition.partition, errorCode: .unsupportedVersion))
                case _ where version == 0:
                    // v0 answers a time with segment boundaries: not a record's offset, and
                    // nothing Stele could give without answering a different question.
                    partitions.append(.init(partition: partition.partition, errorCode: .unsupportedVersion))
                default:
                    do {
                        let found = try await log.record(atOrAfterTimestamp: partition.timestamp)
                        partitions.append(.init(partition: partition.partition, errorCode: .none,
                                                timestamp: found?.timestamp ?? -1, offset: found?.offset ?? -1))
                    } catch let error as LogError {
                        partitions.append(.init(partition: partition.partition, errorCode: Self.errorCode(for: error)))
                    } catch {
                        partitions.append(.init(partition: partition.partition, errorCode: .unknownServerError))
                    }
                }
            }
            topics.append((topic.name, partitions))
        }
        return ListOffsetsResponse(topics: topics)
    }
}
