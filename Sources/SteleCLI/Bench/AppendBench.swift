import Foundation
import SteleCore
import SteleLog

/// Append throughput for every combination the storage issue names, each row next to a plain
/// file written with the same chunk size (with fdatasync per chunk for `always`, without for `os`).
struct AppendBench {
    let root: String
    let seconds: Double

    struct Case {
        var recordBytes: Int
        var batchRecords: Int
        var policy: FlushPolicy
        var appenders: Int
    }

    func run() async throws {
        print("\n## Append throughput (\(seconds) s per case)")
        var table = Table(["record", "batch", "flush", "appenders", "records/s", "MB/s", "plain MB/s", "ratio"])
        table.header()
        var references: [String: Double] = [:]
        for recordBytes in [100, 1024] {
            for batchRecords in [1, 100, 1000] {
                let batch = Self.batch(records: batchRecords, valueBytes: recordBytes)
                for policy in [FlushPolicy.always, .os] {
                    let key = "\(batch.count)-\(policy)"
                    if references[key] == nil {
                        references[key] = PlainFile.writeBandwidth(path: root + "/plain", chunk: batch.count, sync: policy == .always, seconds: seconds)
                    }
                    for appenders in [1, 32] {
                        let rate = try await measure(Case(recordBytes: recordBytes, batchRecords: batchRecords, policy: policy, appenders: appenders), batch: batch)
                        let bytesPerSecond = rate * Double(batch.count)
                        let reference = references[key]!
                        table.add(["\(recordBytes) B", "\(batchRecords)", "\(policy)", "\(appenders)",
                                   formatRate(rate * Double(batchRecords)), megabytes(bytesPerSecond), megabytes(reference),
                                   String(format: "%.2f", bytesPerSecond / reference)])
                    }
                }
            }
        }
        print("plain MB/s: one writer, write + fdatasync per chunk (flush=always rows) or write only (flush=os rows), chunk = one batch")
    }

    /// A batch of `records` records whose value is `valueBytes` long (the "record size").
    static func batch(records: Int, valueBytes: Int) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: wallClockMilliseconds())
        let value = [UInt8](repeating: 0x61, count: valueBytes)
        for index in 0..<records { builder.append(key: Array("key-\(index % 64)".utf8), value: value) }
        return builder.build()
    }

    /// Batches appended per second.
    private func measure(_ benchCase: Case, batch: [UInt8]) async throws -> Double {
        let path = root + "/append-\(benchCase.recordBytes)-\(benchCase.batchRecords)-\(benchCase.appenders)"
        var config = LogConfig()
        config.flushPolicy = benchCase.policy
        let log = try await PartitionLog.open(directory: path, config: config)
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let start = ContinuousClock.now
        let count = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<benchCase.appenders {
                group.addTask {
                    var appended = 0
                    while ContinuousClock.now < deadline {
                        _ = try await log.append(batch)
                        appended += 1
                    }
                    return appended
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = elapsedSeconds(since: start)
        try await log.close()
        try? FileManager.default.removeItem(atPath: path)
        return Double(count) / elapsed
    }
}
