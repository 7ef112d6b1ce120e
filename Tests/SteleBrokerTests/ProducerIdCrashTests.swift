import Testing
@testable import SteleBroker
import SteleLog
import SteleLogTesting

/// Producer-id reservation crashed at every file operation, then restarted from what a process
/// crash, a power cut and a power cut with torn writes leave: no id handed out before the crash
/// is ever handed out again.
@Suite("Producer ids: crash at every file operation")
struct ProducerIdCrashTests {
    static let path = "/sim/data/producer-ids"

    /// Hands out ids until the file system crashes; returns them.
    static func run(on fileSystem: SimulatedFileSystem) -> [Int64] {
        var handedOut: [Int64] = []
        guard let allocator = try? ProducerIdAllocator(path: path, fileSystem: fileSystem) else { return handedOut }
        for _ in 0..<3_500 {
            guard let id = try? allocator.next() else { break }
            handedOut.append(id)
        }
        return handedOut
    }

    static func freshFileSystem() -> SimulatedFileSystem {
        let fileSystem = SimulatedFileSystem()
        try! fileSystem.createDirectoryDurably("/sim/data")
        return fileSystem
    }

    @Test func noIdIsHandedOutTwiceAfterACrashAnywhere() throws {
        let complete = Self.freshFileSystem()
        let all = Self.run(on: complete)
        #expect(all == Array(0..<3_500))
        let operations = complete.operationCount
        #expect(operations >= 16, "four reservations, each a write, a sync, a rename and a directory sync")
        for crashAt in 1...operations {
            let fileSystem = Self.freshFileSystem()
            fileSystem.crashAtOperation = crashAt + fileSystem.operationCount
            let handedOut = Self.run(on: fileSystem)
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let restarted = try ProducerIdAllocator(path: Self.path, fileSystem: fileSystem.crashImage(kind))
                #expect(restarted.problem == nil, "crash at \(crashAt), \(kind): the file is old or new, never damaged")
                let next = try restarted.next()
                #expect(next > handedOut.last ?? -1, "crash at \(crashAt), \(kind): \(next) was handed out before")
            }
        }
    }
}
