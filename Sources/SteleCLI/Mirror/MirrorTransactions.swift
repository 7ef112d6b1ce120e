import NIOCore
import SteleCore
import SteleKafkaProtocol

/// The requests of a mirror that translates offsets (`stele mirror --offsets translate`): it
/// reads the source read_committed and writes the target as a transactional producer
/// (InitProducerId v1, AddPartitionsToTxn v2, Produce v8 with its transactional id, EndTxn v2:
/// v2 is the same request as v1, and the version from which a broker answers PRODUCER_FENCED,
/// KIP-588, rather than INVALID_PRODUCER_EPOCH, so a mirror fenced by another can tell).
extension KafkaConnection {
    /// What a read_committed fetch answered for one partition.
    struct CommittedFetch {
        var errorCode: KafkaErrorCode
        var highWatermark: Int64
        var lastStableOffset: Int64
        var abortedTransactions: [(producerId: Int64, firstOffset: Int64)]
        var records: [UInt8]
    }

    /// Fetch v11 of many partitions, read_committed: only what committed transactions (and
    /// non-transactional producers) wrote below the last stable offset, with the aborted
    /// transactions a reader must drop. Partitions are asked in the order given (the broker
    /// fills them in that order, so a caller rotates it to share the bytes fairly).
    func fetchCommitted(_ offsets: [(PartitionKey, Int64)], partitionMaxBytes: Int32, maxBytes: Int32, maxWaitMs: Int32) async throws -> [PartitionKey: CommittedFetch] {
        var topicOrder: [String] = []
        var byTopic: [String: [FetchRequest.Partition]] = [:]
        for (key, offset) in offsets {
            if byTopic[key.topic] == nil { topicOrder.append(key.topic) }
            byTopic[key.topic, default: []].append(.init(partition: key.partition, fetchOffset: offset, maxBytes: partitionMaxBytes))
        }
        let request = FetchRequest(maxWaitMs: maxWaitMs, minBytes: 1, maxBytes: maxBytes, isolationLevel: 1,
                                   topics: topicOrder.map { FetchRequest.Topic(name: $0, partitions: byTopic[$0]!) })
        var decoder = try await send(.fetch, version: 11) { request.encode(&$0, version: 11) }
        let response = try FetchResponse.decode(&decoder, version: 11)
        guard response.errorCode == .none else { throw MirrorError("fetching from the source", refused: response.errorCode, nil) }
        let asked = Set(offsets.map(\.0))
        var fetched: [PartitionKey: CommittedFetch] = [:]
        for topic in response.topics {
            for partition in topic.partitions {
                let key = PartitionKey(topic: topic.name, partition: partition.partition)
                guard asked.contains(key) else { throw MirrorError("the source answered \(key), which was not asked for") }
                fetched[key] = CommittedFetch(errorCode: partition.errorCode, highWatermark: partition.highWatermark,
                                              lastStableOffset: partition.lastStableOffset ?? partition.highWatermark,
                                              abortedTransactions: partition.abortedTransactions, records: partition.records ?? [])
            }
        }
        return fetched
    }

    /// InitProducerId v1 for `transactionalId`: the producer id and a new epoch, which fences an
    /// older holder of the id and aborts its open transaction. Waits out the answers that mean
    /// "not yet" (the previous transaction still ending, the coordinator loading).
    func initTransactionalProducer(_ transactionalId: String, timeoutMs: Int32) async throws -> (id: Int64, epoch: Int16) {
        while true {
            let request = InitProducerIdRequest(transactionalId: transactionalId, transactionTimeoutMs: timeoutMs)
            var decoder = try await send(.initProducerId, version: 1) { request.encode(&$0, version: 1) }
            let response = try InitProducerIdResponse.decode(&decoder, version: 1)
            switch response.errorCode {
            case .none: return (response.producerId, response.producerEpoch)
            case .concurrentTransactions, .coordinatorLoadInProgress, .coordinatorNotAvailable:
                try await Task.sleep(for: .milliseconds(50))
            default:
                throw MirrorError("starting the transactional producer \(transactionalId) on the target", refused: response.errorCode, nil)
            }
        }
    }

