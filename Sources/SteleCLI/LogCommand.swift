import ArgumentParser
import Foundation
import SteleCore
import SteleLog
import SteleBroker

/// `stele log dump|verify`: inspect partition directories, preferably on a copy.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Inspect partition logs on disk (run it on a copy of a data directory).",
        subcommands: [Dump.self, Verify.self, Repair.self]
    )

    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print batches and records of a partition directory or a segment file.")

        @Argument(help: "A partition directory or a .log segment file.")
        var path: String

        @Option(help: "Characters of each value to print before abbreviating.")
        var valueChars = 60

        @Flag(help: "Print batch headers only.")
        var batchesOnly = false

        func run() throws {
            var damaged = false
            for segment in try segmentPaths(path) {
                print("segment \(segment)")
                let corruptions = try LogInspector.scanSegment(segment) { position, batch, header in
                    print(RecordPrinter.describe(header, position: position))
                    guard !batchesOnly else { return }
                    for line in RecordPrinter.describeRecords(batch, header: header, valueChars: valueChars) { print("  " + line) }
                }
                for corruption in corruptions {
                    damaged = true
                    print("DAMAGE \(corruption)")
                }
            }
            if damaged { throw ExitCode(2) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every batch CRC and every index file; exit 1 at the first damage, naming file and position.")

        @Argument(help: "A partition directory.")
        var path: String

        func run() throws {
            let report = try LogVerifier.verify(directory: path)
            print("segments \(report.segments), batches \(report.batches), records \(report.records), bytes \(report.bytes)")
            for problem in report.indexProblems { print("index: \(problem) (rebuilt when the log is opened)") }
            if let first = report.corruptions.first {
                print("FAILED: \(first)")
                if report.corruptions.count > 1 { print("(\(report.corruptions.count - 1) more damaged places)") }
                throw ExitCode.failure
            }
            print("OK: every batch checks out")
        }
    }
}

extension LogCommand {
    /// `stele log repair DIR`: brings back a partition that refused to open because of damage
    /// below its recovery point. Writes, so the server must be stopped (the data directory's
    /// lock is taken when DIR is inside one).
    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set aside the damaged end of a partition that refuses to open, and let it go on without reusing an offset.",
            discussion: "The damaged bytes and what follows them are moved to NNN.log.damaged-POSITION beside the segment (never deleted); the lost offsets are printed. Stop the server first.")

        @Argument(help: "A partition directory (DATA/topics/TOPIC/PARTITION).")
        var path: String

        func run() async throws {
            // DATA/topics/TOPIC/PARTITION, however spelled (a trailing slash, ./, a symlink):
            // hold DATA's lock while writing, as the server does, or do nothing.
            let resolved = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath()
            let topics = resolved.deletingLastPathComponent().deletingLastPathComponent()
            guard topics.lastPathComponent == "topics" else {
                print("cannot repair: \(resolved.path) is not a partition directory of a data directory (DATA/topics/TOPIC/PARTITION)")
                throw ExitCode.failure
            }
            let lock: DataDirectoryLock
            do { lock = try DataDirectoryLock.acquire(topics.deletingLastPathComponent().path) } catch {
                print("cannot repair: \(error)")
                throw ExitCode.failure
            }
            defer { lock.release() }
            let path = resolved.path
            // The topic's own log config: a mirror topic's partitions have gaps that are not damage.
            let topicFile = resolved.deletingLastPathComponent().appendingPathComponent("topic.json").path
            guard let data = FileManager.default.contents(atPath: topicFile), let topic = try? JSONDecoder().decode(TopicConfig.self, from: data),
                  let config = try? topic.logConfig(defaults: LogConfig()) else {
                // Without it a mirror's or a compacted topic's gaps would read as damage.
                print("cannot repair: \(topicFile) is missing or unreadable, so gaps between batches cannot be told from damage; restore it first")
                throw ExitCode.failure
            }
            guard let report = try await LogRepair.setAsideDamage(directory: path, config: config) else {
                print("nothing to repair: \(path) opens")
                return
            }
            print("REPAIRED: \(report)")
        }
    }
}

/// Segment files of a directory, or the single file given.
func segmentPaths(_ path: String) throws -> [String] {
    if path.hasSuffix(".log") { return [path] }
    let segments = try LogInspector.segmentFiles(in: path)
    guard !segments.isEmpty else { throw ValidationError("no segment files (NNNNNNNNNNNNNNNNNNNN.log) in \(path)") }
    return segments
}
