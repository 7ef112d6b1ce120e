import Synchronization
import SteleCore
import SteleLog

/// The broker as the transaction coordinator sees it: weakly, set once the broker exists.
final class BrokerReference: Sendable {
    private struct Weak { weak var broker: Broker? }
    private let reference = Mutex(Weak())
    var broker: Broker? { reference.withLock { $0.broker } }
    func set(_ broker: Broker) { reference.withLock { $0.broker = broker } }
}

extension Broker {
    /// Writes a transaction's marker into one partition and makes it durable (whatever the
    /// topic's flush policy: the coordinator stores the transaction complete only after every
    /// marker is on disk). A deleted topic has nothing to mark; an offline one is retried. A
    /// marker refused for an older epoch is done only if the partition holds no open
    /// transaction of the producer (a newer marker already ended it there).
    func writeMarker(_ marker: TransactionMarker, to partition: TransactionMetadata.Partition, producerId: Int64, epoch: Int16) async throws {
        // A closing broker removes its topics: a topic missing then is not a deleted one.
        try checkTopicsOpen()
        guard let topic = topic(partition.topic) else {
            if let reason = offlineReason(partition.topic) { throw BrokerError.topicOffline(partition.topic, reason) }
            return
        }
        guard topic.partitions.indices.contains(Int(partition.partition)) else { return }
        // Nothing of a transaction here can be in an active mirror topic (Produce refuses it),
        // and a marker would take an offset that belongs to the source.
        if topic.config.isActiveMirror { return }
        let log = topic.partitions[Int(partition.partition)]
        do {
            _ = try await log.appendMarker(marker, producerId: producerId, producerEpoch: epoch)
        } catch LogError.producerRejected(.invalidProducerEpoch) where log.openTransactions[producerId] == nil {
            return
        }
        if log.config.flushPolicy != .always { try await log.flush() }
        arrivals.notifyAll()
    }

    /// Closes transactions a partition holds open that the coordinator does not know as open
    /// there (its state was lost, or the topic was offline when the transaction ended): an
    /// abort marker at the producer's epoch, so the last stable offset can move again. Run at
    /// open, after the coordinator completed every decided transaction, and when a mirror topic
    /// is promoted (`only`: that topic), since its source's open transactions will never end.
    func abortStrayTransactions(in only: String? = nil) async throws -> Int {
        var aborted = 0
        // An active mirror topic's open transactions are its source's: their markers come from there.
        for topic in topics.withLock({ Array($0.values) }) where !topic.config.isActiveMirror && (only == nil || topic.name == only) {
            for (index, log) in topic.partitions.enumerated() {
                let partition = TransactionMetadata.Partition(topic: topic.name, partition: Int32(index))
                for producerId in log.openTransactions.keys where !transactions.isOpen(producerId: producerId, in: partition) {
                    guard let epoch = log.producerEpoch(of: producerId) else { continue }
                    _ = try await log.appendMarker(.abort, producerId: producerId, producerEpoch: epoch)
                    if log.config.flushPolicy != .always { try await log.flush() }
                    aborted += 1
                }
            }
        }
        return aborted
    }

    /// Appends a decided transaction's batch (see ``TransactionMetadata/pendingBatches``).
    func writeTransactionBatch(_ bytes: [UInt8], to partition: TransactionMetadata.Partition,
                               expecting expectations: [StreamExpectation]) async throws -> AppendResult {
        try checkTopicsOpen()
        guard let topic = topic(partition.topic), topic.partitions.indices.contains(Int(partition.partition)) else {
            // Offline: retried. Deleted: never writable, so the transaction aborts.
            if let reason = offlineReason(partition.topic) { throw BrokerError.topicOffline(partition.topic, reason) }
            throw LogError.invalidBatch("\(partition.topic)-\(partition.partition) was deleted")
        }
        let log = topic.partitions[Int(partition.partition)]
        let result = try await log.append(bytes, expecting: expectations)
        // Durable before the coordinator stores the batches as written (whatever the flush policy).
        if log.config.flushPolicy != .always { try await log.flush() }
        arrivals.notifyAll()
        return result
    }

    /// Makes a committed transaction's offsets the groups' committed offsets.
    func storeTransactionalOffsets(_ pending: [TransactionMetadata.PendingOffset]) async throws {
        let now = wallClockMilliseconds()
        try await groups.offsets.store(pending.map { offset in
            (OffsetStore.Key(group: offset.group, topic: offset.topic, partition: offset.partition),
             OffsetStore.Committed(offset: offset.offset, leaderEpoch: offset.leaderEpoch, metadata: offset.metadata, commitTimestamp: now))
        })
    }
}
