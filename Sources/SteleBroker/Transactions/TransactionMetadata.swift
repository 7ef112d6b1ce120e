import Foundation

/// One transactional id's state at its coordinator (Kafka `TransactionMetadata`), as stored in
/// the transaction log: one record per change, the latest per id wins.
public struct TransactionMetadata: Codable, Sendable, Equatable {
    /// Kafka `TransactionState`. The prepare states are the decision: once one is durable the
    /// transaction completes that way, whatever crashes, before the id can be used again.
    public enum State: String, Codable, Sendable, CaseIterable {
        case empty = "Empty"
        case ongoing = "Ongoing"
        case prepareCommit = "PrepareCommit"
        case prepareAbort = "PrepareAbort"
        case completeCommit = "CompleteCommit"
        case completeAbort = "CompleteAbort"
    }

    public struct Partition: Codable, Hashable, Sendable, Comparable {
        public var topic: String
        public var partition: Int32
        public init(topic: String, partition: Int32) { (self.topic, self.partition) = (topic, partition) }
        public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition) }
    }

    /// An offset committed inside the transaction, applied to the group when it commits.
    public struct PendingOffset: Codable, Sendable, Equatable {
        public var group: String
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        public var leaderEpoch: Int32
        public var metadata: String?

        public init(group: String, topic: String, partition: Int32, offset: Int64, leaderEpoch: Int32, metadata: String?) {
            (self.group, self.topic, self.partition, self.offset, self.leaderEpoch, self.metadata) = (group, topic, partition, offset, leaderEpoch, metadata)
        }
    }

    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    /// The epoch a KIP-360 InitProducerId recovered from, so a retry of that call gets the
    /// same answer instead of a second bump; -1 if none (also after a fence: a fenced producer
    /// cannot recover, as in Kafka).
    public var lastProducerEpoch: Int16 = -1
    /// Transaction version 2 (EndTxn v5) when the epoch ran out: the id the producer continues
    /// with once this transaction completes (its markers carry the old id at the last epoch).
    public var nextProducerId: Int64?
    /// The id the producer had before the switch to ``nextProducerId``, so a retry of the
    /// EndTxn that made the switch is recognised.
    public var previousProducerId: Int64?
    public var timeoutMs: Int32
    public var state: State
    /// The partitions this transaction wrote to (or may have): each gets the marker.
    public var partitions: [Partition] = []
    /// Groups whose offsets commit with the transaction (AddOffsetsToTxn).
    public var groups: [String] = []
    /// Offsets sent with TxnOffsetCommit. Stored durably only with the commit decision; an
    /// ongoing transaction lost in a crash is aborted, and its offsets with it.
    public var pendingOffsets: [PendingOffset] = []
    /// Batches the coordinator itself writes once the commit is decided (the event store's
    /// multi-stream appends): stored with the PrepareCommit decision, so a crash at any point
    /// is rolled forward — a batch never written is written, none is written twice — and never
    /// leaves records to abort. Cleared once every batch is in its partition.
    public var pendingBatches: [PendingBatch]?

    /// A batch of ``pendingBatches``: its partition, bytes, and the exact versions its streams
    /// must be at (record offset delta → version).
    public struct PendingBatch: Codable, Sendable, Equatable {
        public var partition: Partition
        public var bytes: Data
        public var expectations: [Expectation]

        public struct Expectation: Codable, Sendable, Equatable {
            public var offsetDelta: Int32
            public var version: Int64
            public init(offsetDelta: Int32, version: Int64) { (self.offsetDelta, self.version) = (offsetDelta, version) }
        }

        public init(partition: Partition, bytes: [UInt8], expectations: [Expectation]) {
            (self.partition, self.bytes, self.expectations) = (partition, Data(bytes), expectations)
        }
    }

    /// When the current transaction began (its first AddPartitionsToTxn/AddOffsetsToTxn), ms.
    public var startedMs: Int64 = -1
    public var updatedMs: Int64

    /// Whether the epoch can be bumped once more without reaching Kafka's reserved maximum.
    var epochExhausted: Bool { producerEpoch >= Int16.max - 1 }
}
