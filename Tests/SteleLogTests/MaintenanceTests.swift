import Foundation
import Testing
import SteleCore
@testable import SteleLog
import SteleLogTesting

@Suite("Retention and compaction")
struct MaintenanceTests {
    @Test func retentionByTimeDeletesOnlyExpiredSealedSegments() async throws {
        let directory = TemporaryDirectory()
        let clock = TestClock()
        var config = LogConfig.tiny
        config.retention = .seconds(3600)
        let log = try await PartitionLog.open(directory: directory.path, config: config, clock: clock.function)
        for index in 0..<60 { _ = try await log.append(Batches.single(key: "k", value: "old-\(index)-" + String(repeating: "x", count: 100), timestamp: clock.milliseconds)) }
        clock.advance(by: 2 * 3600 * 1000)
        for index in 0..<60 { _ = try await log.append(Batches.single(key: "k", value: "new-\(index)-" + String(repeating: "x", count: 100), timestamp: clock.milliseconds)) }
        let before = log.segmentBaseOffsets.count
        let deleted = try await log.enforceRetention()
        #expect(deleted > 0 && log.segmentBaseOffsets.count == before - deleted)
        let start = log.logStartOffset
        #expect(start > 0 && start <= 60, "only segments holding old records went")
        await #expect(throws: LogError.self) { try await log.read(from: 0, maxBytes: 100) }
        let remaining = try await log.readAll()
        #expect(remaining.allSatisfy { $0.offset >= start } && remaining.last?.offset == 119)
        #expect(remaining.filter { string($0.record.value)!.hasPrefix("new") }.count == 60)
        #expect(try await log.streamCount(key: Array("k".utf8)) == Int64(120 - start))
        try await log.close()
        let reopened = try await PartitionLog.open(directory: directory.path, config: config, clock: clock.function)
        #expect(reopened.logStartOffset == start && reopened.logEndOffset == 120)
        try await reopened.close()
    }

    /// Records without a timestamp (-1: message format v0) give a segment no age: retention by
    /// time keeps it, rather than take it for older than any cutoff.
    @Test func segmentsWithoutTimestampsAreKeptByTimeRetention() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.retention = .milliseconds(1)
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        for index in 0..<100 { _ = try await log.append(Batches.single(key: "k", value: "v0-\(index)-" + String(repeating: "x", count: 100), timestamp: -1)) }
        #expect(log.segmentBaseOffsets.count > 2)
        #expect(try await log.enforceRetention() == 0)
        #expect(log.logStartOffset == 0)
        try await log.close()
    }

    @Test func retentionBySizeKeepsTheLogUnderTheLimit() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.retentionBytes = 10_000
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        for index in 0..<300 { _ = try await log.append(Batches.single(key: "k\(index)", value: String(repeating: "y", count: 80))) }
        #expect(log.sizeInBytes > 20_000)
        try await log.enforceRetention()
        #expect(log.sizeInBytes >= 10_000 - 4096 && log.sizeInBytes < 10_000 + 4096)
        #expect(log.logEndOffset == 300)
        try await log.close()
    }

    @Test func deleteSegmentsBeforeAnOffset() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        for index in 0..<200 { _ = try await log.append(Batches.single(key: "k", value: "\(index)" + String(repeating: "z", count: 60))) }
        try await log.deleteSegments(before: 100)
        #expect(log.logStartOffset <= 100 && log.logStartOffset > 50)
        #expect(try await log.readAll().first?.offset == log.logStartOffset)
        try await log.deleteSegments(before: 10_000)
        #expect(log.segmentBaseOffsets.count == 1, "the active segment always stays")
        try await log.close()
    }

    @Test func compactionKeepsTheLatestRecordPerKeyWithItsOffset() async throws {
        let directory = TemporaryDirectory()
        let clock = TestClock()
        var config = LogConfig.tiny
        config.cleanupPolicy = .compact
        config.deleteRetention = .seconds(60)
        let log = try await PartitionLog.open(directory: directory.path, config: config, clock: clock.function)
        var latest: [String: (Int64, String?)] = [:]
        for index in 0..<400 {
            let key = "key-\(index % 13)"
            let value: String? = index % 41 == 0 ? nil : "value-\(index)"
            let result = try await log.append(Batches.make([(key, value)], timestamp: clock.milliseconds))
            latest[key] = (result.baseOffset, value)
        }
        let bytesBefore = log.sizeInBytes
        let report = try await log.compact()
        #expect(report.segmentsRewritten > 0 && report.recordsRemoved > 300)
        #expect(log.sizeInBytes < bytesBefore / 2)
        let survivors = try await log.readAll()
        var seen: [String: (Int64, String?)] = [:]
        for (offset, record) in survivors { seen[string(record.key)!] = (offset, string(record.value)) }
        for (key, value) in latest {
            #expect(seen[key]?.0 == value.0 && seen[key]?.1 == value.1, "latest record of \(key) keeps offset and value")
        }
        #expect(log.logEndOffset == 400)
        // Tombstones outlive deleteRetention only while young.
        clock.advance(by: 120_000)
        for index in 0..<40 { _ = try await log.append(Batches.make([("fresh-\(index)", "x")], timestamp: clock.milliseconds)) }
        _ = try await log.compact()
        let tombstoneKeys = latest.filter { $0.value.1 == nil }.map(\.key)
        let after = try await log.readAll()
        let sealedEnd = log.segmentBaseOffsets.last!
        for key in tombstoneKeys where latest[key]!.0 < sealedEnd {
            #expect(!after.contains { string($0.record.key) == key }, "expired tombstone of \(key) is gone")
        }
        try await log.close()
        let reopened = try await PartitionLog.open(directory: directory.path, config: config, clock: clock.function)
        #expect(try await reopened.readAll().map(\.offset) == after.map(\.offset))
        #expect(reopened.recoveryReport.rebuiltIndexes.isEmpty)
        try await reopened.close()
    }

    @Test func compactionRunsBesideAppendsAndReads() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.cleanupPolicy = .compact
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        for index in 0..<200 { _ = try await log.append(Batches.single(key: "k\(index % 10)", value: "\(index)")) }
        async let appends: Void = {
            for index in 200..<400 { _ = try await log.append(Batches.single(key: "k\(index % 10)", value: "\(index)")) }
        }()
        async let compactions: Void = { for _ in 0..<5 { _ = try await log.compact() } }()
        async let reads: Void = { for _ in 0..<20 { _ = try await log.readAll() } }()
        _ = try await (appends, compactions, reads)
        _ = try await log.compact()
        let records = try await log.readAll()
        for key in 0..<10 {
            #expect(records.last { string($0.record.key) == "k\(key)" }.map { string($0.record.value) } == "\(390 + key)")
        }
        try await log.close()
    }

    @Test func compactedLogsRequireKeys() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.cleanupPolicy = .compact
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        await #expect(throws: LogError.self) { try await log.append(Batches.single(key: nil, value: "v")) }
        try await log.close()
    }
}
