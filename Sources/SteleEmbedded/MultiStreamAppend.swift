import Foundation
import SteleBroker
import SteleCore
import SteleLog
import SteleStore

/// Appends across several streams as one (``EventStorage/append(_:)``) on the embedded log.
///
/// The partitions involved are held exclusively (their gates, in one global order so two such
/// appends cannot deadlock): single-stream appends to them wait, so the versions checked here
/// cannot move before the write. Every expectation and idempotency check is made before anything
/// is written, so a conflict writes nothing. Streams that share one partition go in one batch
/// (a batch is atomic by itself); streams in several partitions or categories are written as a
/// Kafka transaction under one of the store's transactional ids and committed by the
/// coordinator's markers, so readers — the store, views, read_committed consumers — see all of
/// it or none. The coordinator stores the batches with its commit decision before writing any
/// (``TransactionCoordinator/commit(transactionalId:producerId:epoch:batches:)``): a crash
/// before that writes nothing, a crash after it is rolled forward at the next start. No record
/// of a multi-stream append is ever aborted after it was written, so no stream's versions get
/// a gap.
extension EmbeddedEventStorage {
    struct Part {
        var append: StreamAppend
        var log: PartitionLog
        var partition: Int32
        var gate: String { "\(append.stream.category)/\(partition)" }
    }

    public func append(_ appends: [StreamAppend]) async throws -> [AppendOutcome] {
        try StreamAppend.validate(appends)
        if appends.count == 1 { return [try await append(appends[0].events, to: appends[0].stream, expected: appends[0].expected)] }
        var parts: [Part] = []
        for append in appends {
            guard let (log, partition) = try await log(of: append.stream, create: true) else { throw EventStoreError.closed }
            parts.append(Part(append: append, log: log, partition: partition))
        }
        let held = Set(parts.map { PartitionKey(category: $0.append.stream.category, partition: $0.partition) }).sorted()
        for key in held { await gates.gate(key.category, key.partition).acquire(exclusive: true) }
        defer { for key in held.reversed() { gates.gate(key.category, key.partition).release(exclusive: true) } }
        let outcomes = try await appendHeld(parts)
        if !outcomes.allSatisfy(\.wasAlreadyAppended) { broker.arrivals.notifyAll() }
        return outcomes
    }

    private struct PartitionKey: Hashable, Comparable {
        var category: String
        var partition: Int32
        static func < (lhs: Self, rhs: Self) -> Bool { (lhs.category, lhs.partition) < (rhs.category, rhs.partition) }
    }

