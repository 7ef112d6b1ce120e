import Foundation
import Logging
import Synchronization
import SteleAsync
import SteleCore
import SteleLog

/// How a transaction ends: the decision stored, the markers written, the offsets applied, the
/// completion stored; and the waiting that keeps one change of an id at a time.
extension TransactionCoordinator {
    // MARK: Internals

    struct DecidedError: Error { var decided: TransactionMetadata; var cause: any Error }

    /// Runs `attempt` again while it meets another change of its id in progress, each time after
    /// that change ends, for at most ``patience`` in all.
    func patiently<T>(_ attempt: () async -> T, isBusy: (T) -> Bool) async -> T {
        let deadline = ContinuousClock.now + patience.withLock { $0 }
        while true {
            // Read before the attempt: an id released after it wakes the wait at once. Only a
            // release notifies, so waiters do not wake one another.
            let generation = changes.generation
            let result = await attempt()
            guard isBusy(result), ContinuousClock.now < deadline, !Task.isCancelled else { return result }
            await changes.wait(after: generation, until: min(deadline, .now + Self.tickInterval))
        }
    }

    static func check(_ entry: Entry, producerId: Int64, epoch: Int16) -> TransactionError? {
        // A change in progress first, as Kafka: it may be handing the producer a new id or
        // epoch (an end's completion), which the producer already uses — it waits for the
        // change instead of being refused for good.
        if entry.busy { return .concurrentTransactions }
        guard entry.metadata.producerId == producerId else { return .invalidProducerIdMapping }
        guard entry.metadata.producerEpoch == epoch else { return .producerFenced }
        return nil
    }

    func commitChange(_ next: TransactionMetadata) async -> TransactionError? {
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

    func release(_ transactionalId: String) {
        state.withLock { state in
            state.entries[transactionalId]?.busy = false
            state.entries[transactionalId]?.ending = false
        }
        changes.notifyAll()
    }

    func waitForBatches(of transactionalId: String) async {
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
    func finish(_ current: TransactionMetadata, decision: TransactionMetadata.State, fence: Bool,
                        now: Int64) async throws -> TransactionMetadata {
        assert(decision == .prepareCommit || decision == .prepareAbort)
        var decided = current
        if fence {
            // The fenced producer cannot recover this id (Kafka: PRODUCER_FENCED is final).
            decided.lastProducerEpoch = -1
            if current.epochExhausted {
                // No epoch left to fence with: the markers take the last one and the id moves
                // on to a new producer id at completion, so the fenced producer (which may
                // speak transaction version 2 and continue without asking) matches nothing.
                (decided.producerEpoch, decided.nextProducerId) = (.max, try nextProducerId())
            } else {
                decided.producerEpoch += 1
            }
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
    func complete(_ decided: TransactionMetadata, now: Int64, storesCompletion: Bool = true) async throws -> TransactionMetadata {
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
        if let next = decided.nextProducerId {
            // Transaction version 2 ran out of epochs: the markers carried the old id at the
            // last epoch; the producer continues with a new id (the EndTxn answer named it).
            (done.previousProducerId, done.producerId, done.producerEpoch, done.nextProducerId) = (decided.producerId, next, 0, nil)
        }
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
}
