import Foundation
import SteleCore

/// Idempotent-producer bookkeeping of one partition (Kafka `ProducerStateManager`,
/// kafka-protocol.md §2.6): per producer id, its epoch and the last five batches it appended,
/// so a retried batch gets its original offsets back instead of being written twice.
///
/// Owned by the partition's writer: checked and updated under the log's state lock in the same
/// step that assigns offsets, so no other append can slip between the check and the write.
/// Persisted as a snapshot when a segment rolls (`N.producers`, valid from offset N) and
/// rebuilt on open from that snapshot plus the batches after it.
///
/// A producer that has appended nothing for `LogConfig.producerIdExpiration` is forgotten (Kafka
/// `producer.id.expiration.ms`, one day), so the table is bounded by the producers of the last
/// day, not by every producer id ever seen. A forgotten producer that comes back mid-sequence is
/// told its id is unknown and starts a new epoch (the clients do this by themselves). A
/// producer with a transaction open here never expires: its marker is still to come.
///
/// Transactions (Kafka `ProducerStateManager`): a producer's first transactional batch here
/// opens its transaction at that offset; the marker (a control batch, ``TransactionMarker``)
/// closes it. The smallest open first offset bounds what read_committed consumers see (the
/// last stable offset); an aborted transaction is remembered as an ``AbortedTransaction`` so
/// read_committed fetches can tell the client which batches to drop. The aborted list is kept
/// in the snapshot (cumulative, pruned below the log start at each roll), so recovery rebuilds
/// it from the snapshot plus the batches after it, like the rest of the table.
struct ProducerStateTable: Codable, Sendable, Equatable {
    /// How many recent batches per producer are remembered for duplicate detection (Kafka's
    /// `NUM_BATCHES_TO_RETAIN`; clients keep at most five requests in flight).
    static let batchesRetained = 5

    struct Batch: Codable, Sendable, Equatable {
        var firstSequence: Int32
        var lastSequence: Int32
        var baseOffset: Int64
        var lastOffset: Int64
    }

    struct Producer: Codable, Sendable, Equatable {
        var epoch: Int16
        var batches: [Batch]
        /// When the producer last appended (milliseconds since 1970, the log's clock; for a
        /// batch replayed at recovery, the time of the load). Snapshots written before expiry
        /// existed lack it: those producers count from the load too.
        var lastAppendMilliseconds: Int64?
        /// The offset of its first batch of the transaction open here, if one is.
        var transactionFirstOffset: Int64?
    }

    private(set) var producers: [Int64: Producer] = [:]
    /// Producer id → first offset of its open transaction, kept beside `producers` so the last
    /// stable offset costs the open transactions, not every producer.
    private(set) var ongoing: [Int64: Int64] = [:]
    /// Aborted transactions ordered by their marker's offset (`lastOffset`).
    private(set) var aborted: [AbortedTransaction] = []
    /// The highest producer id this partition has ever recorded, expired ones included: the
    /// broker never hands out an id at or below it (its batches may still be on disk).
    private(set) var highestProducerIdSeen: Int64?
    var producerIds: Dictionary<Int64, Producer>.Keys { producers.keys }

    init() {}

