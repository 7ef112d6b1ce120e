import Foundation
import Testing
import SteleCore
@testable import SteleLog
import SteleLogTesting

/// Kafka's DeleteRecords on a partition log: the start offset moves inside a segment, durably;
/// whole segments below it go; nothing at or above it is lost, whatever crash interrupts it.
@Suite("DeleteRecords")
struct DeleteRecordsTests {
    static func fill(_ log: PartitionLog, count: Int) async throws {
        for index in 0..<count { _ = try await log.append(Batches.single(key: "k\(index % 7)", value: "\(index)-" + String(repeating: "r", count: 60))) }
    }

    @Test func theStartMovesInsideASegmentAndSurvivesAReopen() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        try await Self.fill(log, count: 200)
        let segments = log.segmentBaseOffsets.count
        #expect(try await log.deleteRecords(before: 123) == 123)
        #expect(log.logStartOffset == 123)
        #expect(log.segmentBaseOffsets.count < segments && log.segmentBaseOffsets[0] <= 123, "the segments wholly below went, the one holding 123 stayed")
        await #expect(throws: LogError.self) { try await log.read(from: 122, maxBytes: 1000) }
        #expect(try await log.readAll().first?.offset == 123)
        #expect(try await log.deleteRecords(before: 50) == 123, "asking for less changes nothing")
        await #expect(throws: LogError.self) { try await log.deleteRecords(before: 201) }
        await #expect(throws: LogError.self) { try await log.deleteRecords(before: -2) }
        try await log.close()
        let reopened = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(reopened.logStartOffset == 123 && reopened.logEndOffset == 200)
        #expect(try await reopened.readAll().map(\.offset) == Array(123..<200))
        #expect(try await reopened.deleteRecords(before: 200) == 200, "up to the high watermark: the log is empty but keeps its end")
        _ = try await reopened.append(Batches.single(key: "k", value: "after"))
        #expect(try await reopened.readAll().map(\.offset) == [200])
        try await reopened.close()
    }

    @Test func lookupsByTimeNeverAnswerBelowTheStart() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        try await Self.fill(log, count: 200)
        try await log.deleteRecords(before: 123)
        #expect(try await log.record(atOrAfterTimestamp: 0)?.offset == 123)
        try await log.close()
    }

    /// DeleteRecords to a high watermark a crash then cut (a flush policy that allows it): the
    /// file says more than the log holds. The end wins, and the file is rewritten before any
    /// append, or the next open would hide what is appended now.
    @Test func aStartPastTheEndIsBroughtBackBeforeAnyAppend() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        try await Self.fill(log, count: 50)
        try await log.close()
        try Data(LogStartOffsetFile.encode(80)).write(to: URL(fileURLWithPath: directory.path + "/" + LogStartOffsetFile.fileName))
        let reopened = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(reopened.logStartOffset == 50 && reopened.logEndOffset == 50)
        for index in 0..<40 { _ = try await reopened.append(Batches.single(key: "k", value: "after-\(index)")) }
        try await reopened.close()
        let again = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(again.logStartOffset == 50, "the records appended after the clamp stay visible")
        #expect(try await again.readAll().count == 40)
        try await again.close()
    }

    @Test func aDamagedStartFileIsReportedAndServesMoreNotLess() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        try await Self.fill(log, count: 100)
        try await log.deleteRecords(before: 90)
        let base = log.segmentBaseOffsets[0]
        try await log.close()
        let path = directory.path + "/" + LogStartOffsetFile.fileName
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[7] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reopened = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(reopened.recoveryReport.logStartOffsetProblem?.contains("damaged") == true)
        #expect(reopened.logStartOffset == base, "the first segment's base: nothing acknowledged is hidden")
        try await reopened.close()
    }

    @Test func aCrashAnywhereKeepsEveryRecordAtOrAboveTheAskedOffset() async throws {
        func prepared() async throws -> (SimulatedFileSystem, String) {
            let fileSystem = SimulatedFileSystem()
            let directory = "/sim/log"
            try fileSystem.createDirectoryDurably(directory)
            let log = try await PartitionLog.open(directory: directory, config: .tiny, fileSystem: fileSystem)
            try await Self.fill(log, count: 150)
            try await log.close()
            return (fileSystem, directory)
        }
        let (complete, directory) = try await prepared()
        let base = complete.operationCount
        let log = try await PartitionLog.open(directory: directory, config: .tiny, fileSystem: complete)
        _ = try await log.deleteRecords(before: 111)
        try await log.close()
        let operations = complete.operationCount - base
        for crashAt in 1...operations {
            let (fileSystem, _) = try await prepared()
            fileSystem.crashAtOperation = fileSystem.operationCount + crashAt
            var acknowledged = false
            if let log = try? await PartitionLog.open(directory: directory, config: .tiny, fileSystem: fileSystem) {
                acknowledged = (try? await log.deleteRecords(before: 111)) == 111
                try? await log.close()
            }
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let label = "crash at \(crashAt)/\(operations), \(kind)"
                let reopened = try await PartitionLog.open(directory: directory, config: .tiny, fileSystem: fileSystem.crashImage(kind))
                #expect(reopened.logStartOffset <= 111 && reopened.logEndOffset == 150, "\(label): \(reopened.logStartOffset)…\(reopened.logEndOffset)")
                if acknowledged { #expect(reopened.logStartOffset == 111, "\(label): an acknowledged deletion came undone") }
                #expect(try await reopened.readAll(from: 111).map(\.offset) == Array(111..<150), "\(label)")
                try await reopened.close()
            }
        }
    }
}
