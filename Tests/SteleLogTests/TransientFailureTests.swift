import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
import SteleTestSupport
import SteleCore
@testable import SteleLog
import SteleLogTesting

/// A full disk or a shortage of file descriptors fails the appends that meet it and loses
/// nothing; once the resource is back the partition works again without a restart (it recovers
/// in place from what is on disk). A failed sync stays final (FsyncFailureTests).
@Suite("Transient failures: disk full, no file descriptors")
struct TransientFailureTests {
    static let executor = IOExecutor(threadCount: 1, name: "transient-test")

    @Test(arguments: [ENOSPC, EMFILE])
    func appendsFailWhileTheResourceIsGoneAndResumeAfter(code: Int32) async throws {
        let fileSystem = SimulatedFileSystem(seed: UInt64(code))
        var config = LogConfig.tiny // small segments: rolls open files, which EMFILE refuses
        config.flushPolicy = .always
        let clock = TestClock()
        let log = try await PartitionLog.open(directory: "/data/p-0", config: config, fileSystem: fileSystem,
                                              executor: Self.executor, clock: clock.function)
        var acknowledged: [String] = []
        for index in 0..<30 {
            _ = try await log.append(Batches.single(key: "k\(index % 3)", value: "before-\(index)"))
            acknowledged.append("before-\(index)")
        }
        fileSystem.failWrites = code
        var refused = 0
        for index in 0..<30 {
            do {
                _ = try await log.append(Batches.single(key: "k", value: "during-\(index)"))
                acknowledged.append("during-\(index)")
            } catch { refused += 1 }
            clock.advance(by: 2000)
        }
        #expect(refused > 0, "the shortage was met")
        fileSystem.failWrites = nil
        clock.advance(by: 2000)
        // Back without a restart: appends go on after the last acknowledged offset.
        let next = try await log.append(Batches.single(key: "k", value: "after"))
        acknowledged.append("after")
        #expect(next.baseOffset == Int64(acknowledged.count - 1), "no offset skipped or reused")
        #expect(try await log.readAll().map { string($0.record.value)! } == acknowledged, "every acknowledged record, nothing else")
        try await log.close()
        // And a restart finds the same.
        let reopened = try await PartitionLog.open(directory: "/data/p-0", config: config, fileSystem: fileSystem, executor: Self.executor)
        #expect(try await reopened.readAll().map { string($0.record.value)! } == acknowledged)
        try await reopened.close()
    }
}
