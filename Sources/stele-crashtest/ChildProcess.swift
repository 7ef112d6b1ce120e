import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs this executable again as a child, lets it work for a while and kills it with SIGKILL.
enum ChildProcess {
    /// When the child's lifetime starts counting.
    enum Clock {
        /// At spawn: the kill may land while the child starts, opens and recovers.
        case fromSpawn
        /// At the child's first line of output (its first acknowledgement, or `READY`): the
        /// kill lands in the work itself however long a slow or busy machine takes to start it.
        case fromFirstLine
    }

    /// Alternates the two clocks, so that kills land both during start-up and during the work.
    static func clock(forCycle cycle: Int) -> Clock {
        cycle % 2 == 1 ? .fromFirstLine : .fromSpawn
    }

    /// How long a child may print nothing before the parent gives up on it (a hang, not a slow
    /// machine). `STELE_TEST_STALL_SECONDS` overrides it.
    static let stallSeconds: Int = ProcessInfo.processInfo.environment["STELE_TEST_STALL_SECONDS"].flatMap { Int($0) } ?? 120

    /// The whole lines the child printed before it was killed (the kill may cut the last one).
    static func runAndKill(arguments: [String], afterMilliseconds lifetime: Int, clock: Clock) throws -> [Substring] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        let reader = OutputReader(output.fileHandleForReading)
        try process.run()
        reader.start()
        if clock == .fromFirstLine, !reader.waitForFirstLineOrEnd(seconds: stallSeconds) {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw ChildError(message: "the child printed nothing for \(stallSeconds) s: \(arguments.joined(separator: " "))")
        }
        usleep(useconds_t(lifetime * 1000))
        kill(process.processIdentifier, SIGKILL)
        let data = reader.waitForEnd()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 }
    }

    /// Collects a child's output on a thread of its own, so the parent can wait for its first
    /// line while the pipe keeps draining.
    private final class OutputReader: @unchecked Sendable {
        private let handle: FileHandle
        private let condition = NSCondition()
        private var data = Data()
        private var ended = false

        init(_ handle: FileHandle) { self.handle = handle }

        func start() {
            Thread.detachNewThread { [self] in
                while true {
                    let chunk = handle.availableData
                    condition.lock()
                    if chunk.isEmpty { ended = true } else { data.append(chunk) }
                    condition.broadcast()
                    condition.unlock()
                    if chunk.isEmpty { return }
                }
            }
        }

        /// True once a line arrived or the child closed its output; false after `seconds` of neither.
        func waitForFirstLineOrEnd(seconds: Int) -> Bool {
            let limit = Date(timeIntervalSinceNow: TimeInterval(seconds))
            condition.lock()
            defer { condition.unlock() }
            while !ended && !data.contains(UInt8(ascii: "\n")) {
                if !condition.wait(until: limit) { return ended || data.contains(UInt8(ascii: "\n")) }
            }
            return true
        }

        func waitForEnd() -> Data {
            condition.lock()
            defer { condition.unlock() }
            while !ended { condition.wait() }
            return data
        }
    }
}

struct ChildError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Tells the parent the child is about to do the work it should be killed in: a line of its own,
/// written at once, which starts the parent's kill clock.
func printReady() {
    let line = "READY\n"
    line.utf8CString.withUnsafeBufferPointer { _ = write(1, $0.baseAddress, $0.count - 1) }
}
