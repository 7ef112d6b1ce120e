import Foundation
import Logging
import Synchronization
import SteleAsync
import SteleCore
import SteleLog

/// Why the coordinator refused a transaction request (each maps to one Kafka error code).
public enum TransactionError: Error, Equatable, Sendable {
    /// The producer id is not the one this transactional id has (INVALID_PRODUCER_ID_MAPPING).
    case invalidProducerIdMapping
    /// A newer producer with the same transactional id took over, or the coordinator aborted the
    /// transaction on timeout and bumped the epoch (PRODUCER_FENCED).
    case producerFenced
    /// A transactional batch from an older epoch (INVALID_PRODUCER_EPOCH).
    case invalidProducerEpoch
    /// The request does not fit the transaction's state (INVALID_TXN_STATE).
    case invalidTransactionState(String)
    /// Another request of this transactional id is in progress; retry (CONCURRENT_TRANSACTIONS).
    case concurrentTransactions
    /// Above `transaction.max.timeout.ms` or not positive (INVALID_TRANSACTION_TIMEOUT).
    case invalidTimeout
    /// The state could not be stored; nothing changed (COORDINATOR_NOT_AVAILABLE, retriable).
    case unavailable(String)
    /// The request's connection closed before it could act: nothing changed, and no one is
    /// left to answer. A client that gave up on a request and retried it on a new connection
    /// has moved on; the abandoned copy must not decide anything later (KAFKA-17754).
    case requesterGone
}

/// The transaction coordinator of a single-node broker (Kafka `TransactionCoordinator`, KIP-98):
/// every transactional id's producer id, epoch and transaction, kept durably in the
/// transaction log; the markers written into each partition a transaction touched when it ends.
///
/// How a transaction ends: the decision (PrepareCommit or PrepareAbort, with the partitions and
/// the offsets to commit) is made durable first; then every partition gets its marker and the
/// group its offsets; then the transaction is marked complete. A crash between leaves the
/// decision in the log, and the next start completes it before the id is used again. A
/// transaction left open is aborted once its timeout passes — the epoch bumped so the producer
/// that abandoned it is fenced.
///
/// No request of an id overlaps another's change of state (`busy`: CONCURRENT_TRANSACTIONS,
/// which clients retry). Transactional batches are checked here before they are appended
/// (KIP-890 part 1): only a producer with an open transaction that added the partition may
/// write to it, and a transaction does not end while one of its batches is being appended —
/// so no batch can land after its transaction's marker and hang a partition.
public final class TransactionCoordinator: Sendable {
    /// Kafka's `transaction.max.timeout.ms` default: 15 minutes.
    public static let maxTimeoutMs: Int32 = 900_000
    /// The most batch bytes one transaction may hand the coordinator to write
    /// (``commit(transactionalId:producerId:epoch:batches:)``): they are stored in the
    /// transaction log, whose records may be at most `TransactionStateStore.maxRecordBytes`.
    public static let maxPendingBatchBytes = 32 << 20
    static let tickInterval: Duration = .milliseconds(200)
    /// Idle transactional ids expired per batch of tombstones.
    public static let expiryChunk = 1_000

    public typealias Partition = TransactionMetadata.Partition

    /// Writes a marker into a partition; a partition whose topic is gone is skipped (nothing to mark).
    public typealias MarkerWriter = @Sendable (Partition, TransactionMarker, _ producerId: Int64, _ epoch: Int16) async throws -> Void
    /// Stores a committed transaction's offsets in their groups.
    public typealias OffsetWriter = @Sendable ([TransactionMetadata.PendingOffset]) async throws -> Void
    /// Appends a batch of a decided transaction to its partition, checking its expectations.
    public typealias BatchWriter = @Sendable (Partition, [UInt8], [StreamExpectation]) async throws -> AppendResult
    /// Whether a partition holds an open transaction of this producer (its batch is there).
    public typealias OpenCheck = @Sendable (Partition, _ producerId: Int64) -> Bool

    struct Entry {
        var metadata: TransactionMetadata
        /// A change of state is being stored or carried out.
        var busy = false
        /// Completed in memory, the decision still its last stored record (``complete(_:now:storesCompletion:)``):
        /// stored at ``stop()`` or with the id's next change.
        var completionUnstored = false
        /// The transaction is ending: no new batch may start.
        var ending = false
        /// Transactional batches of this producer being appended right now.
        var producing = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    struct State {
        var entries: [String: Entry] = [:]
        /// Producer id → transactional id.
        var ids: [Int64: String] = [:]

        mutating func set(_ metadata: TransactionMetadata) {
            if let old = entries[metadata.transactionalId]?.metadata.producerId, old != metadata.producerId { ids[old] = nil }
            ids[metadata.producerId] = metadata.transactionalId
            if entries[metadata.transactionalId] == nil {
                entries[metadata.transactionalId] = Entry(metadata: metadata)
            } else {
                entries[metadata.transactionalId]!.metadata = metadata
                // Whoever sets the state says whether it is stored (the background completion
                // marks it unstored after this).
                entries[metadata.transactionalId]!.completionUnstored = false
            }
        }
    }

