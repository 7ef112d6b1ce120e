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
    /// Writes a transaction's marker into one partition. A partition whose topic is gone has
    /// nothing to mark; a marker refused for an older epoch means a newer one already ended the
    /// transaction there (Kafka's coordinator stops sending it too).
    func writeMarker(_ marker: TransactionMarker, to partition: TransactionMetadata.Partition, producerId: Int64, epoch: Int16) async throws {
        guard let topic = topic(partition.topic), topic.partitions.indices.contains(Int(partition.partition)) else { return }
        do {
            _ = try await topic.partitions[Int(partition.partition)].appendMarker(marker, producerId: producerId, producerEpoch: epoch)
        } catch LogError.producerRejected(.invalidProducerEpoch) {
            return
        }
        arrivals.notifyAll()
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
