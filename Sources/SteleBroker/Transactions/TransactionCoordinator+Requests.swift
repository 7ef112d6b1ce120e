import Foundation
import Logging
import Synchronization
import SteleAsync
import SteleCore
import SteleLog

/// The coordinator's requests: InitProducerId, AddPartitionsToTxn/AddOffsetsToTxn, TxnOffsetCommit,
/// EndTxn, and the check of each transactional batch before it is appended.
extension TransactionCoordinator {
    // MARK: Requests

    /// InitProducerId with a transactional id: a new epoch (or a new producer id) for the
    /// producer that calls, fencing every older one; an open transaction is aborted first.
    /// `producerId`/`epoch` ≥ 0 (KIP-360) is a producer recovering its own id after an error.
    /// `stillWanted` as for ``end(transactionalId:producerId:epoch:commit:bumpingEpoch:stillWanted:)``:
    /// an abandoned InitProducerId waking late would fence the client's retry of it.
    public func initProducerId(transactionalId: String, timeoutMs: Int32, producerId: Int64 = -1,
                               epoch: Int16 = -1, stillWanted: @Sendable () -> Bool = { true }) async -> Result<(producerId: Int64, epoch: Int16), TransactionError> {
        await patiently {
            guard stillWanted() else { return .failure(.requesterGone) }
            return await self.initProducerIdOnce(transactionalId: transactionalId, timeoutMs: timeoutMs, producerId: producerId, epoch: epoch)
        } isBusy: { if case .failure(.concurrentTransactions) = $0 { true } else { false } }
    }

