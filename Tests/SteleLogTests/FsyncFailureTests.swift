import Foundation
import Testing
import SteleTestSupport
import SteleCore
@testable import SteleLog
import SteleLogTesting

/// A failed fsync is final under every flush policy: the kernel may have dropped the dirty pages
/// and reports the error once, so a later sync that succeeds proves nothing. The partition stops
/// taking appends (it never retries as if the data were durable) until a reopen recovers from
/// what is on disk.
@Suite("fsync failures")
struct FsyncFailureTests {
    static let executor = IOExecutor(threadCount: 1, name: "fsync-test")

    @Test(arguments: [FlushPolicy.always, .interval(.milliseconds(5)), .os])
    func aFailedSyncStopsThePartitionForGood(policy: FlushPolicy) async throws {
        let fileSystem = SimulatedFileSystem()
        var config = LogConfig.tiny
        config.flushPolicy = policy
        let log = try await PartitionLog.open(directory: "/data/p-0", config: config, fileSystem: fileSystem, executor: Self.executor)
        _ = try await log.append(Batches.single(key: "a", value: "synced"))
        try await log.flush()
        let durable = log.durableOffset
        #expect(durable == 1)

        fileSystem.failSyncs = true
        switch policy {
        case .always:
            // The append whose sync failed is not acknowledged.
            await #expect(throws: LogError.self) { try await log.append(Batches.single(key: "a", value: "lost")) }
        case .interval:
            // Either this append's own sync (when the interval has passed, as on a slow machine)
            // or the background flusher meets the failure; both stop the partition.
            _ = try? await log.append(Batches.single(key: "a", value: "written, not synced"))
            try await waitUntil("the interval flusher to hit the failing fsync") { log.storageFailure != nil }
        case .os:
            _ = try await log.append(Batches.single(key: "a", value: "written, not synced"))
            await #expect(throws: LogError.self) { try await log.flush() }
        }
        #expect(log.storageFailure != nil, "the partition knows it stopped")
        fileSystem.failSyncs = false
        // The disk "works" again: the partition still refuses, and never claims more durable data.
        await #expect(throws: LogError.self) { try await log.append(Batches.single(key: "a", value: "after")) }
        #expect(log.durableOffset == durable)
        _ = try? await log.close()

        // A reopen recovers from what is on disk and takes appends again.
        let reopened = try await PartitionLog.open(directory: "/data/p-0", config: config, fileSystem: fileSystem, executor: Self.executor)
        #expect(reopened.storageFailure == nil)
        let next = try await reopened.append(Batches.single(key: "a", value: "after recovery"))
        #expect(next.baseOffset >= durable)
        try await reopened.close()
    }
}
