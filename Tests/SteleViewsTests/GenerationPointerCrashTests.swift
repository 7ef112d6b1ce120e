import Testing
import SteleLog
import SteleLogTesting
@testable import SteleViews

/// A view's `CURRENT` file crashed at every file operation of a run of rebuilds being promoted:
/// after a process crash, a power cut or a power cut with torn writes it names the generation
/// last promoted or the one being promoted, and always reads back.
@Suite("View CURRENT file: crash at every file operation")
struct GenerationPointerCrashTests {
    static let directory = "/sim/views/balances"

    static func run(on fileSystem: SimulatedFileSystem) -> Int {
        let pointer = GenerationPointer(directory: directory, fileSystem: fileSystem)
        var promoted = 1
        for generation in 2...8 {
            do { try pointer.set(generation) } catch { break }
            promoted = generation
        }
        return promoted
    }

    static func freshFileSystem() -> SimulatedFileSystem {
        let fileSystem = SimulatedFileSystem()
        try! fileSystem.createDirectoryDurably(directory)
        return fileSystem
    }

    @Test func currentNamesTheOldOrTheNewGeneration() throws {
        let complete = Self.freshFileSystem()
        let base = complete.operationCount
        #expect(Self.run(on: complete) == 8)
        let operations = complete.operationCount - base
        for crashAt in 1...operations {
            let fileSystem = Self.freshFileSystem()
            fileSystem.crashAtOperation = fileSystem.operationCount + crashAt
            let promoted = Self.run(on: fileSystem)
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let current = try GenerationPointer(directory: Self.directory, fileSystem: fileSystem.crashImage(kind)).current()
                #expect(current == promoted || current == promoted + 1, "crash at \(crashAt), \(kind): CURRENT says \(current) after promoting \(promoted)")
            }
        }
    }
}
