import Foundation
import Logging
import Synchronization
import SteleAsync
import SteleCore
import SteleLog

/// Committing a transaction whose batches the coordinator writes itself (the event store's
/// multi-stream appends): the batches are stored with the decision, then written, then marked.
extension TransactionCoordinator {
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

    func commitOnce(transactionalId: String, producerId: Int64, epoch: Int16,
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

    struct BatchResults {
        var written: [Partition: AppendResult] = [:]
        var conflict: CommitFailure?
    }

    /// Writes a decided transaction's pending batches (those whose partition does not hold
    /// them yet), then completes it. A batch refused for its expectations turns the decision
    /// into an abort: nothing of the transaction becomes visible.
    func completeWithBatches(_ decided: TransactionMetadata, now: Int64) async throws -> (TransactionMetadata, BatchResults) {
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
}
