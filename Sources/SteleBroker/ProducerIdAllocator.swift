import Foundation
import Synchronization
import SteleLog

/// Hands out producer ids that are unique across restarts: ids are reserved in blocks, and the
/// end of the reserved block is made durable before any id in it is given out, so a restart
/// (even after SIGKILL) continues after the whole block. A missing or damaged file never
/// restarts the ids at 0: the broker raises the floor above every producer id retained in its
/// partitions (``raise(atLeast:)``) before the first id is given out.
public final class ProducerIdAllocator: Sendable {
    /// Ids reserved per durable write.
    static let blockSize: Int64 = 1000
    private let path: String
    private let fileSystem: any FileSystem
    private let state: Mutex<(next: Int64, reservedEnd: Int64)>

    /// What the file said, or why it could not be used (the floor then comes from the logs).
    public let problem: String?

    /// Reads the reservation in `path` through `fileSystem` (the simulated one in crash tests).
    init(path: String, fileSystem: any FileSystem = POSIXFileSystem()) throws {
        self.path = path
        self.fileSystem = fileSystem
        var problem: String?
        var stored: Int64 = 0
        if fileSystem.fileExists(path) {
            if let bytes = try? fileSystem.readFile(path),
               let value = Int64(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), value >= 0,
               value <= Int64.max - Self.blockSize {
                stored = value
            } else {
                problem = "\(path) is damaged; producer ids continue above every id retained in the partitions"
            }
        }
        self.problem = problem
        state = Mutex((stored, stored))
    }

    /// Never hands out an id below `floor` (one past the highest id found in the logs).
    func raise(atLeast floor: Int64) {
        state.withLock { state in
            if state.next < floor { state.next = floor }
        }
    }

    public func next() throws -> Int64 {
        try state.withLock { state in
            if state.next >= state.reservedEnd {
                guard state.next <= Int64.max - Self.blockSize else { throw BrokerError.storage("producer ids are exhausted") }
                let end = state.next + Self.blockSize
                do {
                    try fileSystem.writeFileDurably(path, contents: Array("\(end)\n".utf8))
                } catch {
                    throw BrokerError.storage("reserving producer ids in \(path): \(error)")
                }
                state.reservedEnd = end
            }
            defer { state.next += 1 }
            return state.next
        }
    }
}
