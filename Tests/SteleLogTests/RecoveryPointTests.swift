import Foundation
import Testing
import SteleCore
@testable import SteleLog

/// Recovery never throws away what was acknowledged: the recovery point says how much of the
/// active segment was synced and acknowledged. Beyond it a damaged tail is a torn write (cut, and
/// set aside); below it damage is corruption of acknowledged data and the partition refuses to
/// open, naming file and byte range, with nothing cut and no offset handed out again.
@Suite("Recovery point")
struct RecoveryPointTests {
    /// 20 batches in one active segment (large segments: nothing rolls), closed cleanly.
    static func fill(_ directory: String) async throws -> String {
        var config = LogConfig()
        config.segmentBytes = 1 << 20
        let log = try await PartitionLog.open(directory: directory, config: config)
        for index in 0..<20 { _ = try await log.append(Batches.single(key: "k", value: "acknowledged-\(index)")) }
        try await log.close()
        return directory + "/00000000000000000000.log"
    }

    static func size(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue
    }

    @Test(arguments: ["flipped length", "file cut short"])
    func damageBelowTheRecoveryPointRefusesToOpenAndCutsNothing(damage: String) async throws {
        let directory = TemporaryDirectory()
        let segment = try await Self.fill(directory.path)
        let batch = try RecordBatchHeader(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: segment)))).totalSize
        try RecoveryTests.mutate(segment) { data in
            switch damage {
            // The 4th batch's length field: recovery used to take everything after it for a torn write.
            case "flipped length": data[3 * batch + 8] ^= 0x40
            case "flipped CRC byte": data[3 * batch + 70] ^= 0x01
            default: data.removeLast(batch / 2)
            }
        }
        let before = try Self.size(segment)
        do {
            _ = try await PartitionLog.open(directory: directory.path, config: LogConfig())
            Issue.record("\(damage): the log opened")
        } catch let LogError.corruption(corruption) {
            #expect(corruption.file == segment)
            #expect(corruption.reason.contains("damage below the recovery point"), "\(corruption)")
            #expect(corruption.reason.contains("offsets up to 20"), "\(corruption)")
        }
        #expect(try Self.size(segment) == before, "nothing was cut")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).allSatisfy { !$0.contains(".torn-") })
    }

    @Test func aDamagedBatchFollowedByValidOnesBelowThePointAlsoRefusesToOpen() async throws {
        let directory = TemporaryDirectory()
        let segment = try await Self.fill(directory.path)
        let batch = try RecordBatchHeader(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: segment)))).totalSize
        try RecoveryTests.mutate(segment) { $0[3 * batch + 70] ^= 0x01 }
        let before = try Self.size(segment)
        do {
            _ = try await PartitionLog.open(directory: directory.path, config: LogConfig())
            Issue.record("a partition with damaged acknowledged data opened")
        } catch let LogError.corruption(corruption) {
            #expect(corruption.reason.hasPrefix("damage below the recovery point") && corruption.position == Int64(3 * batch), "\(corruption)")
        }
        #expect(try Self.size(segment) == before)
        // Repair keeps every offset after the damage out of reach: the valid batches after it
        // are set aside with it, and the log goes on past them.
        let report = try #require(try await LogRepair.setAsideDamage(directory: directory.path))
        #expect(report.lost == 3..<20)
        let log = try await PartitionLog.open(directory: directory.path, config: LogConfig())
        #expect(try await log.append(Batches.single(key: "k", value: "next")).baseOffset == 20)
        try await log.close()
    }

    @Test func damageBeyondALaggingPointIsNotCutWhenWholeBatchesFollowIt() async throws {
        let directory = TemporaryDirectory()
        let segment = try await Self.fill(directory.path)
        let batch = try RecordBatchHeader(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: segment)))).totalSize
        // The point lags (written up to a second before the last acknowledgement): it covers 5 batches.
        try Data(RecoveryPoint(segmentBase: 0, bytes: Int64(5 * batch), nextOffset: 5).encoded())
            .write(to: URL(fileURLWithPath: directory.path + "/" + RecoveryPoint.fileName))
        try RecoveryTests.mutate(segment) { $0[7 * batch + 8] ^= 0x40 }
        await #expect(throws: LogError.self) { _ = try await PartitionLog.open(directory: directory.path, config: LogConfig()) }
        let report = try #require(try await LogRepair.setAsideDamage(directory: directory.path))
        #expect(report.lost == 7..<20, "the repair goes past the whole batches it set aside, not back to the lagging point")
        let log = try await PartitionLog.open(directory: directory.path, config: LogConfig())
        #expect(try await log.append(Batches.single(key: "k", value: "next")).baseOffset == 20, "offset 7…19 were acknowledged: never again")
        try await log.close()
    }

    @Test func repairContinuesPastTheDamagedSegmentWhenThePointLagsInTheSegmentBefore() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 700 // a few batches per segment
        var log = try await PartitionLog.open(directory: directory.path, config: config)
        for index in 0..<20 { _ = try await log.append(Batches.single(key: "k", value: "acknowledged-\(index)")) }
        try await log.close()
        let segments = try RecoveryTests.segmentFiles(directory.path)
        #expect(segments.count > 2)
        let active = segments.last!
        let activeBase = Int64((active as NSString).lastPathComponent.prefix(20))!
        // A crash within a second of the last roll: the point is still in the segment before.
        let previousBase = Int64((segments[segments.count - 2] as NSString).lastPathComponent.prefix(20))!
        try Data(RecoveryPoint(segmentBase: previousBase, bytes: 10, nextOffset: previousBase + 1).encoded())
            .write(to: URL(fileURLWithPath: directory.path + "/" + RecoveryPoint.fileName))
        try RecoveryTests.mutate(active) { $0[8] ^= 0x40 } // the active segment's first batch
        await #expect(throws: LogError.self) { _ = try await PartitionLog.open(directory: directory.path, config: config) }
        let report = try #require(try await LogRepair.setAsideDamage(directory: directory.path))
        #expect(report.lost == activeBase..<20)
        log = try await PartitionLog.open(directory: directory.path, config: config)
        #expect(try await log.append(Batches.single(key: "k", value: "next")).baseOffset == 20, "no acknowledged offset handed out again")
        try await log.close()
    }

    @Test func repairRefusesWhatIsNotAPartitionAndNeverOverwritesACopy() async throws {
        let directory = TemporaryDirectory()
        await #expect(throws: LogError.self) { _ = try await LogRepair.setAsideDamage(directory: directory.path + "/vanished") }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/vanished"), "nothing created")
        let segment = try await Self.fill(directory.path)
        let batch = try RecordBatchHeader(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: segment)))).totalSize
        FileManager.default.createFile(atPath: segment + ".damaged-\(3 * batch)", contents: Data("an earlier copy".utf8))
        try RecoveryTests.mutate(segment) { $0[3 * batch + 8] ^= 0x40 }
        let report = try #require(try await LogRepair.setAsideDamage(directory: directory.path))
        #expect(report.setAside != segment + ".damaged-\(3 * batch)")
        #expect(try String(contentsOfFile: segment + ".damaged-\(3 * batch)", encoding: .utf8) == "an earlier copy")
    }

    @Test func repairSetsTheDamageAsideAndNeverReusesAnOffset() async throws {
        let directory = TemporaryDirectory()
        let segment = try await Self.fill(directory.path)
        let batch = try RecordBatchHeader(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: segment)))).totalSize
        try RecoveryTests.mutate(segment) { $0[3 * batch + 8] ^= 0x40 }
        let damaged = Array(try Data(contentsOf: URL(fileURLWithPath: segment)))
        await #expect(throws: LogError.self) { _ = try await PartitionLog.open(directory: directory.path, config: LogConfig()) }
        let report = try #require(try await LogRepair.setAsideDamage(directory: directory.path))
        #expect(report.lost == 3..<20)
        #expect(report.position == Int64(3 * batch))
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: report.setAside))) == Array(damaged[(3 * batch)...]), "set aside byte for byte")
        let log = try await PartitionLog.open(directory: directory.path, config: LogConfig())
        #expect(try await log.readAll().map { string($0.record.value)! } == (0..<3).map { "acknowledged-\($0)" })
        #expect(try await log.append(Batches.single(key: "k", value: "after repair")).baseOffset == 20, "offsets 3..<20 are never handed out again")
        #expect(try await log.read(from: 3, maxBytes: 1 << 20).batches.isEmpty == false, "a reader at a lost offset steps over the gap")
        try await log.close()
        #expect(try await LogRepair.setAsideDamage(directory: directory.path) == nil, "nothing left to repair")
    }

    @Test func aTornTailBeyondTheRecoveryPointIsCutAndSetAside() async throws {
        let directory = TemporaryDirectory()
        let segment = try await Self.fill(directory.path)
        let end = try Self.size(segment)
        let tail = Array(Batches.single(key: "k", value: "never acknowledged").prefix(40))
        try RecoveryTests.mutate(segment) { $0.append(contentsOf: tail) }
        let log = try await PartitionLog.open(directory: directory.path, config: LogConfig())
        #expect(log.recoveryReport.truncatedBytes == Int64(tail.count))
        #expect(log.recoveryReport.protectedBytes == Int64(end))
        let copy = try #require(log.recoveryReport.tornTailCopy)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: copy))) == tail, "the cut bytes are kept beside the log")
        #expect(try await log.append(Batches.single(key: "k", value: "next")).baseOffset == 20)
        try await log.close()
    }

    @Test func aDamagedRecoveryPointIsRewrittenWhenTheSegmentIsWholeAndRefusedWhenItIsNot() async throws {
        let directory = TemporaryDirectory()
        let segment = try await Self.fill(directory.path)
        let pointFile = directory.path + "/" + RecoveryPoint.fileName
        try RecoveryTests.mutate(pointFile) { $0[10] ^= 0xff }
        // A whole segment: nothing to decide, the point is written again at open.
        var log = try await PartitionLog.open(directory: directory.path, config: LogConfig())
        #expect(RecoveryPoint.decode(Array(try Data(contentsOf: URL(fileURLWithPath: pointFile))))?.nextOffset == 20)
        try await log.close()
        // A damaged point and a damaged tail: a torn write cannot be told from lost data.
        try RecoveryTests.mutate(pointFile) { $0[10] ^= 0xff }
        try RecoveryTests.mutate(segment) { $0.append(contentsOf: [UInt8](repeating: 7, count: 100)) }
        await #expect(throws: LogError.self) { _ = try await PartitionLog.open(directory: directory.path, config: LogConfig()) }
        // The operator's way out, as the error says: move the point away, the tail is cut as torn.
        try FileManager.default.removeItem(atPath: pointFile)
        log = try await PartitionLog.open(directory: directory.path, config: LogConfig())
        #expect(log.logEndOffset == 20)
        try await log.close()
    }

    @Test func theCodecRefusesDamage() {
        let point = RecoveryPoint(segmentBase: 42, bytes: 4096, nextOffset: 99)
        #expect(RecoveryPoint.decode(point.encoded()) == point)
        for index in 0..<RecoveryPoint.size {
            var damaged = point.encoded()
            damaged[index] ^= 0x10
            #expect(RecoveryPoint.decode(damaged) == nil, "byte \(index)")
        }
        #expect(RecoveryPoint.decode(Array(point.encoded().dropLast())) == nil)
        #expect(RecoveryPoint(segmentBase: 1, bytes: 0, nextOffset: 1).isAhead(of: RecoveryPoint(segmentBase: 0, bytes: 9999, nextOffset: 50)))
    }
}
