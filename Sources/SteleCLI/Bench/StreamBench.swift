import Foundation
import SteleCore
import SteleLog

/// Reads of one ~1,000-record stream through the key index, in partitions of increasing size
/// where every stream is spread evenly over the whole partition (the worst case: each stream
/// has records in every segment). The cost should not grow with the partition.
struct StreamBench {
    let root: String
    let partitionSizes: [Int]
    static let streamLength = 1000
    static let samples = Int(ProcessInfo.processInfo.environment["STELE_BENCH_STREAM_SAMPLES"] ?? "") ?? 300

    func run() async throws {
        print("\n## Stream read through the key index (\(Self.streamLength)-record streams, 100 B values)")
        var table = Table(["partition records", "segments", "build s", "p50 ms", "p99 ms", "reads/s (1 reader)"])
        table.header()
        for size in partitionSizes {
            let path = root + "/streams-\(size)"
            let (log, buildSeconds) = try await build(path: path, records: size)
            let streams = size / Self.streamLength
            var generator = SystemRandomNumberGenerator()
            var latencies: [Double] = []
            // Warm-up: the first read of a segment maps and checks its key index once.
            for _ in 0..<20 { _ = try await log.readStream(key: Self.key(Int.random(in: 0..<streams, using: &generator))) }
            let start = ContinuousClock.now
            for _ in 0..<Self.samples {
                let key = Self.key(Int.random(in: 0..<streams, using: &generator))
                let began = ContinuousClock.now
                let records = try await log.readStream(key: key)
                latencies.append(elapsedSeconds(since: began) * 1000)
                precondition(records.count == Self.streamLength, "stream has \(records.count) records")
            }
            let total = elapsedSeconds(since: start)
            latencies.sort()
            table.add(["\(size)", "\(log.segmentBaseOffsets.count)", String(format: "%.1f", buildSeconds),
                       String(format: "%.3f", latencies[latencies.count / 2]), String(format: "%.3f", latencies[latencies.count * 99 / 100]),
                       String(format: "%.0f", Double(Self.samples) / total)])
            try await log.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    static func key(_ stream: Int) -> [UInt8] { Array("stream-\(stream)".utf8) }

    /// Every block of `streams` consecutive records holds each stream once, in a shuffled order.
    private func build(path: String, records: Int) async throws -> (PartitionLog, Double) {
        var config = LogConfig()
        config.flushPolicy = .os
        let log = try await PartitionLog.open(directory: path, config: config)
        let streams = records / Self.streamLength
        let keys = (0..<streams).map(Self.key)
        let value = [UInt8](repeating: 0x62, count: 100)
        var generator = SplitMix64(seed: 42)
        var order = Array(0..<streams)
        var pending: [UInt8]? = nil
        let start = ContinuousClock.now
        var builder = RecordBatchBuilder(baseTimestamp: wallClockMilliseconds())
        for round in 0..<Self.streamLength {
            order.shuffle(using: &generator)
            for stream in order {
                builder.append(key: keys[stream], value: value)
                if builder.records.count == 1000 {
                    if let pending { _ = try await log.append(pending) }
                    pending = builder.build()
                    builder = RecordBatchBuilder(baseTimestamp: wallClockMilliseconds())
                }
            }
            _ = round
        }
        if let pending { _ = try await log.append(pending) }
        if !builder.isEmpty { _ = try await log.append(builder.build()) }
        try await log.flush()
        return (log, elapsedSeconds(since: start))
    }
}

