import Foundation
import Testing
import SteleCore
import SteleLog

/// A mirror's log (`keepsSourceOffsets`): batches land at their source's offsets byte for byte,
/// gaps stay gaps across reads and restarts, a resend is answered without a second copy, and
/// transactions mirrored with their markers are served as the source serves them.
@Suite("Appends keeping their source's offsets")
struct KeepingOffsetsTests {
    static var mirrorConfig: LogConfig {
        var config = LogConfig()
        config.keepsSourceOffsets = true
        return config
    }

    /// A batch as a source log holds it: its base offset set, records `values`.
    static func sourceBatch(at offset: Int64, _ values: [String], producerId: Int64 = -1, transactional: Bool = false,
                            logAppendTime: Int64? = nil) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.producerId = producerId
        if producerId >= 0 { (builder.producerEpoch, builder.baseSequence) = (0, Int32(offset)) }
        if transactional { builder.attributes = RecordBatchAttributes(rawValue: 0x10) }
        for value in values { builder.append(key: Array("k".utf8), value: Array(value.utf8)) }
        var bytes = builder.build()
        bytes.withUnsafeMutableBytes { raw in
            RecordBatch.setBaseOffset(offset, in: raw)
            if let logAppendTime { RecordBatch.setLogAppendTime(logAppendTime, in: raw) }
        }
        return bytes
    }

    static func marker(_ marker: TransactionMarker, at offset: Int64, producerId: Int64) -> [UInt8] {
        var bytes = marker.batch(producerId: producerId, producerEpoch: 0, coordinatorEpoch: 0, timestamp: 1_700_000_000_000)
        bytes.withUnsafeMutableBytes { RecordBatch.setBaseOffset(offset, in: $0) }
        return bytes
    }

    static func readAll(_ log: PartitionLog, from offset: Int64 = 0) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        var next = offset
        while next < log.highWatermark {
            let read = try await log.read(from: next, maxBytes: 1 << 20).batches
            guard !read.isEmpty else { break }
            bytes += read
            var position = 0
            while position < read.count {
                let header = try RecordBatchHeader(parsing: Array(read[position...]))
                next = header.nextOffset
                position += header.totalSize
            }
        }
        return bytes
    }

    @Test func batchesLandAtTheirOffsetsByteForByteAndGapsSurviveARestart() async throws {
        let directory = TemporaryDirectory()
        let batches = [Self.sourceBatch(at: 0, ["a", "b"]), Self.sourceBatch(at: 7, ["c"]),
                       Self.sourceBatch(at: 100, ["d", "e", "f"], logAppendTime: 1_600_000_000_000)]
        let log = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        for batch in batches { _ = try await log.appendKeepingOffsets(batch) }
        #expect(log.logEndOffset == 103)
        #expect(try await Self.readAll(log) == batches.reduce([], +), "the source's bytes, LogAppendTime stamps included")
        // An offset inside a gap reads from the next batch after it.
        #expect(try await Self.readAll(log, from: 3) == batches[1] + batches[2])
        try await log.close()

        let reopened = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        #expect(reopened.logEndOffset == 103)
        #expect(try await Self.readAll(reopened) == batches.reduce([], +))
        // And the log goes on from there.
        _ = try await reopened.appendKeepingOffsets(Self.sourceBatch(at: 200, ["g"]))
        #expect(reopened.logEndOffset == 201)
        try await reopened.close()
    }

    @Test func gapsAcrossRolledSegmentsSurviveRebuiltIndexes() async throws {
        let directory = TemporaryDirectory()
        var config = Self.mirrorConfig
        config.segmentBytes = 100 // every batch rolls
        let batches = (0..<6).map { Self.sourceBatch(at: Int64($0 * 1_000), ["v\($0)"]) }
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        for batch in batches { _ = try await log.appendKeepingOffsets(batch) }
        try await log.close()
        // Sealed segments' index files lost: rebuilt from the segments, gaps and all.
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasSuffix(".index") {
            try FileManager.default.removeItem(atPath: directory.path + "/" + name)
        }
        let reopened = try await PartitionLog.open(directory: directory.path, config: config)
        #expect(!reopened.recoveryReport.rebuiltIndexes.isEmpty)
        #expect(reopened.recoveryReport.corruptions.isEmpty)
        #expect(reopened.logEndOffset == 5_001)
        #expect(try await Self.readAll(reopened) == batches.reduce([], +))
        #expect(try await Self.readAll(reopened, from: 2_500) == batches[3...].reduce([], +))
        try await reopened.close()
    }

    @Test func aResendIsAnsweredWithoutASecondCopyAndAStraddlingBatchIsRefused() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        _ = try await log.appendKeepingOffsets(Self.sourceBatch(at: 10, ["a", "b", "c"]))
        let size = log.sizeInBytes
        // A mirror restarted after SIGKILL sends what it had sent: answered, not written again.
        let again = try await log.appendKeepingOffsets(Self.sourceBatch(at: 10, ["a", "b", "c"]))
        #expect(again.baseOffset == 10 && again.lastOffset == 12)
        #expect(log.sizeInBytes == size && log.logEndOffset == 13)
        // A batch the log end offset cuts in two: the log and its source disagree.
        await #expect(throws: LogError.self) { try await log.appendKeepingOffsets(Self.sourceBatch(at: 12, ["x", "y"])) }
        #expect(log.logEndOffset == 13)
        try await log.close()
    }

    @Test func batchesAppendedTogetherLandInOrderAndARefusalEndsTheRun() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        let run = [Self.sourceBatch(at: 0, ["a", "b"]), Self.sourceBatch(at: 5, ["c"]), Self.sourceBatch(at: 6, ["d", "e"])]
        let results = try await log.appendKeepingOffsets(run)
        #expect(results.map(\.baseOffset) == [0, 5, 6] && results.map(\.lastOffset) == [1, 5, 7])
        #expect(try await Self.readAll(log) == run.reduce([], +))
        // A resend of the run plus what follows: the known part answered, the rest written.
        let more = run + [Self.sourceBatch(at: 8, ["f"])]
        #expect(try await log.appendKeepingOffsets(more).map(\.baseOffset) == [0, 5, 6, 8])
        #expect(log.logEndOffset == 9)
        // A batch straddling the log end in the middle: those before it land, none after it.
        let broken = [Self.sourceBatch(at: 9, ["g"]), Self.sourceBatch(at: 9, ["h", "i"]), Self.sourceBatch(at: 20, ["j"])]
        await #expect(throws: LogError.self) { try await log.appendKeepingOffsets(broken) }
        #expect(log.logEndOffset == 10)
        // A damaged batch anywhere: nothing of the run is written.
        var damaged = Self.sourceBatch(at: 11, ["k"])
        damaged[damaged.count - 1] ^= 0xFF
        await #expect(throws: LogError.self) { try await log.appendKeepingOffsets([Self.sourceBatch(at: 10, ["x"]), damaged]) }
        #expect(log.logEndOffset == 10)
        try await log.close()
        let reopened = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        #expect(reopened.logEndOffset == 10)
        #expect(try await Self.readAll(reopened) == more.reduce([], +) + broken[0])
        try await reopened.close()
    }

    @Test func aPromotedLogRefusesSourceBatchesAsTheyArePlaced() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        _ = try await log.appendKeepingOffsets(Self.sourceBatch(at: 0, ["a"]))
        // Queued while the log still took them, placed after the promotion: refused.
        async let late = log.appendKeepingOffsets((1..<50).map { Self.sourceBatch(at: Int64($0), ["v\($0)"]) })
        var promoted = Self.mirrorConfig
        promoted.refusesSourceBatches = true
        log.reconfigure(promoted)
        try await log.waitForQueuedAppends()
        let placedBefore = log.logEndOffset
        _ = try? await late
        #expect(log.logEndOffset == placedBefore, "nothing of the source lands once the promotion's wait returned")
        await #expect(throws: LogError.self) { try await log.appendKeepingOffsets(Self.sourceBatch(at: 60, ["x"])) }
        #expect(log.logEndOffset == placedBefore)
        try await log.close()
    }

    @Test func mirroredTransactionsAreServedAsTheSourceServesThem() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        // Producer 7 aborts its transaction at 0–1; producer 8 commits at 3; producer 9 is open at 5.
        _ = try await log.appendKeepingOffsets(Self.sourceBatch(at: 0, ["a", "b"], producerId: 7, transactional: true))
        _ = try await log.appendKeepingOffsets(Self.marker(.abort, at: 2, producerId: 7))
        _ = try await log.appendKeepingOffsets(Self.sourceBatch(at: 3, ["c"], producerId: 8, transactional: true))
        _ = try await log.appendKeepingOffsets(Self.marker(.commit, at: 4, producerId: 8))
        _ = try await log.appendKeepingOffsets(Self.sourceBatch(at: 5, ["d"], producerId: 9, transactional: true))
        #expect(log.lastStableOffset == 5, "the open transaction holds read_committed readers")
        #expect(log.abortedTransactions(from: 0, upTo: 6) == [AbortedTransaction(producerId: 7, firstOffset: 0, lastOffset: 2)])
        try await log.close()

        let reopened = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        #expect(reopened.lastStableOffset == 5)
        #expect(reopened.abortedTransactions(from: 0, upTo: 6).count == 1)
        // The source's producer ids are remembered: the broker hands out none at or below them.
        #expect(reopened.highestProducerId == 9)
        _ = try await reopened.appendKeepingOffsets(Self.marker(.commit, at: 6, producerId: 9))
        #expect(reopened.lastStableOffset == 7)
        try await reopened.close()
    }

    @Test func aTornTailAfterAGapIsCutAndTheGapKept() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        _ = try await log.appendKeepingOffsets(Self.sourceBatch(at: 0, ["a"]))
        _ = try await log.appendKeepingOffsets(Self.sourceBatch(at: 50, ["b"]))
        try await log.close()
        // Half a batch at the end of the segment, as a crash during a write leaves it.
        let segment = directory.path + "/00000000000000000000.log"
        let torn = Array(Self.sourceBatch(at: 90, ["c", "d"]).prefix(30))
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data(torn))
        try handle.close()

        let reopened = try await PartitionLog.open(directory: directory.path, config: Self.mirrorConfig)
        #expect(reopened.recoveryReport.truncatedBytes == Int64(torn.count))
        #expect(reopened.logEndOffset == 51, "the gap 1..<50 is the source's, not damage")
        #expect(try await Self.readAll(reopened) == Self.sourceBatch(at: 0, ["a"]) + Self.sourceBatch(at: 50, ["b"]))
        try await reopened.close()
    }

    @Test func whatASourceStoresIsTakenAndAnImpossibleOffsetIsRefused() async throws {
        let directory = TemporaryDirectory()
        var config = Self.mirrorConfig
        config.maxBatchBytes = 200
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        // A batch the source's compaction thinned: records at deltas 0 and 2, the one at 1 gone.
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.appendPreservingDeltas(Record(timestampDelta: 0, offsetDelta: 0, key: Array("a".utf8), value: Array("1".utf8), headers: []))
        builder.appendPreservingDeltas(Record(timestampDelta: 0, offsetDelta: 2, key: Array("b".utf8), value: Array("3".utf8), headers: []))
        var compacted = builder.build(lastOffsetDelta: 2)
        compacted.withUnsafeMutableBytes { RecordBatch.setBaseOffset(10, in: $0) }
        _ = try await log.appendKeepingOffsets(compacted)
        #expect(log.logEndOffset == 13)
        // Larger than this topic's max.message.bytes: the source took it, so the mirror does.
        let large = Self.sourceBatch(at: 13, [String(repeating: "x", count: 400)])
        _ = try await log.appendKeepingOffsets(large)
        #expect(log.logEndOffset == 14)
        // A base offset outside the CRC that no log can hold: refused, nothing placed.
        await #expect(throws: LogError.self) { try await log.appendKeepingOffsets(Self.sourceBatch(at: .max, ["z"])) }
        await #expect(throws: LogError.self) { try await log.appendKeepingOffsets(Self.sourceBatch(at: -5, ["z"])) }
        #expect(log.logEndOffset == 14)
        try await log.close()
        // And it all reopens, and `stele log repair` given the topic's config finds nothing to cut.
        #expect(try await LogRepair.setAsideDamage(directory: directory.path, config: config) == nil)
    }

    @Test func aLogThatAssignsOffsetsRefusesAndAHugeGapIsRefused() async throws {
        let directory = TemporaryDirectory()
        let plain = try await PartitionLog.open(directory: directory.path + "/plain", config: LogConfig())
        await #expect(throws: LogError.self) { try await plain.appendKeepingOffsets(Self.sourceBatch(at: 0, ["a"])) }
        #expect(plain.logEndOffset == 0)
        try await plain.close()

        let mirror = try await PartitionLog.open(directory: directory.path + "/mirror", config: Self.mirrorConfig)
        // Offsets in index files are relative to the segment's base and 32-bit.
        await #expect(throws: LogError.self) { try await mirror.appendKeepingOffsets(Self.sourceBatch(at: 1 << 33, ["a"])) }
        #expect(mirror.logEndOffset == 0)
        _ = try await mirror.appendKeepingOffsets(Self.sourceBatch(at: 5, ["b"]))
        #expect(mirror.logEndOffset == 6)
        try await mirror.close()
    }
}