    let state = Mutex(State())
    let store: TransactionStateStore
    let writeMarker: MarkerWriter
    let writeOffsets: OffsetWriter
    let nextProducerId: @Sendable () throws -> Int64
    let writeBatch: BatchWriter
    let holdsOpen: OpenCheck
    let clock: @Sendable () -> Int64
    let ticker = Mutex<Task<Void, Never>?>(nil)
    /// Woken whenever an id stops being busy: a request that met a change in progress waits
    /// here (up to ``patience``) instead of sending the client away with CONCURRENT_TRANSACTIONS.
    let changes = ArrivalNotifier()
    /// How long a request waits for another change of its id to finish (5 s; a test that
    /// holds an id busy on purpose raises it, so a slow machine cannot end its wait early).
    let patience = Mutex<Duration>(.seconds(5))
    let logger = Logger(label: "stele.transactions")
    /// Completions running in the background (EndTxn answered at its decision), awaited by ``stop()``.
    let completions = Mutex<[String: Task<Void, Never>]>([:])

    init(store: TransactionStateStore, loaded: [String: TransactionMetadata], writeMarker: @escaping MarkerWriter,
         writeOffsets: @escaping OffsetWriter, writeBatch: @escaping BatchWriter, holdsOpen: @escaping OpenCheck,
         nextProducerId: @escaping @Sendable () throws -> Int64, clock: @escaping @Sendable () -> Int64) {
        (self.store, self.writeMarker, self.writeOffsets, self.nextProducerId, self.clock) = (store, writeMarker, writeOffsets, nextProducerId, clock)
        (self.writeBatch, self.holdsOpen) = (writeBatch, holdsOpen)
        state.withLock { state in for metadata in loaded.values { state.set(metadata) } }
    }

    /// Opens the transaction log under `directory`.
    static func open(directory: String, fileSystem: any FileSystem, writeMarker: @escaping MarkerWriter, writeOffsets: @escaping OffsetWriter,
                     writeBatch: @escaping BatchWriter, holdsOpen: @escaping OpenCheck, nextProducerId: @escaping @Sendable () throws -> Int64,
                     clock: @escaping @Sendable () -> Int64 = wallClockMilliseconds) async throws -> TransactionCoordinator {
        let (store, loaded) = try await TransactionStateStore.open(directory: directory, fileSystem: fileSystem)
        return TransactionCoordinator(store: store, loaded: loaded, writeMarker: writeMarker, writeOffsets: writeOffsets,
                                      writeBatch: writeBatch, holdsOpen: holdsOpen, nextProducerId: nextProducerId, clock: clock)
    }

    /// The highest producer id the log names (the allocator must stay above it).
    var highestProducerId: Int64? {
        state.withLock { state in
            // A decided hand-over names its next id only in the decision until it completes.
            (Array(state.ids.keys) + state.entries.values.flatMap { [$0.metadata.nextProducerId, $0.metadata.previousProducerId].compactMap { $0 } }).max()
        }
    }

