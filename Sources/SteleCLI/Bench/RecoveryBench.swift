import Foundation
import SteleLog

/// Time to open a log whose active segment holds `bytes` after a crash (the log was never
/// closed and ends in a torn batch), so recovery scans, checks and indexes all of it.
struct RecoveryBench {
    let root: String
    let bytes: Int

    func run() async throws {
        print("\n## Recovery after a crash (active segment of \(bytes >> 20) MiB, 1 KiB records in batches of 100, torn tail)")
        let path = root + "/recovery"
        var config = LogConfig()
        config.flushPolicy = .os
        config.segmentBytes = Int(Int32.max)
        config.maxKeyIndexEntries = Int.max
        do {
            let log = try await PartitionLog.open(directory: path, config: config)
            let batch = AppendBench.batch(records: 100, valueBytes: 1024)
            for _ in 0..<(bytes / batch.count) { _ = try await log.append(batch) }
            try await log.flush()
            // No close: the process "dies" here; then a torn half batch lands at the end.
            let segment = try LogInspector.segmentFiles(in: path).last!
            let handle = FileHandle(forWritingAtPath: segment)!
            handle.seekToEndOfFile()
            handle.write(Data(batch.prefix(batch.count / 2)))
            handle.closeFile()
        }
        var table = Table(["segment MiB", "open s", "s per GiB", "truncated B"])
        table.header()
        let start = ContinuousClock.now
        let log = try await PartitionLog.open(directory: path, config: config)
        let elapsed = elapsedSeconds(since: start)
        let gib = Double(log.recoveryReport.scannedBytes) / Double(1 << 30)
        table.add(["\(log.recoveryReport.scannedBytes >> 20)", String(format: "%.2f", elapsed), String(format: "%.2f", elapsed / gib),
                   "\(log.recoveryReport.truncatedBytes)"])
        try await log.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}
