import Foundation
import Testing
import SteleCore
@testable import SteleLog
import SteleLogTesting

/// Crashes the log at every mutating file operation of a workload (every write, sync, rename,
/// removal and creation of append, roll, retention and compaction), restarts it from what a
/// process crash, a power loss, and a power loss with torn writes would leave, and checks that
/// the log is a valid prefix holding every acknowledged record.
@Suite("Crash at every file operation")
struct CrashInjectionTests {
    static let directory = "/sim/partition"
    static let executor = IOExecutor(threadCount: 2, name: "crash-test")

    /// One attempted record: its key and value, and whether its append was acknowledged.
    struct Attempt {
        var key: String
        var value: String
        var offset: Int64
        var acknowledged = false
    }

    enum Workload: String, CaseIterable {
        case appends, retention, compaction
    }

    static func config(for workload: Workload) -> LogConfig {
        var config = LogConfig.tiny
        config.segmentBytes = 700
        if workload == .compaction { config.cleanupPolicy = .compact }
        return config
    }

    /// Runs the workload until it finishes or the file system crashes; returns every attempt.
    static func run(_ workload: Workload, on fileSystem: SimulatedFileSystem) async -> [Attempt] {
        var attempts: [Attempt] = []
        guard let log = try? await PartitionLog.open(directory: directory, config: config(for: workload), fileSystem: fileSystem, executor: executor) else {
            return attempts
        }
        var offset: Int64 = 0
        for index in 0..<36 {
            let key = "key-\(index % 5)"
            let value = "value-\(index)-" + String(repeating: "v", count: index % 7 * 9)
            attempts.append(Attempt(key: key, value: value, offset: offset))
            offset += 1
            do {
                let result = try await log.append(Batches.single(key: key, value: value))
                precondition(result.baseOffset == attempts[attempts.count - 1].offset)
                attempts[attempts.count - 1].acknowledged = true
            } catch { break }
            if index == 20 {
                switch workload {
                case .appends: break
                case .retention: _ = try? await log.deleteSegments(before: 6)
                case .compaction: _ = try? await log.compact()
                }
            }
        }
        if workload == .compaction { _ = try? await log.compact() }
        try? await log.close()
        return attempts
    }

    /// Checks a recovered log against the attempts.
    @discardableResult
    static func check(_ log: PartitionLog, attempts: [Attempt], workload: Workload, context: String) async throws -> Int64 {
        let records = try await log.readAll(maxBytes: 1 << 16)
        // Every stored record is the attempt made at its offset: nothing invented, nothing moved.
        for (offset, record) in records {
            let attempt = try #require(attempts.indices.contains(Int(offset)) ? attempts[Int(offset)] : nil, "\(context): unexpected offset \(offset)")
            #expect(string(record.key) == attempt.key && string(record.value) == attempt.value, "\(context): offset \(offset)")
        }
        #expect(zip(records, records.dropFirst()).allSatisfy { $0.offset < $1.offset }, "\(context): offsets ascend")
        let present = Set(records.map(\.offset))
        let acknowledged = attempts.filter(\.acknowledged)
        switch workload {
        case .appends:
            for attempt in acknowledged {
                #expect(present.contains(attempt.offset), "\(context): acknowledged offset \(attempt.offset) lost")
            }
            #expect(records.map(\.offset) == Array(0..<Int64(records.count)), "\(context): a prefix without holes")
        case .retention:
            let start = log.logStartOffset
            #expect(start <= 6)
            for attempt in acknowledged where attempt.offset >= start {
                #expect(present.contains(attempt.offset), "\(context): acknowledged offset \(attempt.offset) lost")
            }
        case .compaction:
            // The latest acknowledged record of each key survives, unless a later record of the
            // same key (acknowledged or merely written) superseded it.
            for key in Set(acknowledged.map(\.key)) {
                let latest = acknowledged.last { $0.key == key }!
                #expect(records.contains { string($0.record.key) == key && $0.offset >= latest.offset },
                        "\(context): latest record of \(key) at \(latest.offset) lost")
            }
        }
        // The recovered log accepts appends at its end.
        let end = log.logEndOffset
        #expect(try await log.append(Batches.single(key: "after", value: "crash")).baseOffset == end)
        return end
    }

    @Test(arguments: Workload.allCases)
    func everyCrashPointRecovers(workload: Workload) async throws {
        let reference = SimulatedFileSystem()
        let full = await Self.run(workload, on: reference)
        #expect(full.allSatisfy { $0.acknowledged })
        let operations = reference.operationCount
        #expect(operations > 150, "the workload exercises many file operations (\(operations))")
        for crashAt in 1...operations {
            let fileSystem = SimulatedFileSystem(seed: UInt64(crashAt))
            fileSystem.crashAtOperation = crashAt
            let attempts = await Self.run(workload, on: fileSystem)
            for kind in [SimulatedFileSystem.CrashKind.process, .power(tornTail: false), .power(tornTail: true)] {
                let image = fileSystem.crashImage(kind, seed: UInt64(crashAt))
                let context = "\(workload) crash at operation \(crashAt)/\(operations), \(kind)"
                let log = try await PartitionLog.open(directory: Self.directory, config: Self.config(for: workload),
                                                      fileSystem: image, executor: Self.executor)
                #expect(log.recoveryReport.corruptions.isEmpty, "\(context): \(log.recoveryReport.corruptions)")
                let appendedAfter = try await Self.check(log, attempts: attempts, workload: workload, context: context)
                try await log.close()
                // A second crash, a power loss, right after an append acknowledged by the
                // recovered log: recovery must have made everything it relies on durable.
                let second = try await PartitionLog.open(directory: Self.directory, config: Self.config(for: workload),
                                                         fileSystem: image.crashImage(.power(tornTail: false)), executor: Self.executor)
                let after = try await second.read(from: appendedAfter, maxBytes: 1)
                #expect(try Batches.decode(after.batches).first.map { string($0.record.key) } == "after", "\(context): append after recovery lost")
                try await second.close()
            }
        }
    }
}
