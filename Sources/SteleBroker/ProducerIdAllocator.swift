import Foundation
import Synchronization

/// Hands out producer ids that are unique across restarts: ids are reserved in blocks, and the
/// end of the reserved block is made durable before any id in it is given out, so a restart
/// (even after SIGKILL) continues after the whole block. A missing or damaged file never
/// restarts the ids at 0: the broker raises the floor above every producer id retained in its
/// partitions (``raise(atLeast:)``) before the first id is given out.
public final class ProducerIdAllocator: Sendable {
    /// Ids reserved per durable write.
    static let blockSize: Int64 = 1000
    private let path: String
    private let state: Mutex<(next: Int64, reservedEnd: Int64)>

    /// What the file said, or why it could not be used (the floor then comes from the logs).
    public let problem: String?

    init(path: String) throws {
        self.path = path
        var problem: String?
        var stored: Int64 = 0
        if FileManager.default.fileExists(atPath: path) {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let value = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)), value >= 0,
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
                try Broker.writeDurably(Data("\(end)\n".utf8), to: path)
                state.reservedEnd = end
            }
            defer { state.next += 1 }
            return state.next
        }
    }
}
