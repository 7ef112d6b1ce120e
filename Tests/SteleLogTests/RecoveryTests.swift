import Foundation
import Testing
import SteleCore
@testable import SteleLog
import SteleLogTesting

@Suite("Recovery and corruption on real files")
struct RecoveryTests {
    static func fill(_ directory: String, count: Int = 120) async throws {
        let log = try await PartitionLog.open(directory: directory, config: .tiny)
        for index in 0..<count { _ = try await log.append(Batches.single(key: "k\(index % 4)", value: "value-\(index)")) }
        try await log.close()
    }

    static func segmentFiles(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted().map { directory + "/" + $0 }
    }

    static func mutate(_ path: String, _ change: (inout Data) -> Void) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        change(&data)
        try data.write(to: URL(fileURLWithPath: path))
    }

    @Test(arguments: ["partial batch", "zeros", "garbage"])
    func tornTailIsTruncatedAndNothingBeforeItIsLost(tail: String) async throws {
        let directory = TemporaryDirectory()
        try await Self.fill(directory.path)
        let last = try Self.segmentFiles(directory.path).last!
        try Self.mutate(last) { data in
            switch tail {
            case "partial batch": data.append(contentsOf: Batches.single(key: "x", value: "never acknowledged").prefix(40))
            case "zeros": data.append(contentsOf: [UInt8](repeating: 0, count: 4096))
            default: data.append(contentsOf: (0..<333).map { UInt8(truncatingIfNeeded: $0 &* 97) })
            }
        }
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(log.recoveryReport.truncatedBytes > 0)
        #expect(log.recoveryReport.tornTail != nil)
        #expect(log.recoveryReport.corruptions.isEmpty)
        #expect(log.logEndOffset == 120)
        #expect(try await log.readAll().map { string($0.record.value)! } == (0..<120).map { "value-\($0)" })
        #expect(try await log.append(Batches.single(key: "k", value: "next")).baseOffset == 120)
        try await log.close()
    }

    @Test func flippedByteInASealedSegmentIsReportedAndNeverServed() async throws {
        let directory = TemporaryDirectory()
        try await Self.fill(directory.path)
        let segment = try Self.segmentFiles(directory.path)[1]
        let base = Int64(URL(fileURLWithPath: segment).deletingPathExtension().lastPathComponent)!
        // Damage the value of the second batch of the segment.
        let firstBatchSize = try RecordBatchHeader(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: segment)))).totalSize
        try Self.mutate(segment) { $0[firstBatchSize + 70] ^= 0x01 }

        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        do {
            _ = try await log.read(from: base + 1, maxBytes: 1 << 16)
            Issue.record("a damaged batch was served")
        } catch let LogError.corruption(damage) {
            #expect(damage.file == segment && damage.position == Int64(firstBatchSize), "\(damage)")
        }
        // The batch before the damage is still served, alone.
        let before = try await log.read(from: base, maxBytes: 1 << 16)
        #expect(try Batches.decode(before.batches).map(\.offset) == [base])
        // A stream read through the key index checks the record's own CRC.
        let key = Array("k\((base + 1) % 4)".utf8)
        await #expect(throws: LogError.self) { try await log.readStream(key: key) }
        try await log.close()

        let report = try LogVerifier.verify(directory: directory.path)
        #expect(!report.isClean)
        #expect(report.corruptions.first?.file == segment && report.corruptions.first?.position == Int64(firstBatchSize))
    }

    @Test func damageInsideTheActiveSegmentIsKeptAndReportedNotTruncated() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.segmentBytes = 1 << 20
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        for index in 0..<10 { _ = try await log.append(Batches.single(key: "k", value: "value-\(index)")) }
        try await log.close()
        let segment = try Self.segmentFiles(directory.path).last!
        let size = try RecordBatchHeader(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: segment)))).totalSize
        try Self.mutate(segment) { $0[3 * size + 65] ^= 0x80 }

        // Valid batches follow the damage: corruption of acknowledged data (below the recovery
        // point), not a torn write. Nothing is cut, the partition does not open, repair says what is lost.
        try await Self.expectRefusedThenRepaired(directory.path, segment: segment, damageAt: Int64(3 * size), lost: 3..<10)
    }

    /// Opening refuses with the damage named, cutting nothing; `LogRepair` sets it aside and the
    /// log goes on after every offset that may have been acknowledged.
    static func expectRefusedThenRepaired(_ directory: String, segment: String, damageAt position: Int64, lost: Range<Int64>,
                                          sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let size = try FileManager.default.attributesOfItem(atPath: segment)[.size] as! NSNumber
        do {
            _ = try await PartitionLog.open(directory: directory, config: .tiny)
            Issue.record("opened with damaged acknowledged data", sourceLocation: sourceLocation)
        } catch let LogError.corruption(corruption) {
            #expect(corruption.position == position && corruption.reason.hasPrefix("damage below the recovery point"), "\(corruption)", sourceLocation: sourceLocation)
        }
        #expect(try FileManager.default.attributesOfItem(atPath: segment)[.size] as! NSNumber == size, "nothing cut", sourceLocation: sourceLocation)
        let report = try #require(try await LogRepair.setAsideDamage(directory: directory), sourceLocation: sourceLocation)
        #expect(report.lost == lost, sourceLocation: sourceLocation)
        let repaired = try await PartitionLog.open(directory: directory, config: .tiny)
        let served = try await repaired.read(from: 0, maxBytes: 1 << 20)
        #expect(try Batches.decode(served.batches).map(\.offset) == Array(0..<lost.lowerBound), "the batches before the damage are served", sourceLocation: sourceLocation)
        #expect(try await repaired.append(Batches.single(key: "k", value: "after repair")).baseOffset == lost.upperBound, sourceLocation: sourceLocation)
        try await repaired.close()
    }

    @Test(arguments: [(byte: 7, bit: UInt8(0x01)), (byte: 3, bit: UInt8(0x40)), (byte: 0, bit: UInt8(0x80))])
    func damagedBaseOffsetIsCaughtNotTrustedAndNothingAfterItIsCut(byte: Int, bit: UInt8) async throws {
        // baseOffset lies outside the CRC: damage there must not move the log end, trap, or
        // make recovery cut the valid batches that follow.
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.segmentBytes = 1 << 20
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        for index in 0..<10 { _ = try await log.append(Batches.single(key: "k", value: "value-\(index)")) }
        try await log.close()
        let segment = try Self.segmentFiles(directory.path).last!
        let size = try RecordBatchHeader(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: segment)))).totalSize
        try Self.mutate(segment) { $0[4 * size + byte] ^= bit }

        #expect(!(try LogVerifier.verify(directory: directory.path)).isClean)
        try await Self.expectRefusedThenRepaired(directory.path, segment: segment, damageAt: Int64(4 * size), lost: 4..<10)
    }

    @Test func compactionSurvivesExtremeProducerTimestamps() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.cleanupPolicy = .compact
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        var builder = RecordBatchBuilder(baseTimestamp: 1 << 62)
        builder.append(key: Array("a".utf8), value: Array("old".utf8), timestamp: Int64.max)
        builder.append(key: Array("b".utf8), value: Array("keep".utf8), timestamp: Int64.min + 5)
        _ = try await log.append(builder.build())
        for index in 0..<80 { _ = try await log.append(Batches.single(key: "a", value: "new-\(index)")) }
        _ = try await log.compact()
        let values = try await log.readAll().map { string($0.record.value)! }
        #expect(values.contains("keep") && !values.contains("old"))
        try await log.close()
    }

    @Test func truncatedSealedSegmentIsReportedOnOpenAndVerify() async throws {
        let directory = TemporaryDirectory()
        try await Self.fill(directory.path)
        let segment = try Self.segmentFiles(directory.path)[1]
        try Self.mutate(segment) { $0.removeLast(10) }
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(log.recoveryReport.rebuiltIndexes.count == 1)
        #expect(log.recoveryReport.corruptions.first?.file == segment)
        try await log.close()
        let report = try LogVerifier.verify(directory: directory.path)
        #expect(report.corruptions.first?.file == segment)
    }

    @Test func missingAndDamagedIndexFilesAreRebuilt() async throws {
        let directory = TemporaryDirectory()
        try await Self.fill(directory.path)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        try FileManager.default.removeItem(atPath: directory.path + "/" + names.first { $0.hasSuffix(".index") }!)
        try Self.mutate(directory.path + "/" + names.filter { $0.hasSuffix(".timeindex") }[1]) { $0[3] ^= 0xFF }
        #expect(!(try LogVerifier.verify(directory: directory.path)).indexProblems.isEmpty)
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        // The missing offset index is noticed on open; the damaged time index when first used.
        #expect(log.recoveryReport.rebuiltIndexes.count == 1)
        #expect(try await log.readAll().count == 120)
        #expect(try await log.offset(atOrAfterTimestamp: 0) == 0)
        try await log.close()
        let report = try LogVerifier.verify(directory: directory.path)
        #expect(report.isClean && report.indexProblems.isEmpty && report.records == 120)
    }

    @Test func leftoversOfAnInterruptedCompactionAreResolved() async throws {
        let directory = TemporaryDirectory()
        try await Self.fill(directory.path)
        let stray = directory.path + "/00000000000000000000.log.cleaned"
        FileManager.default.createFile(atPath: stray, contents: Data([1, 2, 3]))
        FileManager.default.createFile(atPath: directory.path + "/00000000000000099999.index", contents: Data([1]))
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(Set(log.recoveryReport.removedFiles) == ["00000000000000000000.log.cleaned", "00000000000000099999.index"])
        #expect(!FileManager.default.fileExists(atPath: stray))
        #expect(try await log.readAll().count == 120)
        try await log.close()
    }
}