    private enum CodingKeys: String, CodingKey { case producers, highestProducerIdSeen, aborted }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let producers = try container.decode([Int64: Producer].self, forKey: .producers)
        ongoing = Self.ongoing(of: producers)
        self.producers = producers
        highestProducerIdSeen = try container.decodeIfPresent(Int64.self, forKey: .highestProducerIdSeen)
        // Snapshots written before transactions existed have no aborted list.
        aborted = try container.decodeIfPresent([AbortedTransaction].self, forKey: .aborted) ?? []
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(producers, forKey: .producers)
        try container.encodeIfPresent(highestProducerIdSeen, forKey: .highestProducerIdSeen)
        try container.encode(aborted, forKey: .aborted)
    }

    private static func ongoing(of producers: [Int64: Producer]) -> [Int64: Int64] {
        producers.compactMapValues(\.transactionFirstOffset)
    }

    /// The first offset of the oldest transaction still open, if any.
    var firstUnstableOffset: Int64? { ongoing.values.min() }

    /// Aborted transactions a read_committed fetch of `[from, upTo)` must tell the client about
    /// (Kafka `collectAbortedTxns`): those whose marker is at or after `from` and whose first
    /// batch is before `upTo`.
    func abortedTransactions(from: Int64, upTo: Int64) -> [AbortedTransaction] {
        var low = 0, high = aborted.count
        while low < high {
            let mid = (low + high) / 2
            if aborted[mid].lastOffset < from { low = mid + 1 } else { high = mid }
        }
        return aborted[low...].filter { $0.firstOffset < upTo }
    }

    /// Forgets aborted transactions whose marker lies below the log start (retention deleted them).
    mutating func forgetAborted(below logStart: Int64) {
        if let first = aborted.firstIndex(where: { $0.lastOffset >= logStart }) {
            aborted.removeFirst(first)
        } else {
            aborted.removeAll()
        }
    }

    enum Verdict: Equatable {
        case append
        case duplicate(baseOffset: Int64, lastOffset: Int64)
        case reject(LogError.ProducerRejection)
    }

    /// What to do with a batch from a producer (a batch with producer id -1 is not idempotent).
    /// A producer expired at `now` is unknown, whether or not `removeExpired` has run yet.
    func check(_ header: RecordBatchHeader, now: Int64, expirationMilliseconds: Int64) -> Verdict {
        guard header.producerId >= 0 else { return .append }
        if header.attributes.isControl {
            // A marker from the coordinator: only an older epoch is refused (a zombie's).
            if let producer = producers[header.producerId], header.producerEpoch < producer.epoch {
                return .reject(.invalidProducerEpoch("a marker of producer \(header.producerId) epoch \(header.producerEpoch) is older than the current epoch \(producer.epoch)"))
            }
            return .append
        }
        // Whatever its epoch: a new epoch may not slip past a transaction only a marker closes.
        if !header.attributes.isTransactional, let producer = producers[header.producerId], producer.transactionFirstOffset != nil {
            return .reject(.invalidTransactionState("producer \(header.producerId) sent a non-transactional batch while its transaction is open"))
        }
        let first = header.baseSequence
        let last = Self.lastSequence(of: header)
        guard let producer = producers[header.producerId], !Self.isExpired(producer, now: now, after: expirationMilliseconds) else {
            // A new producer starts at sequence 0; anything else means its earlier batches are
            // unknown here (expired or never seen), which the client resolves by resetting.
            return first == 0 ? .append : .reject(.unknownProducerId("producer \(header.producerId) is unknown and its sequence starts at \(first), not 0"))
        }
        if header.producerEpoch < producer.epoch {
            return .reject(.invalidProducerEpoch("producer \(header.producerId) epoch \(header.producerEpoch) is older than the current epoch \(producer.epoch)"))
        }
        if header.producerEpoch > producer.epoch {
            return first == 0 ? .append : .reject(.outOfOrderSequence("a new epoch \(header.producerEpoch) of producer \(header.producerId) must start at sequence 0, not \(first)"))
        }
        if let duplicate = producer.batches.first(where: { $0.firstSequence == first && $0.lastSequence == last }) {
            return .duplicate(baseOffset: duplicate.baseOffset, lastOffset: duplicate.lastOffset)
        }
        let expected = producer.batches.last.map { Self.increment($0.lastSequence) } ?? 0
        guard first == expected else {
            return .reject(.outOfOrderSequence("producer \(header.producerId) sent sequence \(first), expected \(expected)"))
        }
        return .append
    }

    /// Records an appended batch (its header carries the assigned base offset) appended at `now`.
    /// `marker` is the marker a control batch holds (`nil` for a data batch).
    mutating func record(_ header: RecordBatchHeader, marker: TransactionMarker? = nil, now: Int64, expirationMilliseconds: Int64) {
        guard header.producerId >= 0 else { return }
        var producer = producers[header.producerId] ?? Producer(epoch: header.producerEpoch, batches: [])
        if header.attributes.isControl {
            // The transaction ends here whatever its epoch; a newer epoch (the coordinator
            // fenced the producer) restarts sequences at 0.
            if let first = producer.transactionFirstOffset, marker == .abort {
                assert(aborted.last.map { $0.lastOffset < header.baseOffset } ?? true, "markers ascend")
                aborted.append(AbortedTransaction(producerId: header.producerId, firstOffset: first, lastOffset: header.baseOffset))
            }
            if header.producerEpoch > producer.epoch { producer = Producer(epoch: header.producerEpoch, batches: []) }
            producer.transactionFirstOffset = nil
            producer.lastAppendMilliseconds = now
            highestProducerIdSeen = max(highestProducerIdSeen ?? -1, header.producerId)
            ongoing[header.producerId] = nil
            producers[header.producerId] = producer
            return
        }
        if header.producerEpoch != producer.epoch || Self.isExpired(producer, now: now, after: expirationMilliseconds) {
            // Only a marker closes a transaction: a new epoch keeps it open (the coordinator
            // writes the markers of the old one before it hands out the new epoch).
            producer = Producer(epoch: header.producerEpoch, batches: [], transactionFirstOffset: producer.transactionFirstOffset)
        }
        if header.attributes.isTransactional && producer.transactionFirstOffset == nil {
            producer.transactionFirstOffset = header.baseOffset
        }
        ongoing[header.producerId] = producer.transactionFirstOffset
        producer.lastAppendMilliseconds = now
        highestProducerIdSeen = max(highestProducerIdSeen ?? -1, header.producerId)
        producer.batches.append(Batch(firstSequence: header.baseSequence, lastSequence: Self.lastSequence(of: header),
                                      baseOffset: header.baseOffset, lastOffset: header.lastOffset))
        if producer.batches.count > Self.batchesRetained { producer.batches.removeFirst(producer.batches.count - Self.batchesRetained) }
        producers[header.producerId] = producer
    }

    /// Records a batch read back at recovery, at `now`: when it was appended is not on disk (a
    /// batch's timestamps are the client's, and a mirror or an import may carry old ones), so a
    /// replayed producer counts from the load. A restart can lengthen a producer's life by at
    /// most one expiration period; it never forgets one early.
    mutating func replay(_ header: RecordBatchHeader, marker: TransactionMarker?, now: Int64, expirationMilliseconds: Int64) {
        record(header, marker: marker, now: now, expirationMilliseconds: expirationMilliseconds)
    }

    /// Forgets producers idle for `expirationMilliseconds` or longer; returns how many.
    @discardableResult
    mutating func removeExpired(now: Int64, expirationMilliseconds: Int64) -> Int {
        let before = producers.count
        producers = producers.filter { $0.value.transactionFirstOffset != nil || !Self.isExpired($0.value, now: now, after: expirationMilliseconds) }
        return before - producers.count
    }

    /// Gives producers of an old snapshot (no append time) the time of the load.
    mutating func stampUntimed(now: Int64) {
        for id in producers.keys where producers[id]!.lastAppendMilliseconds == nil {
            producers[id]!.lastAppendMilliseconds = now
        }
    }

    static func isExpired(_ producer: Producer, now: Int64, after expiration: Int64) -> Bool {
        guard let last = producer.lastAppendMilliseconds else { return false }
        // Subtraction of two clock readings cannot overflow; a clock that went back expires nothing.
        return now.subtractingReportingOverflow(last).partialValue >= expiration && now >= last
    }

    /// Sequences wrap from Int32.max to 0 (Kafka `DefaultRecordBatch.incrementSequence`).
    static func increment(_ sequence: Int32) -> Int32 {
        sequence == Int32.max ? 0 : sequence + 1
    }

    static func lastSequence(of header: RecordBatchHeader) -> Int32 {
        let last = Int64(header.baseSequence) + Int64(header.lastOffsetDelta)
        return Int32(truncatingIfNeeded: last > Int64(Int32.max) ? last - Int64(Int32.max) - 1 : last)
    }

    func encoded() -> [UInt8] {
        Array((try? JSONEncoder().encode(self)) ?? Data())
    }

    static func decode(_ bytes: [UInt8]) -> ProducerStateTable? {
        try? JSONDecoder().decode(ProducerStateTable.self, from: Data(bytes))
    }
}

/// A transaction that aborted in a partition: its data batches lie in `[firstOffset, lastOffset)`
/// and `lastOffset` is its abort marker (Kafka `AbortedTxn`).
public struct AbortedTransaction: Codable, Sendable, Equatable {
    public var producerId: Int64
    public var firstOffset: Int64
    public var lastOffset: Int64

    public init(producerId: Int64, firstOffset: Int64, lastOffset: Int64) {
        (self.producerId, self.firstOffset, self.lastOffset) = (producerId, firstOffset, lastOffset)
    }
}
