import Testing
import SteleLog
import SteleLogTesting
@testable import Stele

/// A reactor's checkpoint file crashed at every file operation of a run of saves, then read
/// back from what a process crash, a power cut and a power cut with torn writes leave: it is
/// the last checkpoint saved, or the one being saved, never older, empty or torn.
@Suite("Checkpoints: crash at every file operation")
struct CheckpointCrashTests {
    static let directory = "/sim/checkpoints"

    static func position(_ offset: Int64) -> CategoryCheckpoint {
        var position = CategoryCheckpoint()
        position.nextOffsets[0] = offset
        position.nextOffsets[1] = offset * 2
        return position
    }

    /// Saves positions 1…20 until the file system crashes; returns the last saved one.
    static func run(on fileSystem: SimulatedFileSystem) async -> Int64? {
        guard let store = try? FileCheckpointStore(directory: directory, fileSystem: fileSystem) else { return nil }
        var saved: Int64?
        for offset in Int64(1)...20 {
            do { try await store.save(position(offset), for: "fraud-detector") } catch { break }
            saved = offset
        }
        return saved
    }

    static func freshFileSystem() -> SimulatedFileSystem {
        let fileSystem = SimulatedFileSystem()
        try! fileSystem.createDirectoryDurably(directory)
        return fileSystem
    }

    @Test func aCheckpointIsNeverLostOrTorn() async throws {
        let complete = Self.freshFileSystem()
        let base = complete.operationCount
        #expect(await Self.run(on: complete) == 20)
        let operations = complete.operationCount - base
        for crashAt in 1...operations {
            let fileSystem = Self.freshFileSystem()
            fileSystem.crashAtOperation = fileSystem.operationCount + crashAt
            let saved = await Self.run(on: fileSystem)
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let store = try FileCheckpointStore(directory: Self.directory, fileSystem: fileSystem.crashImage(kind))
                let loaded = try await store.load("fraud-detector")
                let acceptable = [saved, saved.map { $0 + 1 } ?? 1].compactMap { $0 }.map(Self.position)
                if let loaded {
                    #expect(acceptable.contains(loaded), "crash at \(crashAt), \(kind): \(loaded) after saving \(saved.map(String.init) ?? "nothing")")
                } else {
                    #expect(saved == nil, "crash at \(crashAt), \(kind): the checkpoint of \(saved!) was lost")
                }
            }
        }
    }
}
