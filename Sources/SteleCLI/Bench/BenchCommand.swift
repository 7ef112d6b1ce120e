import ArgumentParser
import Foundation
import SteleLog

/// `stele bench log`: storage-engine benchmarks, each next to a reference measured in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print a table next to a reference measured in the same run.",
        subcommands: [LogBench.self, KafkaBench.self, TLSBench.self, LegacyBench.self, StoreBenchCommand.self, ViewBenchCommand.self, WindowBenchCommand.self, PatternBenchCommand.self, ProcessorLatencyBenchCommand.self]
    )
}

struct LogBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Append, read, stream-read and recovery throughput of the partition log.")

    @Option(help: "Scratch directory (on the disk to measure); removed afterwards.")
    var directory = "./stele-bench"

    @Option(help: "Seconds per append case.")
    var seconds = 1.5

    @Option(help: "Partition sizes (records) for the stream-read benchmark, comma separated.")
    var streamPartitions = "1000000,10000000"

    @Option(help: "Bytes of the log for the sequential read benchmark.")
    var readBytes = 512 << 20

    @Option(help: "Bytes of the active segment for the recovery benchmark.")
    var recoveryBytes = 1 << 30

    @Option(help: "Which parts to run: append,read,stream,recovery.")
    var only = "append,read,stream,recovery"

    func run() async throws {
        let parts = Set(only.split(separator: ",").map(String.init))
        let root = directory + "/run-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        print("stele bench log — \(ProcessInfo.processInfo.activeProcessorCount) cores, scratch \(root)")
        print("CRC32C: \(SteleCoreInfo.crcDescription)")
        if parts.contains("append") { try await AppendBench(root: root, seconds: seconds).run() }
        if parts.contains("read") { try await ReadBench(root: root, totalBytes: readBytes).run() }
        if parts.contains("stream") {
            let sizes = streamPartitions.split(separator: ",").compactMap { Int($0) }
            try await StreamBench(root: root, partitionSizes: sizes).run()
        }
        if parts.contains("recovery") { try await RecoveryBench(root: root, bytes: recoveryBytes).run() }
    }
}

/// Prints aligned rows.
struct Table {
    let columns: [String]
    private var rows: [[String]] = []

    init(_ columns: [String]) { self.columns = columns }

    mutating func add(_ row: [String]) {
        rows.append(row)
        // Print as we go, so long runs show progress.
        print(format(row))
    }

    func header() {
        print(format(columns))
        print(format(columns.map { String(repeating: "-", count: max(3, $0.count)) }))
    }

    private func format(_ row: [String]) -> String {
        "| " + zip(row, columns).map { $0.0.padding(toLength: max($0.1.count, $0.0.count, 7), withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
    }
}

func formatRate(_ value: Double) -> String {
    switch value {
    case 1e6...: String(format: "%.2fM", value / 1e6)
    case 1e3...: String(format: "%.1fk", value / 1e3)
    default: String(format: "%.0f", value)
    }
}

func megabytes(_ bytesPerSecond: Double) -> String { String(format: "%.1f", bytesPerSecond / 1e6) }

func elapsedSeconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

