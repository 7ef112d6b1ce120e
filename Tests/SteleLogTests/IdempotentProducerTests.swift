import Foundation
import Testing
import Synchronization
import SteleCore
@testable import SteleLog

@Suite("Idempotent producers")
struct IdempotentProducerTests {
    static func batch(producer: Int64, epoch: Int16, sequence: Int32, records: Int = 2, tag: String = "") -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.producerId = producer
        builder.producerEpoch = epoch
        builder.baseSequence = sequence
        for index in 0..<records { builder.append(key: Array("k".utf8), value: Array("\(tag)\(sequence)-\(index)".utf8)) }
        return builder.build()
    }

    @Test func retriedBatchesGetTheirOriginalOffsetsAndAreWrittenOnce() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        var results: [AppendResult] = []
        for sequence in stride(from: Int32(0), to: 20, by: 2) {
            results.append(try await log.append(Self.batch(producer: 7, epoch: 0, sequence: sequence)))
        }
        // The last five batches are remembered: a retry of any of them is answered, not written.
        for (index, sequence) in stride(from: Int32(10), to: 20, by: 2).enumerated() {
            let retry = try await log.append(Self.batch(producer: 7, epoch: 0, sequence: sequence))
            #expect(retry == results[5 + index])
        }
        #expect(log.logEndOffset == 20)
        try await log.close()
    }

    @Test func sequenceGapsStaleEpochsAndUnknownProducersAreRefused() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        _ = try await log.append(Self.batch(producer: 1, epoch: 3, sequence: 0))
        await #expect(throws: LogError.producerRejected(.outOfOrderSequence("producer 1 sent sequence 5, expected 2"))) {
            try await log.append(Self.batch(producer: 1, epoch: 3, sequence: 5))
        }
        await #expect(throws: LogError.self) { try await log.append(Self.batch(producer: 1, epoch: 2, sequence: 2)) }
        await #expect(throws: LogError.self) { try await log.append(Self.batch(producer: 9, epoch: 0, sequence: 4)) }
        // A bumped epoch (KIP-360) restarts at 0 and fences the old one.
        await #expect(throws: LogError.self) { try await log.append(Self.batch(producer: 1, epoch: 4, sequence: 2)) }
        _ = try await log.append(Self.batch(producer: 1, epoch: 4, sequence: 0))
        await #expect(throws: LogError.self) { try await log.append(Self.batch(producer: 1, epoch: 3, sequence: 2)) }
        // Non-idempotent batches are not checked.
        _ = try await log.append(Batches.single(key: "x", value: "y"))
        #expect(log.logEndOffset == 5, "only accepted batches were written")
        try await log.close()
    }

    @Test func producerStateSurvivesReopenAcrossRollsAndCrashes() async throws {
        let directory = TemporaryDirectory()
        var last: AppendResult?
        do {
            let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
            for sequence in stride(from: Int32(0), to: 400, by: 2) {
                last = try await log.append(Self.batch(producer: 42, epoch: 1, sequence: sequence, tag: String(repeating: "p", count: 40)))
            }
            #expect(log.segmentBaseOffsets.count > 3)
            // No close: like a crash, the state must come from the last snapshot plus replay.
        }
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".producers") }
        #expect(!snapshots.isEmpty, "a snapshot is written at each roll")
        let reopened = try await PartitionLog.open(directory: directory.path, config: .tiny)
        let retry = try await reopened.append(Self.batch(producer: 42, epoch: 1, sequence: 398, tag: String(repeating: "p", count: 40)))
        #expect(retry == last, "a retry after restart returns the original offsets")
        await #expect(throws: LogError.self) { try await reopened.append(Self.batch(producer: 42, epoch: 1, sequence: 7)) }
        _ = try await reopened.append(Self.batch(producer: 42, epoch: 1, sequence: 400))
        try await reopened.close()
        // Without any snapshot the state is rebuilt from the whole log.
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasSuffix(".producers") {
            try FileManager.default.removeItem(atPath: directory.path + "/" + name)
        }
        let rebuilt = try await PartitionLog.open(directory: directory.path, config: .tiny)
        await #expect(throws: LogError.self) { try await rebuilt.append(Self.batch(producer: 42, epoch: 1, sequence: 5)) }
        _ = try await rebuilt.append(Self.batch(producer: 42, epoch: 1, sequence: 402))
        try await rebuilt.close()
    }

    @Test func sequencesWrapAtInt32Max() {
        #expect(ProducerStateTable.increment(Int32.max) == 0)
        var builder = RecordBatchBuilder(baseTimestamp: 0)
        builder.producerId = 1
        builder.producerEpoch = 0
        builder.baseSequence = Int32.max - 1
        for _ in 0..<3 { builder.append(key: nil, value: [1]) }
        let header = try! RecordBatchHeader(parsing: builder.build())
        #expect(ProducerStateTable.lastSequence(of: header) == 0)
    }
}

/// Producer state expires like Kafka's `producer.id.expiration.ms`, on the log's clock.
@Suite("Producer state expiry")
struct ProducerExpiryTests {
    final class Clock: Sendable {
        let now = Mutex<Int64>(1_800_000_000_000)
        func advance(_ milliseconds: Int64) { now.withLock { $0 += milliseconds } }
        var read: @Sendable () -> Int64 { { self.now.withLock { $0 } } }
    }

    static func config(expiration: Int64) -> LogConfig {
        var config = LogConfig.tiny
        config.producerIdExpiration = .milliseconds(expiration)
        return config
    }