    /// AddPartitionsToTxn v1: the partitions the open transaction writes. The answers that mean
    /// "not yet" are waited out as Kafka's producer does (CONCURRENT_TRANSACTIONS: the previous
    /// transaction's markers are still being written — Kafka answers EndTxn before them), for
    /// as long as a request may take; any other refusal throws.
    func addPartitionsToTransaction(_ transactionalId: String, producer: (id: Int64, epoch: Int16), _ keys: [PartitionKey]) async throws {
        let byTopic = Dictionary(grouping: keys, by: \.topic).sorted { $0.key < $1.key }
        let request = AddPartitionsToTxnRequest(transactionalId: transactionalId, producerId: producer.id, producerEpoch: producer.epoch,
                                                topics: byTopic.map { (name: $0.key, partitions: $0.value.map(\.partition).sorted()) })
        let started = ContinuousClock.now
        while true {
            var decoder = try await send(.addPartitionsToTxn, version: 2) { request.encode(&$0, version: 2) }
            let response = try AddPartitionsToTxnResponse.decode(&decoder, version: 2)
            let refusals = response.topics.flatMap { topic in topic.partitions.filter { $0.errorCode != .none }.map { (topic.name, $0) } }
            guard let (topic, first) = refusals.first else { return }
            let waiting: Set<KafkaErrorCode> = [.concurrentTransactions, .coordinatorLoadInProgress, .coordinatorNotAvailable]
            guard refusals.allSatisfy({ waiting.contains($0.1.errorCode) || $0.1.errorCode == .operationNotAttempted }),
                  ContinuousClock.now - started < requestTimeout else {
                throw MirrorError("adding \(topic)-\(first.partition) to the target transaction", refused: first.errorCode, nil)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Produce v8 of one batch per partition inside the transaction: each partition's base
    /// offset on the target. Throws on any partition's refusal.
    func produceTransactional(_ transactionalId: String, _ batches: [PartitionKey: [UInt8]]) async throws -> [PartitionKey: Int64] {
        let byTopic = Dictionary(grouping: batches.keys.sorted(), by: \.topic).sorted { $0.key < $1.key }
        let request = ProduceRequest(transactionalId: transactionalId, acks: -1, timeoutMs: 30_000, batches: byTopic.map { topic, keys in
            (topic: topic, partitions: keys.map { (index: $0.partition, records: ByteBuffer(bytes: batches[$0]!)) })
        })
        var decoder = try await send(.produce, version: 8) { request.encode(&$0, version: 8) }
        let response = try ProduceResponse.decode(&decoder, version: 8)
        var offsets: [PartitionKey: Int64] = [:]
        for topic in response.topics {
            for partition in topic.partitions {
                let key = PartitionKey(topic: topic.name, partition: partition.index)
                guard partition.errorCode == .none else { throw MirrorError("writing \(key) to the target", refused: partition.errorCode, partition.errorMessage) }
                offsets[key] = partition.baseOffset
            }
        }
        for key in batches.keys where offsets[key] == nil { throw MirrorError("the target did not answer for \(key)") }
        return offsets
    }

    /// EndTxn v1: commits (or aborts) the open transaction.
    func endTransaction(_ transactionalId: String, producer: (id: Int64, epoch: Int16), commit: Bool) async throws {
        let request = EndTxnRequest(transactionalId: transactionalId, producerId: producer.id, producerEpoch: producer.epoch, committed: commit)
        var decoder = try await send(.endTxn, version: 2) { request.encode(&$0, version: 2) }
        let response = try EndTxnResponse.decode(&decoder, version: 2)
        guard response.errorCode == .none else {
            throw MirrorError((commit ? "committing" : "aborting") + " the target transaction", refused: response.errorCode, nil)
        }
    }
}
