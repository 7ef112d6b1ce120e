import Foundation
import SteleCore
import SteleLog

/// Sequential read of a whole log through `PartitionLog.read` (which checks every batch CRC)
/// against `pread` of the same segment files, both from a warm page cache.
struct ReadBench {
    let root: String
    let totalBytes: Int

    func run() async throws {
        print("\n## Sequential read (\(totalBytes >> 20) MiB of 1 KiB records in batches of 100, page cache warm)")
        let path = root + "/read"
        var config = LogConfig()
        config.flushPolicy = .os
        config.segmentBytes = 256 << 20
        let log = try await PartitionLog.open(directory: path, config: config)
        let batch = AppendBench.batch(records: 100, valueBytes: 1024)
        for _ in 0..<(totalBytes / batch.count) { _ = try await log.append(batch) }
        try await log.close()
        let segments = try LogInspector.segmentFiles(in: path)

        var table = Table(["reader", "MB/s", "ratio"])
        table.header()
        _ = PlainFile.readBandwidth(paths: segments) // warm the cache
        let plain = (0..<3).map { _ in PlainFile.readBandwidth(paths: segments) }.max()!
        let plainChecked = (0..<3).map { _ in PlainFile.readBandwidth(paths: segments, checksum: true) }.max()!
        let reopened = try await PartitionLog.open(directory: path, config: config)
        var best = 0.0
        for _ in 0..<3 { best = max(best, try await readAll(reopened)) }
        try await reopened.close()
        table.add(["plain pread, 1 MiB", megabytes(plain), "1.00"])
        table.add(["plain pread + CRC32C, 1 MiB", megabytes(plainChecked), String(format: "%.2f", plainChecked / plain)])
        table.add(["PartitionLog.read, 1 MiB (CRC of every batch)", megabytes(best), String(format: "%.2f", best / plain)])
        print(String(format: "PartitionLog.read / (plain pread + CRC32C) = %.2f", best / plainChecked))
        try? FileManager.default.removeItem(atPath: path)
    }

    private func readAll(_ log: PartitionLog) async throws -> Double {
        var offset: Int64 = 0
        var bytes = 0
        let start = ContinuousClock.now
        while offset < log.highWatermark {
            let result = try await log.read(from: offset, maxBytes: 1 << 20)
            bytes += result.batches.count
            offset = try Self.nextOffset(after: result.batches)
        }
        return Double(bytes) / elapsedSeconds(since: start)
    }

    /// The offset after the last batch of a read.
    static func nextOffset(after batches: [UInt8]) throws -> Int64 {
        var position = 0
        var next: Int64 = 0
        while position < batches.count {
            let header = try RecordBatchHeader(parsing: Array(batches[position..<(position + RecordBatchHeader.size)]))
            next = header.nextOffset
            position += header.totalSize
        }
        return next
    }
}
