import ArgumentParser
import SteleCore
import SteleLog

/// `stele log dump|verify`: inspect partition directories, preferably on a copy.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Inspect partition logs on disk (run it on a copy of a data directory).",
        subcommands: [Dump.self, Verify.self]
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

/// Segment files of a directory, or the single file given.
func segmentPaths(_ path: String) throws -> [String] {
    if path.hasSuffix(".log") { return [path] }
    let segments = try LogInspector.segmentFiles(in: path)
    guard !segments.isEmpty else { throw ValidationError("no segment files (NNNNNNNNNNNNNNNNNNNN.log) in \(path)") }
    return segments
}
