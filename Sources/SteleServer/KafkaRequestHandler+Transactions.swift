import NIOCore
import SteleLog
import SteleBroker
import SteleKafkaProtocol
import SteleSecurity

extension KafkaRequestHandler {
    /// InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit: the
    /// transactional producer's requests to its coordinator (this broker). Kafka's ACLs: WRITE
    /// on the transactional id for each; WRITE on the topics added; READ on the group whose
    /// offsets the transaction commits.
    func handleTransactionRequest(_ api: ApiKey, version: Int16, decoder: inout KafkaDecoder, requester: Requester,
                                  isConnected: @escaping @Sendable () -> Bool = { true },
                                  respond: ((inout KafkaEncoder) -> Void) -> Outcome) async throws -> Outcome {
        let transactions = broker.transactions
        // `__stele…` ids are the event store's own (multi-stream appends): no client may use them.
        func may(_ transactionalId: String) -> Bool {
            !transactionalId.hasPrefix(Self.reservedTransactionalIdPrefix) && allowed(requester, .write, AclResource(.transactionalId, transactionalId))
        }
        switch api {
        case .initProducerId:
            let response = await initProducerId(try InitProducerIdRequest.decode(&decoder, version: version), version: version, requester: requester,
                                                isConnected: isConnected)
            return respond { response.encode(&$0, version: version) }
        case .addPartitionsToTxn:
            let request = try AddPartitionsToTxnRequest.decode(&decoder, version: version)
            func all(_ code: KafkaErrorCode) -> AddPartitionsToTxnResponse {
                AddPartitionsToTxnResponse(topics: request.topics.map { .init(name: $0.name, partitions: $0.partitions.map { .init(partition: $0, errorCode: code) }) })
            }
            guard may(request.transactionalId) else { return respond { all(.transactionalIdAuthorizationFailed).encode(&$0, version: version) } }
            // One refused partition fails the request; the others are not attempted (as Kafka).
            var refusals: [String: KafkaErrorCode] = [:]
            for topic in request.topics {
                if !allowed(requester, .write, .topic(topic.name)) {
                    refusals[topic.name] = .topicAuthorizationFailed
                } else if let log = broker.topic(topic.name), topic.partitions.allSatisfy({ log.partitions.indices.contains(Int($0)) }) {
                    continue
                } else {
                    refusals[topic.name] = .unknownTopicOrPartition
                }
            }
            if !refusals.isEmpty {
                let response = AddPartitionsToTxnResponse(topics: request.topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map { .init(partition: $0, errorCode: refusals[topic.name] ?? .operationNotAttempted) })
                })
                return respond { response.encode(&$0, version: version) }
            }
            // Each partition once: a request naming one partition 262,000 times would otherwise
            // add as many markers, each appended and synced.
            var named = Set<TransactionMetadata.Partition>()
            let partitions = request.topics.flatMap { topic in topic.partitions.map { TransactionMetadata.Partition(topic: topic.name, partition: $0) } }
                .filter { named.insert($0).inserted }
            let error = await transactions.add(transactionalId: request.transactionalId, producerId: request.producerId,
                                               epoch: request.producerEpoch, partitions: partitions, stillWanted: isConnected)
            return respond { all(Self.errorCode(for: error, version: version)).encode(&$0, version: version) }
        case .addOffsetsToTxn:
            let request = try AddOffsetsToTxnRequest.decode(&decoder, version: version)
            let code: KafkaErrorCode
            if !may(request.transactionalId) {
                code = .transactionalIdAuthorizationFailed
            } else if !allowed(requester, .read, .group(request.groupId)) {
                code = .groupAuthorizationFailed
            } else {
                code = Self.errorCode(for: await transactions.add(transactionalId: request.transactionalId, producerId: request.producerId,
                                                                  epoch: request.producerEpoch, groups: [request.groupId], stillWanted: isConnected),
                                      version: version)
            }
            return respond { TransactionErrorResponse(errorCode: code).encode(&$0, version: version) }
        case .endTxn:
            let request = try EndTxnRequest.decode(&decoder, version: version)
            guard may(request.transactionalId) else { return respond { EndTxnResponse(errorCode: .transactionalIdAuthorizationFailed).encode(&$0, version: version) } }
            // v5 is transaction version 2: the epoch moves on at every end (KIP-890 part 2).
            let ended = await transactions.end(transactionalId: request.transactionalId, producerId: request.producerId,
                                               epoch: request.producerEpoch, commit: request.committed, bumpingEpoch: version >= 5,
                                               stillWanted: isConnected)
            let response = switch ended {
            case let .success((producerId, epoch)): EndTxnResponse(errorCode: .none, producerId: producerId, producerEpoch: epoch)
            case let .failure(error): EndTxnResponse(errorCode: Self.errorCode(for: error, version: version))
            }
            if response.errorCode == .none { broker.arrivals.notifyAll() }
            return respond { response.encode(&$0, version: version) }
        case .txnOffsetCommit:
            let request = try TxnOffsetCommitRequest.decode(&decoder, version: version)
            func all(_ code: KafkaErrorCode) -> TxnOffsetCommitResponse {
                TxnOffsetCommitResponse(topics: request.topics.map { .init(name: $0.name, partitions: $0.partitions.map { .init(partition: $0.partition, errorCode: code) }) })
            }
            guard may(request.transactionalId) else { return respond { all(.transactionalIdAuthorizationFailed).encode(&$0, version: version) } }
            guard allowed(requester, .read, .group(request.groupId)) else { return respond { all(.groupAuthorizationFailed).encode(&$0, version: version) } }
            if let refused = request.topics.first(where: { !allowed(requester, .read, .topic($0.name)) }) {
                let response = TxnOffsetCommitResponse(topics: request.topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map { .init(partition: $0.partition, errorCode: topic.name == refused.name ? .topicAuthorizationFailed : .operationNotAttempted) })
                })
                return respond { response.encode(&$0, version: version) }
            }
            if request.topics.flatMap(\.partitions).contains(where: { ($0.metadata?.utf8.count ?? 0) > OffsetStore.maxMetadataBytes }) {
                return respond { all(.offsetMetadataTooLarge).encode(&$0, version: version) }
            }
            if let groupError = await broker.groups.validateTransactionalCommit(groupId: request.groupId, memberId: request.memberId,
                                                                               generation: request.generationId) {
                return respond { all(KafkaErrorCode(groupError)).encode(&$0, version: version) }
            }
            let offsets = request.topics.flatMap { topic in
                topic.partitions.map { TransactionMetadata.PendingOffset(group: request.groupId, topic: topic.name, partition: $0.partition, offset: $0.offset,
                                                                         leaderEpoch: $0.leaderEpoch, metadata: $0.metadata) }
            }
            // v5 is transaction version 2: the group joins the transaction here, without AddOffsetsToTxn.
            let error = await transactions.addOffsets(transactionalId: request.transactionalId, producerId: request.producerId,
                                                      epoch: request.producerEpoch, group: request.groupId, offsets: offsets,
                                                      addingGroup: version >= 5, stillWanted: isConnected)
            // Kafka answers a stale epoch here with INVALID_PRODUCER_EPOCH at every version (the
            // offsets are a transactional write, checked like a batch), which clients treat as fatal.
            let code = error == .producerFenced ? .invalidProducerEpoch : Self.errorCode(for: error, version: version)
            return respond { all(code).encode(&$0, version: version) }
        case .listTransactions:
            let request = try ListTransactionsRequest.decode(&decoder, version: version)
            let known = Set(TransactionMetadata.State.allCases.map(\.rawValue))
            let now = wallClockMilliseconds()
            // Kafka lists the ids the requester may describe, and names the state filters it does not know.
            let states = transactions.all
                .filter { request.stateFilters.isEmpty || request.stateFilters.contains($0.state.rawValue) }
                .filter { request.producerIdFilters.isEmpty || request.producerIdFilters.contains($0.producerId) }
                .filter { request.durationFilterMs < 0 || ($0.startedMs >= 0 && now - $0.startedMs > request.durationFilterMs) }
                .filter { allowed(requester, .describe, AclResource(.transactionalId, $0.transactionalId)) }
                .sorted { $0.transactionalId < $1.transactionalId }
                .map { ListTransactionsResponse.State(transactionalId: $0.transactionalId, producerId: $0.producerId, state: $0.state.rawValue) }
            let response = ListTransactionsResponse(unknownStateFilters: request.stateFilters.filter { !known.contains($0) }, states: states)
            return respond { response.encode(&$0, version: version) }
        case .describeTransactions:
            let request = try DescribeTransactionsRequest.decode(&decoder, version: version)
            let states = request.transactionalIds.map { id -> DescribeTransactionsResponse.State in
                guard allowed(requester, .describe, AclResource(.transactionalId, id)) else { return .init(errorCode: .transactionalIdAuthorizationFailed, transactionalId: id) }
                guard let metadata = transactions.metadata(of: id) else { return .init(errorCode: .transactionalIdNotFound, transactionalId: id) }
                var state = DescribeTransactionsResponse.State(errorCode: .none, transactionalId: id)
                (state.state, state.timeoutMs, state.startTimeMs) = (metadata.state.rawValue, metadata.timeoutMs, metadata.startedMs)
                (state.producerId, state.producerEpoch) = (metadata.producerId, metadata.producerEpoch)
                // Only the topics the requester may describe (as Kafka).
                state.topics = Dictionary(grouping: metadata.partitions, by: \.topic)
                    .filter { allowed(requester, .describe, .topic($0.key)) }
                    .sorted { $0.key < $1.key }
                    .map { (name: $0.key, partitions: $0.value.map(\.partition).sorted()) }
                return state
            }
            return respond { DescribeTransactionsResponse(states: states).encode(&$0, version: version) }
        default:
            preconditionFailure("\(api) is not a transaction request")
        }
    }

    /// A new producer id, or (v3+, KIP-360) the same id with the next epoch. Without a
    /// transactional id: always a new id, as Kafka does (taking the id a client names would let
    /// it take over another producer's sequence state). With one: the coordinator's answer.
    private func initProducerId(_ request: InitProducerIdRequest, version: Int16, requester: Requester,
                                isConnected: @escaping @Sendable () -> Bool) async -> InitProducerIdResponse {
        guard (request.producerId < 0) == (request.producerEpoch < 0) else {
            return InitProducerIdResponse(errorCode: .invalidRequest, producerId: -1, producerEpoch: -1)
        }
        if let transactionalId = request.transactionalId {
            guard !transactionalId.isEmpty else { return InitProducerIdResponse(errorCode: .invalidRequest, producerId: -1, producerEpoch: -1) }
            // `__stele…` ids are the event store's own (multi-stream appends): a client taking one
            // would fence the store's transactions.
            guard !transactionalId.hasPrefix(Self.reservedTransactionalIdPrefix) else {
                return InitProducerIdResponse(errorCode: .transactionalIdAuthorizationFailed, producerId: -1, producerEpoch: -1)
            }
            guard allowed(requester, .write, AclResource(.transactionalId, transactionalId)) else {
                return InitProducerIdResponse(errorCode: .transactionalIdAuthorizationFailed, producerId: -1, producerEpoch: -1)
            }
            switch await broker.transactions.initProducerId(transactionalId: transactionalId, timeoutMs: request.transactionTimeoutMs,
                                                            producerId: request.producerId, epoch: request.producerEpoch,
                                                            stillWanted: isConnected) {
            case let .success((producerId, epoch)):
                return InitProducerIdResponse(errorCode: .none, producerId: producerId, producerEpoch: epoch)
            case let .failure(error):
                if case let .unavailable(reason) = error { logger.error("transaction log", metadata: ["error": "\(reason)"]) }
                // PRODUCER_FENCED exists for InitProducerId since v4.
                return InitProducerIdResponse(errorCode: Self.errorCode(for: error, version: version - 2), producerId: -1, producerEpoch: -1)
            }
        }
        // IDEMPOTENT_WRITE on the cluster, or WRITE on some topic (KIP-679, as Kafka 3 does).
        guard allowed(requester, .idempotentWrite, .cluster) || allowedOnAny(requester, .write, .topic) else {
            return InitProducerIdResponse(errorCode: .clusterAuthorizationFailed, producerId: -1, producerEpoch: -1)
        }
        do {
            return InitProducerIdResponse(errorCode: .none, producerId: try broker.producerIds.next(), producerEpoch: 0)
        } catch {
            logger.error("could not allocate a producer id", metadata: ["error": "\(error)"])
            return InitProducerIdResponse(errorCode: .kafkaStorageError, producerId: -1, producerEpoch: -1)
        }
    }

    /// Transactional ids of the event store's own transactions.
    static let reservedTransactionalIdPrefix = "__stele"

    /// Kafka's code for a coordinator refusal. PRODUCER_FENCED exists since the v2 of
    /// AddPartitionsToTxn/AddOffsetsToTxn/EndTxn/TxnOffsetCommit (InitProducerId: v4, so it
    /// passes its version minus 2); older versions get INVALID_PRODUCER_EPOCH, as Kafka answers
    /// them (aiokafka, which sends v0, knows no other).
    static func errorCode(for error: TransactionError?, version: Int16 = .max) -> KafkaErrorCode {
        switch error {
        case nil: .none
        case .invalidProducerIdMapping: .invalidProducerIdMapping
        case .producerFenced: version >= 2 ? .producerFenced : .invalidProducerEpoch
        case .invalidProducerEpoch: .invalidProducerEpoch
        case .invalidTransactionState: .invalidTxnState
        case .concurrentTransactions: .concurrentTransactions
        case .invalidTimeout: .invalidTransactionTimeout
        case .unavailable: .coordinatorNotAvailable
        // Written to a closed connection, so never read; retriable, should a client see it.
        case .requesterGone: .requestTimedOut
        }
    }
}