    /// Completes every decided transaction, then starts aborting timed-out ones periodically.
    func start() async {
        await tick()
        ticker.withLock { ticker in
            ticker = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.tickInterval)
                    await self?.tick()
                }
            }
        }
    }

    /// Before the partitions close: every background completion finishes, and every completion
    /// kept in memory only is stored, so a clean stop leaves no decision to redo at the next start.
    func stop() async throws {
        let running = ticker.withLock { ticker -> Task<Void, Never>? in
            ticker?.cancel()
            return ticker
        }
        await running?.value
        for completion in completions.withLock({ Array($0.values) }) { await completion.value }
        let unstored = state.withLock { state in state.entries.values.filter { $0.completionUnstored && !$0.busy }.map(\.metadata) }
        for metadata in unstored { try? await store.store(metadata) }
        try await store.close()
    }

    /// Whether `producerId` has a transaction open (or decided, not yet complete) that includes
    /// `partition`.
    public func isOpen(producerId: Int64, in partition: Partition) -> Bool {
        state.withLock { state in
            guard let id = state.ids[producerId], let metadata = state.entries[id]?.metadata else { return false }
            return [.ongoing, .prepareCommit, .prepareAbort].contains(metadata.state) && metadata.partitions.contains(partition)
        }
    }

    /// Whether an open or decided transaction holds an offset for this group's partition, not
    /// yet committed (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT then).
    public func hasPendingOffset(group: String, topic: String, partition: Int32) -> Bool {
        state.withLock { state in
            state.entries.values.contains { entry in
                [.ongoing, .prepareCommit, .prepareAbort].contains(entry.metadata.state)
                    && entry.metadata.pendingOffsets.contains { $0.group == group && $0.topic == topic && $0.partition == partition }
            }
        }
    }

    /// A snapshot of one transactional id's state.
    public func metadata(of transactionalId: String) -> TransactionMetadata? {
        state.withLock { $0.entries[transactionalId]?.metadata }
    }

    /// Every transactional id's state.
    public var all: [TransactionMetadata] { state.withLock { $0.entries.values.map(\.metadata) } }


    func tick() async {
        completions.withLock { $0 = $0.filter { id, _ in state.withLock { $0.entries[id]?.busy == true } } }
        let now = clock()
        let due = state.withLock { state -> [(TransactionMetadata, timedOut: Bool)] in
            var due: [(TransactionMetadata, timedOut: Bool)] = []
            for (id, entry) in state.entries where !entry.busy {
                let metadata = entry.metadata
                let decided = metadata.state == .prepareCommit || metadata.state == .prepareAbort
                let timedOut = metadata.state == .ongoing && now - metadata.startedMs > Int64(metadata.timeoutMs)
                guard decided || timedOut else { continue }
                state.entries[id]!.busy = true
                state.entries[id]!.ending = true
                due.append((metadata, timedOut))
            }
            return due
        }
        for (metadata, timedOut) in due {
            let id = metadata.transactionalId
            await waitForBatches(of: id)
            do {
                let done = timedOut ? try await finish(metadata, decision: .prepareAbort, fence: true, now: now)
                                    : try await completeWithBatches(metadata, now: now).0
                state.withLock { state in state.set(done) }
            } catch let error as DecidedError {
                logger.error(timedOut ? "a timed-out transaction could not be aborted yet; retried" : "a decided transaction could not be completed yet; retried",
                             metadata: ["id": "\(id)", "error": "\(error.cause)"])
                state.withLock { state in state.set(error.decided) }
            } catch {
                // Retried at the next tick.
                logger.error("a decided transaction could not be completed yet; retried", metadata: ["id": "\(id)", "error": "\(error)"])
            }
            release(id)
        }
    }

    func compact() async throws { try await store.compact() }

    /// Forgets the transactional ids idle longer than `age` with no transaction open or decided
    /// (Kafka's `transactional.id.expiration.ms`): a tombstone in the transaction log, durable
    /// first, then out of memory. Without it every id ever used stays in memory and in the
    /// log for good, and each tick walks them all. The next InitProducerId of an expired id gets
    /// a new producer id; its old producer has no open transaction, so its batches are refused.
    /// Returns the ids forgotten.
    @discardableResult
    public func expireIdle(olderThan age: Duration, chunk chunkSize: Int = expiryChunk) async -> [String] {
        let now = clock()
        let limit = age.milliseconds
        var expired: [String] = []
        // A chunk at a time, one batch of tombstones and one sync each, and only that chunk's
        // ids held busy: after an upgrade, every id idle for a week expires on the first pass.
        while !Task.isCancelled {
            let chunk = state.withLock { state -> [TransactionMetadata] in
                var chunk: [TransactionMetadata] = []
                for (id, entry) in state.entries where !entry.busy && entry.producing == 0 {
                    let metadata = entry.metadata
                    guard [.empty, .completeCommit, .completeAbort].contains(metadata.state), now - metadata.updatedMs > limit else { continue }
                    state.entries[id]!.busy = true
                    chunk.append(metadata)
                    if chunk.count == chunkSize { break }
                }
                return chunk
            }
            guard !chunk.isEmpty else { break }
            do {
                try await store.remove(chunk.map(\.transactionalId))
                state.withLock { state in
                    for metadata in chunk {
                        let id = metadata.transactionalId
                        state.entries[id] = nil
                        for producerId in [metadata.producerId, metadata.previousProducerId, metadata.nextProducerId].compactMap({ $0 })
                        where state.ids[producerId] == id { state.ids[producerId] = nil }
                    }
                }
                expired += chunk.map(\.transactionalId)
            } catch {
                // Kept, and tried again at the next maintenance pass.
                logger.error("idle transactional ids could not be expired yet", metadata: ["count": "\(chunk.count)", "error": "\(error)"])
                for metadata in chunk { release(metadata.transactionalId) }
                break
            }
            for metadata in chunk { release(metadata.transactionalId) }
            if chunk.count < chunkSize { break }
        }
        if !expired.isEmpty { logger.info("idle transactional ids expired", metadata: ["count": "\(expired.count)"]) }
        return expired
    }
}
