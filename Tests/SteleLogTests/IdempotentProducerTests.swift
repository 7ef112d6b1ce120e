import Foundation
import Testing
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
