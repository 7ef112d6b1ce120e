import Foundation
import Testing
import SteleTestSupport
import SteleCore
@testable import SteleLog
import SteleLogTesting

@Suite("Partition log: append, read, roll, reopen")
struct PartitionLogTests {
    @Test func appendAssignsConsecutiveOffsetsAndReadReturnsStoredBytes() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        let first = try await log.append(Batches.make([("a", "1"), ("b", "2"), ("a", "3")]))
        let second = try await log.append(Batches.single(key: "c", value: "4"))
        #expect(first == AppendResult(baseOffset: 0, lastOffset: 2, logAppendTime: nil))
        #expect(second.baseOffset == 3)
        #expect(log.logEndOffset == 4)
        #expect(log.highWatermark == 4)
        #expect(log.durableOffset == 4)

        let read = try await log.read(from: 0, maxBytes: 1 << 20)
        var expected = Batches.make([("a", "1"), ("b", "2"), ("a", "3")])
        expected.withUnsafeMutableBytes { RecordBatch.setBaseOffset(0, in: $0) }
        #expect(Array(read.batches.prefix(expected.count)) == expected, "stored bytes are the producer's bytes with the offset assigned")
        let records = try await log.readAll()
        #expect(records.map(\.offset) == [0, 1, 2, 3])
        #expect(records.map { string($0.record.value) } == ["1", "2", "3", "4"])
        try await log.close()
    }

    @Test func readReturnsAtLeastOneBatchAndRespectsMaxBytes() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.segmentBytes = 1 << 20
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        let big = String(repeating: "x", count: 500)
        for index in 0..<10 { _ = try await log.append(Batches.single(key: "k\(index)", value: big)) }
        let tiny = try await log.read(from: 3, maxBytes: 1)
        #expect(try Batches.decode(tiny.batches).map(\.offset) == [3], "a batch larger than maxBytes is still returned alone")
        let batchSize = tiny.batches.count
        let three = try await log.read(from: 3, maxBytes: 3 * batchSize)
        #expect(try Batches.decode(three.batches).map(\.offset) == [3, 4, 5], "\(batchSize) \(three.batches.count)")
        let almostThree = try await log.read(from: 3, maxBytes: 3 * batchSize - 1)
        #expect(try Batches.decode(almostThree.batches).map(\.offset) == [3, 4])
        let atEnd = try await log.read(from: 10, maxBytes: 100)
        #expect(atEnd.batches.isEmpty && atEnd.highWatermark == 10)
        await #expect(throws: LogError.self) { try await log.read(from: 11, maxBytes: 100) }
        try await log.close()
    }

    @Test func segmentsRollBySizeAndReadsCrossThem() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        for index in 0..<200 {
            _ = try await log.append(Batches.single(key: "key-\(index % 7)", value: "value-\(index)-" + String(repeating: "v", count: index % 50)))
        }
        #expect(log.segmentBaseOffsets.count > 5, "4 KiB segments roll many times")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(names.contains("00000000000000000000.log"))
        #expect(names.contains("00000000000000000000.index") && names.contains("00000000000000000000.timeindex")
                && names.contains("00000000000000000000.keyindex"))
        let records = try await log.readAll()
        #expect(records.map(\.offset) == Array(0..<200))
        for offset in [0, 57, 123, 199] as [Int64] {
            let read = try await log.read(from: offset, maxBytes: 1)
            #expect(try Batches.decode(read.batches).first?.offset == offset)
        }
        try await log.close()
    }

    @Test func segmentsRollByAge() async throws {
        let directory = TemporaryDirectory()
        let clock = TestClock()
        var config = LogConfig.tiny
        config.segmentBytes = 1 << 20
        config.segmentAge = .seconds(60)
        let log = try await PartitionLog.open(directory: directory.path, config: config, clock: clock.function)
        _ = try await log.append(Batches.single(key: "a", value: "1", timestamp: clock.milliseconds))
        _ = try await log.append(Batches.single(key: "a", value: "2", timestamp: clock.milliseconds))
        #expect(log.segmentBaseOffsets == [0])
        clock.advance(by: 61_000)
        _ = try await log.append(Batches.single(key: "a", value: "3", timestamp: clock.milliseconds))
        #expect(log.segmentBaseOffsets == [0, 2])
        try await log.close()
    }

    @Test func reopenKeepsEverythingAndContinuesOffsets() async throws {
        let directory = TemporaryDirectory()
        do {
            let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
            for index in 0..<100 { _ = try await log.append(Batches.single(key: "s\(index % 3)", value: "\(index)")) }
            try await log.close()
        }
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(log.recoveryReport.truncatedBytes == 0)
        #expect(log.recoveryReport.rebuiltIndexes.isEmpty, "a clean close leaves every sealed index usable")
        #expect(log.logEndOffset == 100)
        let next = try await log.append(Batches.single(key: "s0", value: "100"))
        #expect(next.baseOffset == 100)
        #expect(try await log.readAll().map { string($0.record.value) } == (0...100).map { "\($0)" })
        try await log.close()
        await #expect(throws: LogError.self) { try await log.append(Batches.single(key: "x", value: "y")) }
    }

    @Test func invalidBatchesAreRejectedAndChangeNothing() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.maxBatchBytes = 300
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        var corrupt = Batches.single(key: "a", value: "1")
        corrupt[corrupt.count - 1] ^= 0xFF
        await #expect(throws: LogError.self) { try await log.append(corrupt) }
        await #expect(throws: LogError.self) { try await log.append([1, 2, 3]) }
        await #expect(throws: LogError.self) { try await log.append(Batches.single(key: "a", value: String(repeating: "x", count: 400))) }
        var appendTime = Batches.single(key: "a", value: "1")
        appendTime.withUnsafeMutableBytes { RecordBatch.setLogAppendTime(5, in: $0) }
        await #expect(throws: LogError.self, "producers may not set LogAppendTime") { try await log.append(appendTime) }
        #expect(log.logEndOffset == 0)
        _ = try await log.append(Batches.single(key: "a", value: "ok"))
        #expect(log.logEndOffset == 1)
        try await log.close()
    }

    @Test func logAppendTimeStampsBatchesAndKeepsCRCValid() async throws {
        let directory = TemporaryDirectory()
        let clock = TestClock(1_800_000_000_000)
        var config = LogConfig.tiny
        config.timestampType = .logAppendTime
        let log = try await PartitionLog.open(directory: directory.path, config: config, clock: clock.function)
        let result = try await log.append(Batches.make([("a", "1"), ("b", "2")], timestamp: 5))
        #expect(result.logAppendTime == 1_800_000_000_000)
        let read = try await log.read(from: 0, maxBytes: 1 << 16)
        let header = try RecordBatchHeader(parsing: read.batches)
        #expect(header.attributes.timestampType == .logAppendTime && header.maxTimestamp == 1_800_000_000_000)
        #expect(read.batches.withUnsafeBytes { RecordBatch.hasValidChecksum($0) })
        #expect(try await log.offset(atOrAfterTimestamp: 1_800_000_000_000) == 0)
        #expect(try await log.readStream(key: Array("b".utf8)).first?.timestamp == 1_800_000_000_000)
        try await log.close()
    }

    @Test func concurrentAppendersGetDistinctContiguousOffsets() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        let results = try await withThrowingTaskGroup(of: [AppendResult].self) { group in
            for writer in 0..<32 {
                group.addTask {
                    var mine: [AppendResult] = []
                    for index in 0..<20 { mine.append(try await log.append(Batches.make([("w\(writer)", "\(index)"), ("w\(writer)", "\(index)b")]))) }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let offsets = results.flatMap { [$0.baseOffset, $0.lastOffset] }.sorted()
        #expect(offsets == Array(0..<1280))
        for writer in 0..<32 {
            let stream = try await log.readStream(key: Array("w\(writer)".utf8))
            #expect(stream.map { string($0.value)! } == (0..<20).flatMap { ["\($0)", "\($0)b"] }, "each writer's own order is kept")
        }
        try await log.close()
    }

    @Test(arguments: [FlushPolicy.always, .os, .interval(.milliseconds(20))])
    func flushPoliciesAdvanceTheDurableOffset(policy: FlushPolicy) async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.segmentBytes = 1 << 20
        config.flushPolicy = policy
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        _ = try await log.append(Batches.single(key: "a", value: "1"))
        #expect(log.highWatermark == 1, "readers see an acknowledged append")
        if policy == .always { #expect(log.durableOffset == 1) }
        if case .interval = policy {
            try await waitUntil("the interval flusher to sync") { log.durableOffset >= 1 }
            #expect(log.durableOffset == 1, "the interval flusher syncs in the background")
        }
        try await log.flush()
        #expect(log.durableOffset == 1)
        try await log.close()
    }
}
