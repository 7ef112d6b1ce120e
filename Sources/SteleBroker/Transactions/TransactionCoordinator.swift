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

    private let state = Mutex(State())
    private let store: TransactionStateStore
    private let writeMarker: MarkerWriter
    private let writeOffsets: OffsetWriter
    private let nextProducerId: @Sendable () throws -> Int64
    private let writeBatch: BatchWriter
    private let holdsOpen: OpenCheck
    private let clock: @Sendable () -> Int64
    private let ticker = Mutex<Task<Void, Never>?>(nil)
    /// Woken whenever an id stops being busy: a request that met a change in progress waits
    /// here (up to ``patience``) instead of sending the client away with CONCURRENT_TRANSACTIONS.
    private let changes = ArrivalNotifier()
    /// How long a request waits for another change of its id to finish.
    static let patience: Duration = .seconds(5)
    private let logger = Logger(label: "stele.transactions")
    /// Completions running in the background (EndTxn answered at its decision), awaited by ``stop()``.
    private let completions = Mutex<[String: Task<Void, Never>]>([:])

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
    var highestProducerId: Int64? { state.withLock { $0.ids.keys.max() } }

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

    // MARK: Requests

    /// InitProducerId with a transactional id: a new epoch (or a new producer id) for the
    /// producer that calls, fencing every older one; an open transaction is aborted first.
    /// `producerId`/`epoch` ≥ 0 (KIP-360) is a producer recovering its own id after an error.
    public func initProducerId(transactionalId: String, timeoutMs: Int32, producerId: Int64 = -1,
                               epoch: Int16 = -1) async -> Result<(producerId: Int64, epoch: Int16), TransactionError> {
        await patiently {
            await self.initProducerIdOnce(transactionalId: transactionalId, timeoutMs: timeoutMs, producerId: producerId, epoch: epoch)
        } isBusy: { if case .failure(.concurrentTransactions) = $0 { true } else { false } }
    }

    private func initProducerIdOnce(transactionalId: String, timeoutMs: Int32, producerId: Int64,
                                    epoch: Int16) async -> Result<(producerId: Int64, epoch: Int16), TransactionError> {
        guard timeoutMs > 0, timeoutMs <= Self.maxTimeoutMs else { return .failure(.invalidTimeout) }
        let now = clock()
        enum Begun { case new(TransactionMetadata), retried(TransactionMetadata), proceed(TransactionMetadata) }
        let begun = state.withLock { state -> Result<Begun, TransactionError> in
            guard let entry = state.entries[transactionalId] else {
                // A new id: reserved here, busy, so a racing InitProducerId of the same id waits
                // for this one instead of storing a producer id of its own.
                guard producerId < 0 else { return .failure(.invalidProducerIdMapping) }
                guard let id = try? nextProducerId() else { return .failure(.unavailable("no producer id could be reserved")) }
                let metadata = TransactionMetadata(transactionalId: transactionalId, producerId: id, producerEpoch: 0,
                                                   timeoutMs: timeoutMs, state: .empty, updatedMs: now)
                state.set(metadata)
                state.entries[transactionalId]!.busy = true
                return .success(.new(metadata))
            }
            if entry.busy { return .failure(.concurrentTransactions) }
            let current = entry.metadata
            if producerId >= 0 {
                guard producerId == current.producerId else { return .failure(.producerFenced) }
                // A retry of a recovery that succeeded: the epoch it got, not another bump.
                if epoch == current.lastProducerEpoch && epoch >= 0 { return .success(.retried(current)) }
                guard epoch == current.producerEpoch else { return .failure(.producerFenced) }
            }
            if current.state == .prepareCommit || current.state == .prepareAbort { return .failure(.concurrentTransactions) }
            state.entries[transactionalId]!.busy = true
            state.entries[transactionalId]!.ending = current.state == .ongoing
            return .success(.proceed(current))
        }
        var next: TransactionMetadata
        switch begun {
        case let .failure(error): return .failure(error)
        case let .success(.retried(metadata)): return .success((metadata.producerId, metadata.producerEpoch))
        case let .success(.new(metadata)):
            do {
                try await store.store(metadata)
            } catch {
                state.withLock { state in
                    state.entries[transactionalId] = nil
                    state.ids[metadata.producerId] = nil
                }
                return .failure(.unavailable("\(error)"))
            }
            release(transactionalId)
            return .success((metadata.producerId, metadata.producerEpoch))
        case let .success(.proceed(metadata)): next = metadata
        }
        do {
            let recovering = producerId >= 0
            if next.state == .ongoing {
                // Fence the old producer: its open transaction aborts under a new epoch, which
                // no producer has used yet and which this caller gets.
                await waitForBatches(of: transactionalId)
                let exhausted = next.epochExhausted
                do {
                    next = try await finish(next, decision: .prepareAbort, fence: true, now: now)
                } catch let error as DecidedError {
                    // Memory never lags what is durable: the zombie is fenced by the stored epoch.
                    state.withLock { state in state.set(error.decided) }
                    throw error.cause
                }
                state.withLock { state in state.set(next) }
                if exhausted {
                    // No epoch was left to fence with: a new producer id does it.
                    next.producerId = try nextProducerId()
                    next.producerEpoch = 0
                }
                next.lastProducerEpoch = -1
            } else if next.epochExhausted {
                next.producerId = try nextProducerId()
                next.producerEpoch = 0
                next.lastProducerEpoch = -1
            } else {
                // KIP-360: a producer recovering its own epoch may retry and get the same answer.
                next.lastProducerEpoch = recovering ? next.producerEpoch : -1
                next.producerEpoch += 1
            }
            next.timeoutMs = timeoutMs
            next.state = .empty
            next.updatedMs = now
            try await store.store(next)
            state.withLock { state in
                state.set(next)
                state.entries[transactionalId]!.busy = false
                state.entries[transactionalId]!.ending = false
            }
            changes.notifyAll()
            return .success((next.producerId, next.producerEpoch))
        } catch {
            release(transactionalId)
            return .failure(.unavailable("\(error)"))
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the transaction (begun here if none is open) will
    /// write to these partitions and commit these groups' offsets. Durable before it returns.
    public func add(transactionalId: String, producerId: Int64, epoch: Int16, partitions: [Partition] = [],
                    groups: [String] = []) async -> TransactionError? {
        await patiently {
            await self.addOnce(transactionalId: transactionalId, producerId: producerId, epoch: epoch, partitions: partitions, groups: groups)
        } isBusy: { $0 == .concurrentTransactions }
    }

    private func addOnce(transactionalId: String, producerId: Int64, epoch: Int16, partitions: [Partition],
                         groups: [String]) async -> TransactionError? {
        let now = clock()
        let change = state.withLock { state -> Result<TransactionMetadata?, TransactionError> in
            guard let entry = state.entries[transactionalId] else { return .failure(.invalidProducerIdMapping) }
            if let error = Self.check(entry, producerId: producerId, epoch: epoch) { return .failure(error) }
            var next = entry.metadata
            switch next.state {
            case .prepareCommit, .prepareAbort: return .failure(.concurrentTransactions)
            case .ongoing: break
            case .empty, .completeCommit, .completeAbort:
                next.state = .ongoing
                (next.partitions, next.groups, next.pendingOffsets, next.startedMs) = ([], [], [], now)
            }
            let newPartitions = partitions.filter { !next.partitions.contains($0) }
            let newGroups = groups.filter { !next.groups.contains($0) }
            if next.state == entry.metadata.state && newPartitions.isEmpty && newGroups.isEmpty { return .success(nil) }
            next.partitions += newPartitions
            next.groups += newGroups
            next.updatedMs = now
            state.entries[transactionalId]!.busy = true
            return .success(next)
        }
        switch change {
        case let .failure(error): return error
        case .success(nil): return nil
        case let .success(next?): return await commitChange(next)
        }
    }

    /// TxnOffsetCommit: offsets that commit with the transaction (the group must have been
    /// added with AddOffsetsToTxn). Durable before it returns, so a broker restart loses none.
    public func addOffsets(transactionalId: String, producerId: Int64, epoch: Int16, group: String,
                           offsets: [TransactionMetadata.PendingOffset]) async -> TransactionError? {
        await patiently {
            await self.addOffsetsOnce(transactionalId: transactionalId, producerId: producerId, epoch: epoch, group: group, offsets: offsets)
        } isBusy: { $0 == .concurrentTransactions }
    }

    private func addOffsetsOnce(transactionalId: String, producerId: Int64, epoch: Int16, group: String,
                                offsets: [TransactionMetadata.PendingOffset]) async -> TransactionError? {
        let now = clock()
        let change = state.withLock { state -> Result<TransactionMetadata, TransactionError> in
            guard let entry = state.entries[transactionalId] else { return .failure(.invalidProducerIdMapping) }
            if let error = Self.check(entry, producerId: producerId, epoch: epoch) { return .failure(error) }
            var next = entry.metadata
            guard next.state == .ongoing, next.groups.contains(group) else {
                return .failure(.invalidTransactionState("group \(group) was not added to the transaction of \(transactionalId)"))
            }
            for offset in offsets {
                next.pendingOffsets.removeAll { $0.group == offset.group && $0.topic == offset.topic && $0.partition == offset.partition }
                next.pendingOffsets.append(offset)
            }
            next.updatedMs = now
            state.entries[transactionalId]!.busy = true
            return .success(next)
        }
        switch change {
        case let .failure(error): return error
        case let .success(next): return await commitChange(next)
        }
    }

    /// EndTxn: commits or aborts the open transaction. A retry of an EndTxn that already
    /// completed the same way succeeds; the other way is INVALID_TXN_STATE.
    public func end(transactionalId: String, producerId: Int64, epoch: Int16, commit: Bool) async -> TransactionError? {
        await patiently {
            await self.endOnce(transactionalId: transactionalId, producerId: producerId, epoch: epoch, commit: commit)
        } isBusy: { $0 == .concurrentTransactions }
    }

    private func endOnce(transactionalId: String, producerId: Int64, epoch: Int16, commit: Bool) async -> TransactionError? {
        let now = clock()
        let begun = state.withLock { state -> Result<TransactionMetadata?, TransactionError> in
            guard let entry = state.entries[transactionalId] else { return .failure(.invalidProducerIdMapping) }
            if let error = Self.check(entry, producerId: producerId, epoch: epoch) { return .failure(error) }
            switch entry.metadata.state {
            case .ongoing: break
            case .completeCommit where commit, .completeAbort where !commit: return .success(nil)
            case .prepareCommit, .prepareAbort: return .failure(.concurrentTransactions)
            case .empty, .completeCommit, .completeAbort:
                return .failure(.invalidTransactionState("\(transactionalId) has no open transaction to \(commit ? "commit" : "abort") (\(entry.metadata.state.rawValue))"))
            }
            state.entries[transactionalId]!.busy = true
            state.entries[transactionalId]!.ending = true
            return .success(entry.metadata)
        }
        switch begun {
        case let .failure(error): return error
        case .success(nil): return nil
        case let .success(current?):
            await waitForBatches(of: transactionalId)
            // As Kafka: answered once the decision is durable; the markers, the offsets and the
            // completion follow, and the id's next request waits for them (``patiently``).
            var decided = current
            decided.state = commit ? .prepareCommit : .prepareAbort
            if !commit { decided.pendingOffsets = [] }
            decided.updatedMs = now
            do {
                try await store.store(decided)
            } catch {
                release(transactionalId)
                return .unavailable("\(error)")
            }
            state.withLock { state in state.set(decided) }
            let completion = Task {
                do {
                    // One durable write fewer on the way to the id's next transaction.
                    let done = try await self.complete(decided, now: now, storesCompletion: false)
                    self.state.withLock { state in
                        state.set(done)
                        state.entries[transactionalId]!.completionUnstored = decided.pendingOffsets.isEmpty
                    }
                } catch let error as DecidedError {
                    self.logger.error("a transaction's markers could not all be written; retried", metadata: ["id": "\(transactionalId)", "error": "\(error.cause)"])
                    self.state.withLock { state in state.set(error.decided) }
                } catch {
                    self.logger.error("a transaction could not be completed yet; retried", metadata: ["id": "\(transactionalId)", "error": "\(error)"])
                }
                self.release(transactionalId)
            }
            completions.withLock { $0[transactionalId] = completion }
            return nil
        }
    }

    /// Why ``commit(transactionalId:producerId:epoch:batches:)`` did not commit.
    public enum CommitFailure: Error, Sendable {
        /// Refused before anything was decided: nothing is written.
        case refused(TransactionError)
        /// A batch was refused for good — its expectation failed (another writer moved a stream),
        /// or it can never be written there (its topic deleted, its size past the topic's limit):
        /// the transaction was aborted, nothing of it is visible.
        case conflict(Partition, LogError)
        /// The commit is decided and durable but not complete (a write failed): it completes
        /// at a later tick or the next start.
        case decidedButIncomplete(String)
    }

    /// Commits the open transaction with `batches` as its data, written by the coordinator
    /// after the decision is durable (the event store's multi-stream appends): the batches are
    /// stored with PrepareCommit, so a crash rolls the transaction forward instead of leaving
    /// records to abort. The batches' partitions must have been added. Returns where each
    /// batch landed.
    public func commit(transactionalId: String, producerId: Int64, epoch: Int16,
                       batches: [TransactionMetadata.PendingBatch]) async -> Result<[Partition: AppendResult], CommitFailure> {
        await patiently {
            await self.commitOnce(transactionalId: transactionalId, producerId: producerId, epoch: epoch, batches: batches)
        } isBusy: { if case .failure(.refused(.concurrentTransactions)) = $0 { true } else { false } }
    }

    private func commitOnce(transactionalId: String, producerId: Int64, epoch: Int16,
                            batches: [TransactionMetadata.PendingBatch]) async -> Result<[Partition: AppendResult], CommitFailure> {
        let now = clock()
        let begun = state.withLock { state -> Result<TransactionMetadata, TransactionError> in
            guard let entry = state.entries[transactionalId] else { return .failure(.invalidProducerIdMapping) }
            if let error = Self.check(entry, producerId: producerId, epoch: epoch) { return .failure(error) }
            guard entry.metadata.state == .ongoing, batches.allSatisfy({ entry.metadata.partitions.contains($0.partition) }) else {
                return .failure(.invalidTransactionState("\(transactionalId) has no open transaction with these partitions"))
            }
            state.entries[transactionalId]!.busy = true
            state.entries[transactionalId]!.ending = true
            return .success(entry.metadata)
        }
        let current: TransactionMetadata
        switch begun {
        case let .failure(error): return .failure(.refused(error))
        case let .success(metadata): current = metadata
        }
        await waitForBatches(of: transactionalId)
        var decided = current
        decided.state = .prepareCommit
        decided.pendingBatches = batches
        decided.updatedMs = now
        do {
            try await store.store(decided)
        } catch {
            release(transactionalId)
            return .failure(.refused(.unavailable("\(error)")))
        }
        let outcome: Result<[Partition: AppendResult], CommitFailure>
        do {
            let (done, results) = try await completeWithBatches(decided, now: now)
            state.withLock { state in state.set(done) }
            if done.state == .completeAbort, case let .conflict(partition, error)? = results.conflict {
                outcome = .failure(.conflict(partition, error))
            } else {
                outcome = .success(results.written)
            }
        } catch let error as DecidedError {
            state.withLock { state in state.set(error.decided) }
            outcome = .failure(.decidedButIncomplete("\(error.cause)"))
        } catch {
            outcome = .failure(.decidedButIncomplete("\(error)"))
        }
        release(transactionalId)
        return outcome
    }

    private struct BatchResults {
        var written: [Partition: AppendResult] = [:]
        var conflict: CommitFailure?
    }

    /// Writes a decided transaction's pending batches (those whose partition does not hold
    /// them yet), then completes it. A batch refused for its expectations turns the decision
    /// into an abort: nothing of the transaction becomes visible.
    private func completeWithBatches(_ decided: TransactionMetadata, now: Int64) async throws -> (TransactionMetadata, BatchResults) {
        var results = BatchResults()
        guard decided.state == .prepareCommit, let batches = decided.pendingBatches, !batches.isEmpty else {
            return (try await complete(decided, now: now), results)
        }
        let producerId = decided.producerId
        let outcomes = await withTaskGroup(of: (Partition, Result<AppendResult, any Error>?).self) { group in
            for batch in batches {
                group.addTask {
                    // Already there (an earlier attempt wrote it): written once, never twice.
                    if self.holdsOpen(batch.partition, producerId) { return (batch.partition, nil) }
                    let expectations = batch.expectations.map { StreamExpectation(offsetDelta: $0.offsetDelta, expected: .exact($0.version)) }
                    do {
                        return (batch.partition, .success(try await self.writeBatch(batch.partition, Array(batch.bytes), expectations)))
                    } catch {
                        return (batch.partition, .failure(error))
                    }
                }
            }
            var outcomes: [(Partition, Result<AppendResult, any Error>?)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        for case let (partition, .success(result)?) in outcomes { results.written[partition] = result }
        if let (partition, conflict) = outcomes.lazy.compactMap({ outcome -> (Partition, LogError)? in
            guard case let .failure(error as LogError)? = outcome.1 else { return nil }
            switch error {
            case .wrongExpectedVersion, .invalidBatch, .batchTooLarge: return (outcome.0, error)
            default: return nil
            }
        }).first {
            // A batch that can never be written (another writer moved a stream, the topic is
            // gone or refuses it): abort what was written, so none of it is seen. No marker was
            // written yet, so the decision can still turn.
            var aborted = decided
            aborted.state = .prepareAbort
            (aborted.pendingBatches, aborted.pendingOffsets, aborted.updatedMs) = (nil, [], now)
            try await store.store(aborted)
            results.conflict = .conflict(partition, conflict)
            do { return (try await complete(aborted, now: now), results) } catch let error as DecidedError { throw error } catch {
                throw DecidedError(decided: aborted, cause: error)
            }
        }
        if let failure = outcomes.lazy.compactMap({ outcome -> (any Error)? in
            if case let .failure(error)? = outcome.1 { return error }
            return nil
        }).first {
            throw DecidedError(decided: decided, cause: failure)
        }
        var written = decided
        (written.pendingBatches, written.updatedMs) = (nil, now)
        do { try await store.store(written) } catch { throw DecidedError(decided: decided, cause: error) }
        return (try await complete(written, now: now), results)
    }

    // MARK: Batches

    /// A transactional batch may be appended: registers it, so the transaction cannot end
    /// before ``finishedBatch(producerId:)``.
    public func beginBatch(transactionalId: String, producerId: Int64, epoch: Int16, partition: Partition) -> TransactionError? {
        state.withLock { state in
            guard let id = state.ids[producerId], let entry = state.entries[id] else {
                return .invalidTransactionState("producer \(producerId) has no transactional id here")
            }
            // A client allowed on one transactional id cannot write into another's transaction.
            guard id == transactionalId else { return .invalidProducerIdMapping }
            let metadata = entry.metadata
            if epoch < metadata.producerEpoch { return .invalidProducerEpoch }
            guard epoch == metadata.producerEpoch, metadata.state == .ongoing, !entry.ending, metadata.partitions.contains(partition) else {
                return .invalidTransactionState("\(partition.topic)-\(partition.partition) is not part of an open transaction of producer \(producerId) epoch \(epoch)")
            }
            state.entries[id]!.producing += 1
            return nil
        }
    }

    public func finishedBatch(producerId: Int64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard let id = state.ids[producerId], state.entries[id] != nil else { return [] }
            state.entries[id]!.producing -= 1
            assert(state.entries[id]!.producing >= 0)
            guard state.entries[id]!.producing == 0 else { return [] }
            defer { state.entries[id]!.drained = [] }
            return state.entries[id]!.drained
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Internals

    private struct DecidedError: Error { var decided: TransactionMetadata; var cause: any Error }

    /// Runs `attempt` again while it meets another change of its id in progress, each time after
    /// that change ends, for at most ``patience`` in all.
    private func patiently<T>(_ attempt: () async -> T, isBusy: (T) -> Bool) async -> T {
        let deadline = ContinuousClock.now + Self.patience
        while true {
            // Read before the attempt: an id released after it wakes the wait at once. Only a
            // release notifies, so waiters do not wake one another.
            let generation = changes.generation
            let result = await attempt()
            guard isBusy(result), ContinuousClock.now < deadline, !Task.isCancelled else { return result }
            await changes.wait(after: generation, until: min(deadline, .now + Self.tickInterval))
        }
    }

    private static func check(_ entry: Entry, producerId: Int64, epoch: Int16) -> TransactionError? {
        guard entry.metadata.producerId == producerId else { return .invalidProducerIdMapping }
        guard entry.metadata.producerEpoch == epoch else { return .producerFenced }
        return entry.busy ? .concurrentTransactions : nil
    }

    private func commitChange(_ next: TransactionMetadata) async -> TransactionError? {
        do {
            try await store.store(next)
        } catch {
            release(next.transactionalId)
            return .unavailable("\(error)")
        }
        state.withLock { state in
            state.set(next)
            state.entries[next.transactionalId]!.busy = false
            state.entries[next.transactionalId]!.completionUnstored = false
        }
        changes.notifyAll()
        return nil
    }

    private func release(_ transactionalId: String) {
        state.withLock { state in
            state.entries[transactionalId]?.busy = false
            state.entries[transactionalId]?.ending = false
        }
        changes.notifyAll()
    }

    private func waitForBatches(of transactionalId: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard let entry = state.entries[transactionalId], entry.producing > 0 else { return true }
                state.entries[transactionalId]!.drained.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Decides (durably), marks every partition, applies the offsets, completes (durably).
    /// `fence`: the epoch is bumped first, so the producer that owned the transaction is fenced
    /// in the coordinator and, through the markers, in every partition.
    private func finish(_ current: TransactionMetadata, decision: TransactionMetadata.State, fence: Bool,
                        now: Int64) async throws -> TransactionMetadata {
        assert(decision == .prepareCommit || decision == .prepareAbort)
        var decided = current
        if fence && !current.epochExhausted {
            // The fenced producer cannot recover this id (Kafka: PRODUCER_FENCED is final).
            decided.lastProducerEpoch = -1
            decided.producerEpoch += 1
        }
        decided.state = decision
        if decision == .prepareAbort { decided.pendingOffsets = [] }
        decided.updatedMs = now
        try await store.store(decided)
        do {
            return try await complete(decided, now: now)
        } catch {
            throw DecidedError(decided: decided, cause: error)
        }
    }

    /// `storesCompletion: false` keeps the completion in memory only: the decision stays the
    /// id's last record until its next change. Safe where completing again is harmless — every
    /// marker is durable before this returns, a repeated marker finds no open transaction, and
    /// the id's next change is stored only after this completion — and used only without
    /// offsets (applying a transaction's offsets again after a restart could undo a later commit).
    private func complete(_ decided: TransactionMetadata, now: Int64, storesCompletion: Bool = true) async throws -> TransactionMetadata {
        let marker: TransactionMarker = decided.state == .prepareCommit ? .commit : .abort
        // Each partition's marker is written and made durable before the transaction is stored
        // complete: a complete transaction never leaves a partition without its marker.
        let failed = await withTaskGroup(of: (Partition, (any Error)?).self) { group in
            for partition in decided.partitions {
                group.addTask {
                    do {
                        try await self.writeMarker(partition, marker, decided.producerId, decided.producerEpoch)
                        return (partition, nil)
                    } catch {
                        return (partition, error)
                    }
                }
            }
            var failed: [(Partition, any Error)] = []
            for await (partition, error) in group { if let error { failed.append((partition, error)) } }
            return failed
        }
        if let (_, error) = failed.first {
            // Only the partitions still without their marker are retried.
            var remaining = decided
            remaining.partitions = decided.partitions.filter { partition in failed.contains { $0.0 == partition } }
            if remaining.partitions != decided.partitions {
                remaining.updatedMs = now
                try? await store.store(remaining)
            }
            throw DecidedError(decided: remaining, cause: error)
        }
        if marker == .commit && !decided.pendingOffsets.isEmpty {
            do { try await writeOffsets(decided.pendingOffsets) } catch {
                var remaining = decided
                remaining.partitions = []
                throw DecidedError(decided: remaining, cause: error)
            }
        }
        var done = decided
        done.state = marker == .commit ? .completeCommit : .completeAbort
        (done.partitions, done.groups, done.pendingOffsets, done.startedMs) = ([], [], [], -1)
        done.updatedMs = now
        if !storesCompletion && decided.pendingOffsets.isEmpty { return done }
        do { try await store.store(done) } catch {
            var remaining = decided
            remaining.partitions = []
            throw DecidedError(decided: remaining, cause: error)
        }
        return done
    }

    /// Completes decided transactions (after a restart, or a failed marker write) and aborts
    /// those past their timeout.
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
}
