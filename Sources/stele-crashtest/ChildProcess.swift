import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs this executable again as a child, lets it work for a while and kills it with SIGKILL.
enum ChildProcess {
    /// The whole lines the child printed before it was killed (the kill may cut the last one).
    static func runAndKill(arguments: [String], afterMilliseconds lifetime: Int) throws -> [Substring] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        usleep(useconds_t(lifetime * 1000))
        kill(process.processIdentifier, SIGKILL)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 }
    }
}
