import Foundation
import Synchronization

/// Hands out producer ids that are unique across restarts: ids are reserved in blocks, and the
/// end of the reserved block is made durable before any id in it is given out, so a restart
/// (even after SIGKILL) continues after the whole block.
public final class ProducerIdAllocator: Sendable {
    /// Ids reserved per durable write.
    static let blockSize: Int64 = 1000
    private let path: String
    private let state: Mutex<(next: Int64, reservedEnd: Int64)>

    init(path: String) throws {
        self.path = path
        let stored = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        state = Mutex((stored, stored))
    }

    public func next() throws -> Int64 {
        try state.withLock { state in
            if state.next >= state.reservedEnd {
                let end = state.next + Self.blockSize
                try Broker.writeDurably(Data("\(end)\n".utf8), to: path)
                state.reservedEnd = end
            }
            defer { state.next += 1 }
            return state.next
        }
    }
}