    private func appendHeld(_ parts: [Part]) async throws -> [AppendOutcome] {
        // Every check before any write; each partition's streams looked up in one trip to its log.
        var currents = [Int64](repeating: -1, count: parts.count)
        var repeats = [AppendOutcome?](repeating: nil, count: parts.count)
        for indices in Dictionary(grouping: parts.indices, by: { parts[$0].gate }).values {
            let log = parts[indices[0]].log
            let versions = try await mapLogErrors { try await log.streamVersions(keys: indices.map { parts[$0].append.stream.key }) }
            var lookups: [(index: Int, lookup: Idempotency.Lookup)] = []
            for (index, current) in zip(indices, versions) {
                currents[index] = current
                if let lookup = Idempotency.lookup(for: parts[index].append.expected, current: current, count: parts[index].append.events.count) {
                    lookups.append((index, lookup))
                }
            }
            if lookups.isEmpty { continue }
            let records = try await mapLogErrors {
                try await log.readStreams(lookups.map { (parts[$0.index].append.stream.key, $0.lookup.fromVersion, $0.lookup.limit) },
                                          isolation: .readUncommitted, includingAborted: false)
            }
            for ((index, lookup), found) in zip(lookups, records) {
                let part = parts[index]
                let existing = found.map { record in
                    EventHeaders.decode(stream: part.append.stream, version: record.version,
                                        position: EventPosition(partition: part.partition, offset: record.offset),
                                        timestamp: record.timestamp, value: record.value, headers: record.headers)
                }
                repeats[index] = try Idempotency.repeatedAppend(of: part.append.events, existing: existing, lookup: lookup, stream: part.append.stream)
            }
        }
        if repeats.allSatisfy({ $0 != nil }) { return repeats.map { $0! } }
        if let index = repeats.firstIndex(where: { $0 != nil }) {
            throw EventStoreError.idempotencyConflict(stream: parts[index].append.stream, reason: "its events of this append are already in the "
                + "stream, but other streams of the append lack theirs: nothing was written")
        }
        for (part, current) in zip(parts, currents) where !part.append.expected.isSatisfied(byCurrentVersion: current) {
            throw EventStoreError.wrongExpectedVersion(stream: part.append.stream, expected: part.append.expected, actual: current)
        }
        // One batch per partition; each stream's first record carries its exact expectation.
        let byPartition = Dictionary(grouping: parts.indices) { parts[$0].gate }
        var batches: [(gate: String, indices: [Int], builder: RecordBatchBuilder, expectations: [StreamExpectation])] = []
        for (gate, indices) in byPartition.sorted(by: { $0.key < $1.key }) {
            var builder = RecordBatchBuilder(baseTimestamp: Date().epochMilliseconds)
            var expectations: [StreamExpectation] = []
            for index in indices {
                let part = parts[index]
                expectations.append(StreamExpectation(offsetDelta: Int32(builder.records.count), expected: .exact(currents[index])))
                for event in part.append.events { builder.append(key: part.append.stream.key, value: event.data, headers: EventHeaders.encode(event)) }
            }
            batches.append((gate, indices, builder, expectations))
        }
        var results: [String: AppendResult] = [:]
        if batches.count == 1 {
            let batch = batches[0]
            results[batch.gate] = try await appendChecked(batch.builder.build(), to: parts[batch.indices[0]].log, expecting: batch.expectations, parts: parts)
        } else {
            results = try await appendTransaction(batches.map { ($0.gate, $0.indices, $0.builder, $0.expectations) }, parts: parts)
        }
        // Outcomes in the caller's order, from where each stream's first record landed.
        var outcomes = [AppendOutcome?](repeating: nil, count: parts.count)
        for batch in batches {
            let result = results[batch.gate]!
            var delta: Int64 = 0
            for (position, index) in batch.indices.enumerated() {
                let first = result.checkedVersions[position] + 1
                let count = Int64(parts[index].append.events.count)
                outcomes[index] = AppendOutcome(firstVersion: first, lastVersion: first + count - 1,
                                                firstPosition: EventPosition(partition: parts[index].partition, offset: result.baseOffset + delta),
                                                wasAlreadyAppended: false)
                delta += count
            }
        }
        return outcomes.map { $0! }
    }

    /// Appends one batch with expectations, mapping a conflict to the stream it names.
    private func appendChecked(_ batch: [UInt8], to log: PartitionLog, expecting expectations: [StreamExpectation],
                               parts: [Part]) async throws -> AppendResult {
        do {
            return try await log.append(batch, expecting: expectations)
        } catch let LogError.wrongExpectedVersion(key, expected, actual, _) {
            // Only a Kafka producer writing to the category can move a held stream.
            let part = parts.first { $0.append.stream.key == key && $0.log === log }
            throw EventStoreError.wrongExpectedVersion(stream: part?.append.stream ?? StreamName(category: "?", id: "?"),
                                                       expected: part?.append.expected ?? expected, actual: actual)
        } catch let error as LogError {
            throw EventStoreError.storage(error.description)
        }
    }