    func initProducerIdOnce(transactionalId: String, timeoutMs: Int32, producerId: Int64,
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
                // Only with nothing open (Kafka's `prepareIncrementProducerEpoch`): a transaction
                // open under the current epoch is aborted and the epoch bumped, as for any
                // InitProducerId of this producer.
                let previous = epoch == current.lastProducerEpoch && epoch >= 0
                if previous && [.empty, .completeCommit, .completeAbort].contains(current.state) { return .success(.retried(current)) }
                guard epoch == current.producerEpoch || previous else { return .failure(.producerFenced) }
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
                do {
                    next = try await finish(next, decision: .prepareAbort, fence: true, now: now)
                } catch let error as DecidedError {
                    // Memory never lags what is durable: the zombie is fenced by the stored epoch.
                    state.withLock { state in state.set(error.decided) }
                    throw error.cause
                }
                // With no epoch left to fence with, `finish` moved the id to a new producer id
                // at epoch 0, which this caller gets.
                state.withLock { state in state.set(next) }
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
    ///
    /// `stillWanted` (every request of a transactional producer carries one) is asked before
    /// each attempt: once the request's connection has closed, it changes nothing.
    public func add(transactionalId: String, producerId: Int64, epoch: Int16, partitions: [Partition] = [],
                    groups: [String] = [], stillWanted: @Sendable () -> Bool = { true }) async -> TransactionError? {
        await patiently {
            guard stillWanted() else { return .requesterGone }
            return await self.addOnce(transactionalId: transactionalId, producerId: producerId, epoch: epoch, partitions: partitions, groups: groups)
        } isBusy: { $0 == .concurrentTransactions }
    }

    /// A transaction open, or begun now (nothing added yet) if the last one ended; a decided
    /// one still completing is CONCURRENT_TRANSACTIONS (the request waits for it).
    static func beginIfNone(_ metadata: inout TransactionMetadata, now: Int64) -> TransactionError? {
        switch metadata.state {
        case .prepareCommit, .prepareAbort: return .concurrentTransactions
        case .ongoing: return nil
        case .empty, .completeCommit, .completeAbort:
            metadata.state = .ongoing
            (metadata.partitions, metadata.groups, metadata.pendingOffsets, metadata.startedMs) = ([], [], [], now)
            return nil
        }
    }

    func addOnce(transactionalId: String, producerId: Int64, epoch: Int16, partitions: [Partition],
                         groups: [String]) async -> TransactionError? {
        let now = clock()
        let change = state.withLock { state -> Result<TransactionMetadata?, TransactionError> in
            guard let entry = state.entries[transactionalId] else { return .failure(.invalidProducerIdMapping) }
            if let error = Self.check(entry, producerId: producerId, epoch: epoch) { return .failure(error) }
            var next = entry.metadata
            if let error = Self.beginIfNone(&next, now: now) { return .failure(error) }
            // One pass over each list, not a search of the held ones per partition asked for.
            let held = Set(next.partitions)
            let newPartitions = partitions.filter { !held.contains($0) }
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

    /// TxnOffsetCommit: offsets that commit with the transaction. The group must have been
    /// added with AddOffsetsToTxn, unless `addingGroup` (transaction version 2, TxnOffsetCommit
    /// v5): then it is added here, beginning the transaction if none is open. Durable before it
    /// returns, so a broker restart loses none.
    public func addOffsets(transactionalId: String, producerId: Int64, epoch: Int16, group: String,
                           offsets: [TransactionMetadata.PendingOffset], addingGroup: Bool = false,
                           stillWanted: @Sendable () -> Bool = { true }) async -> TransactionError? {
        await patiently {
            guard stillWanted() else { return .requesterGone }
            return await self.addOffsetsOnce(transactionalId: transactionalId, producerId: producerId, epoch: epoch, group: group,
                                             offsets: offsets, addingGroup: addingGroup)
        } isBusy: { $0 == .concurrentTransactions }
    }

    func addOffsetsOnce(transactionalId: String, producerId: Int64, epoch: Int16, group: String,
                        offsets: [TransactionMetadata.PendingOffset], addingGroup: Bool) async -> TransactionError? {
        let now = clock()
        let change = state.withLock { state -> Result<TransactionMetadata, TransactionError> in
            guard let entry = state.entries[transactionalId] else { return .failure(.invalidProducerIdMapping) }
            if let error = Self.check(entry, producerId: producerId, epoch: epoch) { return .failure(error) }
            var next = entry.metadata
            if addingGroup {
                if let error = Self.beginIfNone(&next, now: now) { return .failure(error) }
                if !next.groups.contains(group) { next.groups.append(group) }
            }
            guard next.state == .ongoing, next.groups.contains(group) else {
                return .failure(.invalidTransactionState("group \(group) was not added to the transaction of \(transactionalId)"))
            }
            // The last offset per partition wins, in one pass (a request of 75,000 partitions
            // made this quadratic under the coordinator's lock).
            struct Key: Hashable { var group: String, topic: String, partition: Int32 }
            var latest: [Key: TransactionMetadata.PendingOffset] = [:]
            for offset in offsets { latest[Key(group: offset.group, topic: offset.topic, partition: offset.partition)] = offset }
            next.pendingOffsets.removeAll { latest[Key(group: $0.group, topic: $0.topic, partition: $0.partition)] != nil }
            var placed = Set<Key>()
            for offset in offsets {
                let key = Key(group: offset.group, topic: offset.topic, partition: offset.partition)
                if placed.insert(key).inserted { next.pendingOffsets.append(latest[key]!) }
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

    /// EndTxn up to v4: commits or aborts the open transaction under the producer's epoch. A
    /// retry of an EndTxn that already completed the same way succeeds; the other way is
    /// INVALID_TXN_STATE.
    public func end(transactionalId: String, producerId: Int64, epoch: Int16, commit: Bool,
                    stillWanted: @Sendable () -> Bool = { true }) async -> TransactionError? {
        switch await end(transactionalId: transactionalId, producerId: producerId, epoch: epoch, commit: commit, bumpingEpoch: false,
                         stillWanted: stillWanted) {
        case .success: nil
        case let .failure(error): error
        }
    }

    /// EndTxn. With `bumpingEpoch` (v5, KIP-890's transaction version 2) the decision carries
    /// the next epoch: the markers are written with it, the producer continues with it (the
    /// answer), and a delayed EndTxn of the ended transaction — its epoch now old — can never
    /// decide a later one (KAFKA-17754): it is a retry while the transaction it ended is still
    /// the last, and PRODUCER_FENCED once another began. Once the epoch runs out the producer
    /// continues with a new producer id instead. Without it (v0–4) the epoch is kept, as the
    /// clients of that protocol expect.
    ///
    /// For clients of versions 0–4, whose epoch cannot move, `stillWanted` is the defence
    /// against the same delay: an EndTxn whose connection has closed — the client timed it
    /// out, reconnected and retried, and may have begun its next transaction since — decides
    /// nothing, even after waiting here for the id's previous change. That holds as long as
    /// the broker sees the old connection's close before the client's later requests, which
    /// it does unless a packet of a closed connection overtakes several round trips of a new
    /// one; version 2 needs no such assumption.
    public func end(transactionalId: String, producerId: Int64, epoch: Int16, commit: Bool,
                    bumpingEpoch: Bool, stillWanted: @Sendable () -> Bool = { true }) async -> Result<(producerId: Int64, epoch: Int16), TransactionError> {
        await patiently {
            guard stillWanted() else { return .failure(.requesterGone) }
            return await self.endOnce(transactionalId: transactionalId, producerId: producerId, epoch: epoch, commit: commit, bumpingEpoch: bumpingEpoch)
        } isBusy: { if case .failure(.concurrentTransactions) = $0 { true } else { false } }
    }

    /// What an EndTxn leads to, decided from the id's state alone.
    enum EndVerdict: Equatable {
        /// Nothing to do: answer with this producer id and epoch (a retry of a completed end).
        case answered(producerId: Int64, epoch: Int16)
        /// Decide the transaction (an empty one too: transaction version 2 aborts it to bump the epoch).
        case decide
    }

    /// EndTxn v0–4: the epoch must be the producer's.
    static func endVerdict(_ entry: Entry, producerId: Int64, epoch: Int16, commit: Bool) -> Result<EndVerdict, TransactionError> {
        if let error = check(entry, producerId: producerId, epoch: epoch) { return .failure(error) }
        let metadata = entry.metadata
        switch metadata.state {
        case .ongoing: return .success(.decide)
        case .completeCommit where commit, .completeAbort where !commit: return .success(.answered(producerId: producerId, epoch: epoch))
        case .prepareCommit, .prepareAbort: return .failure(.concurrentTransactions)
        case .empty, .completeCommit, .completeAbort:
            return .failure(.invalidTransactionState("\(metadata.transactionalId) has no open transaction to \(commit ? "commit" : "abort") (\(metadata.state.rawValue))"))
        }
    }

    /// EndTxn v5 (Kafka's table for transaction version 2): the current epoch decides an open
    /// transaction or aborts an empty one (an epoch bump); the epoch just before it is a retry
    /// of the end that bumped it, answered as that end was; any other epoch is fenced.
    static func endVerdictBumping(_ entry: Entry, producerId: Int64, epoch: Int16, commit: Bool) -> Result<EndVerdict, TransactionError> {
        if entry.busy { return .failure(.concurrentTransactions) }
        let metadata = entry.metadata
        // The end that ran out of epochs switched to a new id; its retry names the old one.
        let overflowRetry = metadata.previousProducerId == producerId && epoch == Int16.max - 1 && metadata.producerEpoch == 0
        guard producerId == metadata.producerId || overflowRetry else { return .failure(.invalidProducerIdMapping) }
        let current = producerId == metadata.producerId && epoch == metadata.producerEpoch
        let retry = overflowRetry || (producerId == metadata.producerId && Int32(epoch) + 1 == Int32(metadata.producerEpoch))
        let noOpen = "\(metadata.transactionalId) has no open transaction to \(commit ? "commit" : "abort") (\(metadata.state.rawValue))"
        switch metadata.state {
        case .ongoing:
            return current ? .success(.decide) : .failure(.producerFenced)
        case .empty:
            guard current else { return .failure(.producerFenced) }
            return commit ? .failure(.invalidTransactionState(noOpen)) : .success(.decide)
        case .prepareCommit, .prepareAbort:
            guard retry else { return .failure(.producerFenced) }
            // The end being retried is still completing: the retry waits for it (``patiently``).
            return (metadata.state == .prepareCommit) == commit ? .failure(.concurrentTransactions) : .failure(.invalidTransactionState(noOpen))
        case .completeCommit, .completeAbort:
            let sameWay = (metadata.state == .completeCommit) == commit
            if retry {
                return sameWay ? .success(.answered(producerId: metadata.producerId, epoch: metadata.producerEpoch)) : .failure(.invalidTransactionState(noOpen))
            }
            guard current else { return .failure(.producerFenced) }
            return commit ? .failure(.invalidTransactionState(noOpen)) : .success(.decide)
        }
    }

    func endOnce(transactionalId: String, producerId: Int64, epoch: Int16, commit: Bool,
                 bumpingEpoch: Bool) async -> Result<(producerId: Int64, epoch: Int16), TransactionError> {
        let now = clock()
        enum Begun { case answered(Int64, Int16), decide(TransactionMetadata) }
        let begun = state.withLock { state -> Result<Begun, TransactionError> in
            guard let entry = state.entries[transactionalId] else { return .failure(.invalidProducerIdMapping) }
            let verdict = bumpingEpoch ? Self.endVerdictBumping(entry, producerId: producerId, epoch: epoch, commit: commit)
                                       : Self.endVerdict(entry, producerId: producerId, epoch: epoch, commit: commit)
            switch verdict {
            case let .failure(error): return .failure(error)
            case let .success(.answered(producerId, epoch)): return .success(.answered(producerId, epoch))
            case .success(.decide):
                state.entries[transactionalId]!.busy = true
                state.entries[transactionalId]!.ending = true
                return .success(.decide(entry.metadata))
            }
        }
        let current: TransactionMetadata
        switch begun {
        case let .failure(error): return .failure(error)
        case let .success(.answered(producerId, epoch)): return .success((producerId, epoch))
        case let .success(.decide(metadata)): current = metadata
        }
        await waitForBatches(of: transactionalId)
        // As Kafka: answered once the decision is durable; the markers, the offsets and the
        // completion follow, and the id's next request waits for them (``patiently``).
        var decided = current
        decided.state = commit ? .prepareCommit : .prepareAbort
        if !commit { decided.pendingOffsets = [] }
        if current.state != .ongoing {
            // Transaction version 2 aborting no transaction: only the epoch moves.
            (decided.partitions, decided.groups, decided.pendingOffsets, decided.startedMs) = ([], [], [], now)
        }
        if bumpingEpoch {
            decided.lastProducerEpoch = current.producerEpoch
            if current.epochExhausted {
                // The markers take the last epoch; the producer continues with a new id.
                guard let next = try? nextProducerId() else {
                    release(transactionalId)
                    return .failure(.unavailable("no producer id could be reserved"))
                }
                (decided.producerEpoch, decided.nextProducerId) = (.max, next)
            } else {
                decided.producerEpoch += 1
            }
        }
        decided.updatedMs = now
        do {
            try await store.store(decided)
        } catch {
            release(transactionalId)
            return .failure(.unavailable("\(error)"))
        }
        state.withLock { state in state.set(decided) }
        let answer = decided.nextProducerId.map { (producerId: $0, epoch: Int16(0)) } ?? (decided.producerId, decided.producerEpoch)
        let completion = Task { [decided] in
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
        return .success(answer)
    }

    /// Why ``commit(transactionalId:producerId:epoch:batches:)`` did not commit.

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
}
