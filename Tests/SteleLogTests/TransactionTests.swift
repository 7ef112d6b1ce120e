import Foundation
import Testing
import SteleCore
@testable import SteleLog

/// Transactions as a partition sees them: batches of an open transaction, the markers that end
/// it, the last stable offset, the aborted list, and what read_committed readers, stream reads
/// and compaction make of them — also after a crash and reopen.
@Suite("Transactions in a partition")
struct TransactionTests {
    static func transactional(producer: Int64, epoch: Int16 = 0, sequence: Int32, keys: [String], tag: String = "") -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.attributes = RecordBatchAttributes(rawValue: 0x10) // transactional
        builder.producerId = producer
        builder.producerEpoch = epoch
        builder.baseSequence = sequence
        for key in keys { builder.append(key: Array(key.utf8), value: Array("\(tag)\(key)".utf8)) }
        return builder.build()
    }

    static func values(_ log: PartitionLog, isolation: IsolationLevel) async throws -> ([String], [AbortedTransaction]) {
        let read = try await log.read(from: 0, maxBytes: 1 << 20, isolation: isolation)
        var values: [String] = []
        for (_, record) in try Batches.decode(read.batches) { values.append(string(record.value) ?? "") }
        return (values, read.abortedTransactions)
    }

    @Test func openTransactionsHoldTheLastStableOffsetAndMarkersReleaseIt() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        _ = try await log.append(Batches.single(key: "p", value: "plain-0"))
        let first = try await log.append(Self.transactional(producer: 5, sequence: 0, keys: ["a", "b"], tag: "t1-"))
        _ = try await log.append(Batches.single(key: "p", value: "plain-1"))
        #expect(log.lastStableOffset == first.baseOffset)
        #expect(log.openTransactions == [5: first.baseOffset])
        let (committedView, _) = try await Self.values(log, isolation: .readCommitted)
        #expect(committedView == ["plain-0"], "read_committed stops at the open transaction's first offset")
        let (everything, _) = try await Self.values(log, isolation: .readUncommitted)
        #expect(everything.count == 4)
        // A plain batch from the producer while its transaction is open is refused.
        var plain = RecordBatchBuilder(baseTimestamp: 1)
        (plain.producerId, plain.producerEpoch, plain.baseSequence) = (5, 0, 2)
        plain.append(key: Array("x".utf8), value: nil)
        await #expect(throws: LogError.producerRejected(.invalidTransactionState("producer 5 sent a non-transactional batch while its transaction is open"))) {
            try await log.append(plain.build())
        }
        let marker = try await log.appendMarker(.commit, producerId: 5, producerEpoch: 0)
        #expect(log.lastStableOffset == log.highWatermark && log.highWatermark == marker.lastOffset + 1)
        let (after, aborted) = try await Self.values(log, isolation: .readCommitted)
        #expect(after.prefix(4) == ["plain-0", "t1-a", "t1-b", "plain-1"], "the committed records appear")
        #expect(after.count == 5, "then the marker, a control batch the client skips")
        #expect(aborted.isEmpty)
        // Clients may not write control batches.
        await #expect(throws: LogError.self) {
            try await log.append(TransactionMarker.commit.batch(producerId: 5, producerEpoch: 0, coordinatorEpoch: 0, timestamp: 1))
        }
        try await log.close()
    }

    @Test func abortedTransactionsAreNamedToReadersAndSkippedByStreamReads() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        _ = try await log.append(Batches.single(key: "k", value: "v0"))
        let doomed = try await log.append(Self.transactional(producer: 9, sequence: 0, keys: ["k", "k"], tag: "aborted-"))
        _ = try await log.append(Batches.single(key: "k", value: "v1"))
        let abort = try await log.appendMarker(.abort, producerId: 9, producerEpoch: 0)
        let (_, aborted) = try await Self.values(log, isolation: .readCommitted)
        #expect(aborted == [AbortedTransaction(producerId: 9, firstOffset: doomed.baseOffset, lastOffset: abort.baseOffset)])
        #expect(log.abortedTransactions(from: abort.baseOffset + 1, upTo: .max).isEmpty, "a fetch after the marker is not told")
        let stream = try await log.readStream(key: Array("k".utf8))
        #expect(stream.map { string($0.value) } == ["v0", "v1"], "the aborted records of the stream are never read")
        // The next transaction of the producer starts fresh.
        _ = try await log.append(Self.transactional(producer: 9, sequence: 2, keys: ["k"], tag: "next-"))
        _ = try await log.appendMarker(.commit, producerId: 9, producerEpoch: 0)
        #expect(try await log.readStream(key: Array("k".utf8)).map { string($0.value) } == ["v0", "v1", "next-k"])
        try await log.close()
    }

    @Test func aStaleMarkerIsRefusedAndAFencingMarkerBumpsTheEpoch() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        _ = try await log.append(Self.transactional(producer: 3, epoch: 4, sequence: 0, keys: ["a"]))
        // The coordinator aborts with a bumped epoch: the zombie's batches are fenced afterwards.
        _ = try await log.appendMarker(.abort, producerId: 3, producerEpoch: 5)
        await #expect(throws: LogError.self) { try await log.append(Self.transactional(producer: 3, epoch: 4, sequence: 1, keys: ["b"])) }
        await #expect(throws: LogError.self) { try await log.appendMarker(.commit, producerId: 3, producerEpoch: 4) }
        _ = try await log.append(Self.transactional(producer: 3, epoch: 5, sequence: 0, keys: ["c"]))
        #expect(log.openTransactions.count == 1)
        try await log.close()
    }

    @Test func openAndAbortedTransactionsSurviveACrashAcrossRolls() async throws {
        let directory = TemporaryDirectory()
        var expectedLSO: Int64 = -1
        var expectedAborted: [AbortedTransaction] = []
        do {
            let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
            var sequence: Int32 = 0
            // Aborted transactions, each spanning rolls, then one left open.
            for round in 0..<6 {
                for _ in 0..<8 {
                    _ = try await log.append(Self.transactional(producer: 11, sequence: sequence, keys: ["k\(round)"], tag: String(repeating: "x", count: 60)))
                    sequence += 1
                    _ = try await log.append(Batches.single(key: "plain", value: String(repeating: "y", count: 60)))
                }
                _ = try await log.appendMarker(round % 2 == 0 ? .abort : .commit, producerId: 11, producerEpoch: 0)
            }
            let open = try await log.append(Self.transactional(producer: 11, sequence: sequence, keys: ["open"]))
            _ = try await log.append(Batches.single(key: "plain", value: "after"))
            #expect(log.segmentBaseOffsets.count > 3, "the transactions span segments")
            expectedLSO = open.baseOffset
            expectedAborted = log.abortedTransactions(from: 0, upTo: .max)
            #expect(expectedAborted.count == 3)
            #expect(log.lastStableOffset == expectedLSO)
            // No close: like a crash, the state comes from the last snapshot plus replay.
        }
        let reopened = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(reopened.lastStableOffset == expectedLSO)
        #expect(reopened.abortedTransactions(from: 0, upTo: .max) == expectedAborted)
        _ = try await reopened.appendMarker(.abort, producerId: 11, producerEpoch: 0)
        #expect(reopened.lastStableOffset == reopened.highWatermark)
        #expect(reopened.abortedTransactions(from: 0, upTo: .max).count == 4)
        try await reopened.close()
    }

    @Test func compactionNeverLetsAnAbortedOrOpenRecordSupersedeACommittedOne() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.cleanupPolicy = .compact
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        _ = try await log.append(Batches.single(key: "a", value: "committed-a"))
        _ = try await log.append(Batches.single(key: "b", value: "committed-b"))
        _ = try await log.append(Self.transactional(producer: 2, sequence: 0, keys: ["a"], tag: "aborted-"))
        _ = try await log.appendMarker(.abort, producerId: 2, producerEpoch: 0)
        _ = try await log.append(Self.transactional(producer: 2, sequence: 1, keys: ["b"], tag: "open-"))
        // Enough later records to seal the segments holding all of the above.
        for index in 0..<200 { _ = try await log.append(Batches.single(key: "filler-\(index % 5)", value: String(repeating: "f", count: 40))) }
        #expect(log.segmentBaseOffsets.count > 2)
        _ = try await log.compact()
        let (committed, _) = try await Self.values(log, isolation: .readUncommitted)
        #expect(committed.contains("committed-a"), "an aborted record does not supersede the committed one")
        #expect(committed.contains("committed-b"), "a record of an open transaction does not supersede the committed one")
        #expect(try await log.readStream(key: Array("a".utf8)).map { string($0.value) } == ["committed-a"])
        try await log.close()
    }
}