    /// Writes one transactional batch per partition and commits them together.
    private func appendTransaction(_ batches: [(gate: String, indices: [Int], builder: RecordBatchBuilder, expectations: [StreamExpectation])],
                                   parts: [Part]) async throws -> [String: AppendResult] {
        let coordinator = broker.transactions
        let id = await transactionalIds.take()
        defer { transactionalIds.give(id) }
        // A new epoch for each append: whatever an earlier append under this id left open is
        // aborted, and this one's batches start their sequences at 0 in every partition.
        let (producerId, epoch): (Int64, Int16)
        switch await coordinator.initProducerId(transactionalId: id, timeoutMs: 60_000) {
        case let .success(ids): (producerId, epoch) = ids
        case let .failure(error): throw EventStoreError.storage("the transaction coordinator: \(error)")
        }
        let partitions = batches.map { batch in
            TransactionCoordinator.Partition(topic: parts[batch.indices[0]].append.stream.category, partition: parts[batch.indices[0]].partition)
        }
        if let error = await coordinator.add(transactionalId: id, producerId: producerId, epoch: epoch, partitions: partitions) {
            throw EventStoreError.storage("the transaction coordinator: \(error)")
        }
        // The batches go to the coordinator, which stores them with the commit decision before
        // writing them: a crash at any point rolls the append forward, never half of it.
        var pending: [TransactionMetadata.PendingBatch] = []
        for (batch, partition) in zip(batches, partitions) {
            var builder = batch.builder
            builder.attributes = RecordBatchAttributes(rawValue: 0x10) // transactional
            (builder.producerId, builder.producerEpoch, builder.baseSequence) = (producerId, epoch, 0)
            pending.append(TransactionMetadata.PendingBatch(partition: partition, bytes: builder.build(), expectations: batch.expectations.map {
                guard case let .exact(version) = $0.expected else { preconditionFailure("a multi-stream append writes with exact expectations") }
                return .init(offsetDelta: $0.offsetDelta, version: version)
            }))
        }
        // Everything that could refuse a batch after the decision is checked before it: a decided
        // batch must be writable, or its partition would wait for it.
        do {
            for (pending, batch) in zip(pending, batches) { try parts[batch.indices[0]].log.validate(Array(pending.bytes)) }
        } catch let error as LogError {
            _ = await coordinator.end(transactionalId: id, producerId: producerId, epoch: epoch, commit: false)
            throw EventStoreError.invalidRequest("\(error); nothing was appended")
        }
        let total = pending.reduce(0) { $0 + $1.bytes.count }
        guard total <= TransactionCoordinator.maxPendingBatchBytes else {
            _ = await coordinator.end(transactionalId: id, producerId: producerId, epoch: epoch, commit: false)
            throw EventStoreError.invalidRequest("a multi-stream append across partitions holds at most \(TransactionCoordinator.maxPendingBatchBytes) bytes, "
                + "this one \(total); nothing was appended")
        }
        switch await coordinator.commit(transactionalId: id, producerId: producerId, epoch: epoch, batches: pending) {
        case let .success(written):
            var results: [String: AppendResult] = [:]
            for (batch, partition) in zip(batches, partitions) {
                guard let result = written[partition] else { throw EventStoreError.storage("the coordinator wrote no batch for \(partition.topic)-\(partition.partition)") }
                results[batch.gate] = result
            }
            return results
        case let .failure(.refused(error)):
            _ = await coordinator.end(transactionalId: id, producerId: producerId, epoch: epoch, commit: false)
            throw EventStoreError.storage("the transaction coordinator refused the append: \(error); nothing was appended")
        case let .failure(.conflict(partition, LogError.wrongExpectedVersion(key, expected, actual, _))):
            // Only a Kafka producer writing to a held category can move its streams.
            let part = parts.first { $0.append.stream.key == key && $0.append.stream.category == partition.topic && $0.partition == partition.partition }
            throw EventStoreError.wrongExpectedVersion(stream: part?.append.stream ?? StreamName(category: "?", id: "?"),
                                                       expected: part?.append.expected ?? expected, actual: actual)
        case let .failure(.conflict(_, error)):
            throw EventStoreError.storage("\(error); nothing was appended")
        case let .failure(.decidedButIncomplete(reason)):
            // The coordinator keeps trying; a retry with the same event ids learns the outcome.
            throw EventStoreError.storage("the append's outcome is unknown (its commit was decided but could not be written yet: \(reason)); "
                + "retry it with the same event ids to learn whether it was appended")
        }
    }
}
