import Testing
@testable import SteleBroker
import SteleLog
import SteleLogTesting

/// Offset commits crashed at every file operation (appends, rolls, compaction of
/// `__consumer_offsets`), then reopened from what a process crash, a power cut and a power cut
/// with torn writes leave: every acknowledged commit is there, or a later one of its partition.
@Suite("Committed offsets: crash at every file operation")
struct OffsetCrashTests {
    static let directory = "/sim/data/__consumer_offsets"

    static func key(_ partition: Int32) -> OffsetStore.Key { OffsetStore.Key(group: "g", topic: "orders", partition: partition) }

    /// Commits rounds of offsets for three partitions (compacting halfway) until the file
    /// system crashes; returns the last acknowledged offset per partition.
    static func run(on fileSystem: SimulatedFileSystem) async -> [Int32: Int64] {
        var acknowledged: [Int32: Int64] = [:]
        guard let store = try? await OffsetStore.open(directory: directory, flushPolicy: .always, segmentBytes: 600, fileSystem: fileSystem) else {
            return acknowledged
        }
        for round in Int64(0)..<12 {
            let partition = Int32(round % 3)
            let committed = OffsetStore.Committed(offset: round * 10, leaderEpoch: -1, metadata: nil, commitTimestamp: 0)
            do { try await store.store([(key(partition), committed)]) } catch { return acknowledged }
            acknowledged[partition] = round * 10
            if round == 7 { _ = try? await store.compact() }
        }
        _ = try? await store.compact()
        return acknowledged
    }

    static func freshFileSystem() -> SimulatedFileSystem {
        let fileSystem = SimulatedFileSystem()
        try! fileSystem.createDirectoryDurably("/sim/data")
        return fileSystem
    }

    @Test func noAcknowledgedCommitIsLost() async throws {
        let complete = Self.freshFileSystem()
        let base = complete.operationCount
        #expect(await Self.run(on: complete) == [0: 90, 1: 100, 2: 110])
        let operations = complete.operationCount - base
        for crashAt in 1...operations {
            let fileSystem = Self.freshFileSystem()
            fileSystem.crashAtOperation = fileSystem.operationCount + crashAt
            let acknowledged = await Self.run(on: fileSystem)
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let reopened = try await OffsetStore.open(directory: Self.directory, flushPolicy: .always, segmentBytes: 600,
                                                          fileSystem: fileSystem.crashImage(kind))
                let committed = reopened.fetch(group: "g")
                for (partition, offset) in acknowledged {
                    let found = committed[Self.key(partition)]?.offset
                    #expect(found.map { $0 >= offset } == true, "crash at \(crashAt), \(kind): partition \(partition) committed \(offset), found \(found.map(String.init) ?? "nothing")")
                }
                try await reopened.close()
            }
        }
    }
}