    @Test func anIdleProducerIsForgottenAndMustStartANewSequence() async throws {
        let directory = TemporaryDirectory()
        let clock = Clock()
        let log = try await PartitionLog.open(directory: directory.path, config: Self.config(expiration: 60_000), clock: clock.read)
        let first = try await log.append(IdempotentProducerTests.batch(producer: 5, epoch: 0, sequence: 0))
        clock.advance(59_999)
        // Within the expiration a retry is still answered with its original offsets.
        #expect(try await log.append(IdempotentProducerTests.batch(producer: 5, epoch: 0, sequence: 0)) == first)
        _ = try await log.append(IdempotentProducerTests.batch(producer: 5, epoch: 0, sequence: 2))
        #expect(log.retainedProducerCount == 1)
        clock.advance(60_000)
        // Expired: the next batch mid-sequence is told the id is unknown (the client bumps its epoch).
        await #expect(throws: LogError.producerRejected(.unknownProducerId("producer 5 is unknown and its sequence starts at 4, not 0"))) {
            try await log.append(IdempotentProducerTests.batch(producer: 5, epoch: 0, sequence: 4))
        }
        #expect(log.retainedProducerCount == 0, "the expired producer was dropped from memory")
        _ = try await log.append(IdempotentProducerTests.batch(producer: 5, epoch: 1, sequence: 0))
        #expect(log.retainedProducerCount == 1)
        try await log.close()
    }

    @Test func memoryIsBoundedByTheProducersOfOneExpirationPeriod() async throws {
        let directory = TemporaryDirectory()
        let clock = Clock()
        let log = try await PartitionLog.open(directory: directory.path, config: Self.config(expiration: 60_000), clock: clock.read)
        for producer in Int64(0)..<2_000 {
            _ = try await log.append(IdempotentProducerTests.batch(producer: producer, epoch: 0, sequence: 0, records: 1))
        }
        #expect(log.retainedProducerCount == 2_000)
        clock.advance(60_000)
        _ = try await log.append(IdempotentProducerTests.batch(producer: 10_000, epoch: 0, sequence: 0, records: 1))
        #expect(log.retainedProducerCount == 1)
        try await log.close()
    }

    @Test func expiryHoldsAcrossRestartsAndNeverForgetsEarly() async throws {
        let directory = TemporaryDirectory()
        let clock = Clock()
        var last: AppendResult?
        do {
            let log = try await PartitionLog.open(directory: directory.path, config: Self.config(expiration: 60_000), clock: clock.read)
            _ = try await log.append(IdempotentProducerTests.batch(producer: 1, epoch: 0, sequence: 0, tag: String(repeating: "a", count: 900)))
            clock.advance(50_000)
            for sequence in stride(from: Int32(0), to: 40, by: 2) {
                last = try await log.append(IdempotentProducerTests.batch(producer: 2, epoch: 0, sequence: sequence, tag: String(repeating: "b", count: 300)))
            }
            #expect(log.segmentBaseOffsets.count > 2, "rolls wrote snapshots with append times")
            // No close: a crash.
        }
        clock.advance(20_000)
        // Producer 1 appended 70 s ago (kept in a snapshot): expired. Producer 2 20 s ago: kept,
        // whether it comes from a snapshot or from the replayed tail.
        let reopened = try await PartitionLog.open(directory: directory.path, config: Self.config(expiration: 60_000), clock: clock.read)
        #expect(try await reopened.append(IdempotentProducerTests.batch(producer: 2, epoch: 0, sequence: 38, tag: String(repeating: "b", count: 300))) == last)
        await #expect(throws: LogError.self) {
            try await reopened.append(IdempotentProducerTests.batch(producer: 1, epoch: 0, sequence: 2))
        }
        #expect(reopened.retainedProducerCount == 1)
        try await reopened.close()
    }

    @Test func aClockThatGoesBackExpiresNothing() {
        var table = ProducerStateTable()
        var builder = RecordBatchBuilder(baseTimestamp: 0)
        builder.producerId = 3
        builder.producerEpoch = 0
        builder.baseSequence = 0
        builder.append(key: nil, value: [1])
        let header = try! RecordBatchHeader(parsing: Array(builder.build().prefix(RecordBatchHeader.size)))
        table.record(header, now: 1_000_000, expirationMilliseconds: 10)
        #expect(table.removeExpired(now: 5, expirationMilliseconds: 10) == 0)
        #expect(table.removeExpired(now: .min, expirationMilliseconds: 10) == 0)
        #expect(table.removeExpired(now: 1_000_010, expirationMilliseconds: 10) == 1)
    }
}

extension ProducerExpiryTests {
    /// An expired producer's batches may still be on disk: the id floor the broker takes from
    /// the partitions keeps counting it, across restarts (found by review).
    @Test func theHighestProducerIdOutlivesExpiry() async throws {
        let directory = TemporaryDirectory()
        let clock = Clock()
        do {
            let log = try await PartitionLog.open(directory: directory.path, config: Self.config(expiration: 1_000), clock: clock.read)
            _ = try await log.append(IdempotentProducerTests.batch(producer: 900, epoch: 0, sequence: 0, tag: String(repeating: "z", count: 2000)))
            for sequence in stride(from: Int32(0), to: 20, by: 2) {
                _ = try await log.append(IdempotentProducerTests.batch(producer: 3, epoch: 0, sequence: sequence, tag: String(repeating: "y", count: 400)))
            }
            clock.advance(5_000)
            _ = try await log.append(IdempotentProducerTests.batch(producer: 3, epoch: 1, sequence: 0))
            #expect(log.retainedProducerCount == 1, "900 expired")
            #expect(log.highestProducerId == 900)
            try await log.close()
        }
        let reopened = try await PartitionLog.open(directory: directory.path, config: Self.config(expiration: 1_000), clock: clock.read)
        #expect(reopened.highestProducerId == 900, "the floor survives a restart")
        try await reopened.close()
    }
}
