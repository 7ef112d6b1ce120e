import ArgumentParser
import Foundation
import NIOCore
import SteleCore
import SteleKafkaProtocol
#if canImport(Glibc)
import Glibc
#endif

/// `stele bench kafka`: produce and fetch throughput over the Kafka protocol on loopback,
/// end-to-end latency at a fixed rate, and the broker's memory — against a broker this command
/// starts (`stele serve`, a separate process) for each flush policy.
struct KafkaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Produce/fetch throughput, end-to-end latency and RSS of stele serve over loopback.")

    @Option(help: "Seconds per produce case.")
    var seconds = 3.0

    @Option(help: "Connections producing at once.")
    var connections = 8

    @Option(help: "Records per produce request (one batch, as librdkafka batches).")
    var batchRecords = 100

    @Option(help: "Flush policies to measure, comma separated.")
    var flush = "always,os"

    @Option(help: "Records per second for the latency run.")
    var latencyRate = 10_000

    @Option(help: "Scratch directory for the broker's data.")
    var directory = "./stele-bench"

    func run() async throws {
        print("stele bench kafka — \(ProcessInfo.processInfo.activeProcessorCount) cores, \(connections) producer connections, batches of \(batchRecords) records, acks=all")
        var table = Table(["flush", "record", "records/s", "MB/s", "fetch MB/s", "e2e p50 ms", "e2e p99 ms", "broker RSS MB"])
        table.header()
        for policy in flush.split(separator: ",").map(String.init) {
            let broker = try BrokerProcess(directory: directory + "/kafka-\(policy)-\(getpid())", flush: policy)
            defer { broker.stop() }
            for recordBytes in [100, 1024] {
                let topic = "bench-\(recordBytes)"
                let produced = try await produce(port: broker.port, topic: topic, recordBytes: recordBytes)
                let fetched = try await fetchAll(port: broker.port, topic: topic)
                let latency = recordBytes == 100 ? try await endToEnd(port: broker.port, topic: "latency-\(policy)") : nil
                table.add([policy, "\(recordBytes) B", formatRate(produced.records), megabytes(produced.bytes), megabytes(fetched),
                           latency.map { String(format: "%.2f", $0.p50) } ?? "-", latency.map { String(format: "%.2f", $0.p99) } ?? "-",
                           String(format: "%.0f", broker.peakRSSMegabytes)])
            }
        }
        print("records/s and MB/s: acknowledged produce (acks=all) of batches of \(batchRecords); fetch: one consumer reading the topic from offset 0 in 1 MiB fetches")
        print("e2e: a record's send time to its arrival at a long-polling consumer, \(latencyRate) records/s in batches of 10; RSS: the broker's peak (VmHWM)")
    }

    private func batch(records: Int, valueBytes: Int, headers: [RecordHeader] = []) -> ByteBuffer {
        var builder = RecordBatchBuilder(baseTimestamp: wallClockNow())
        let value = [UInt8](repeating: 0x61, count: valueBytes)
        for index in 0..<records { builder.append(key: Array("key-\(index % 64)".utf8), value: value, headers: headers) }
        return ByteBuffer(bytes: builder.build())
    }

    private func produce(port: Int, topic: String, recordBytes: Int) async throws -> (records: Double, bytes: Double) {
        let payload = batch(records: batchRecords, valueBytes: recordBytes)
        let (sent, elapsed) = try await BenchLoops.produce(connections: connections, seconds: seconds,
                                                           open: { try await KafkaConnection(host: "127.0.0.1", port: port) },
                                                           send: { try await BenchLoops.produceBatch($0, topic: topic, batch: payload) })
        return (Double(sent * batchRecords) / elapsed, Double(sent * payload.readableBytes) / elapsed)
    }

    private func fetchAll(port: Int, topic: String) async throws -> Double {
        let connection = try await KafkaConnection(host: "127.0.0.1", port: port)
        defer { Task { await connection.close() } }
        return try await BenchLoops.readAll { offset in
            let (records, highWatermark) = try await connection.fetch(topic: topic, partition: 0, offset: offset, maxBytes: 1 << 20)
            let next = records.readableBytes > 0 ? try ReadBench.nextOffset(after: Array(records.readableBytesView)) : offset
            return (records.readableBytes, next, highWatermark)
        }.bytes
    }

    /// Sends `latencyRate` records/s (batches of 10 every 1/100 of the rate) for 3 s while a
    /// consumer long-polls; each record carries its send time (monotonic ns) in a header.
    private func endToEnd(port: Int, topic: String) async throws -> (p50: Double, p99: Double) {
        let perBatch = 10
        let interval = Duration.nanoseconds(1_000_000_000 * perBatch / latencyRate)
        let total = latencyRate * 3
        let producers = try await (0..<4).asyncMap { _ in try await KafkaConnection(host: "127.0.0.1", port: port) }
        let consumer = try await KafkaConnection(host: "127.0.0.1", port: port)
        _ = try await producers[0].produce(topic: topic, partition: 0, batch: batch(records: 1, valueBytes: 100)) // create the topic
        let consumerTask = Task { () -> [Double] in
            var latencies: [Double] = []
            var offset: Int64 = 1
            while latencies.count < total {
                let (records, _) = try await consumer.fetch(topic: topic, partition: 0, offset: offset, maxBytes: 1 << 20, maxWaitMs: 500, minBytes: 1)
                let arrived = monotonicNanoseconds()
                let bytes = Array(records.readableBytesView)
                var position = 0
                while position < bytes.count {
                    let header = try RecordBatchHeader(parsing: Array(bytes[position...]))
                    for record in try RecordBatch.records(of: Array(bytes[position..<(position + header.totalSize)])) {
                        if let sent = record.headers.first?.value.flatMap({ UInt64(String(decoding: $0, as: UTF8.self)) }), header.baseOffset + Int64(record.offsetDelta) >= offset {
                            latencies.append(Double(arrived &- sent) / 1e6)
                        }
                    }
                    offset = header.nextOffset
                    position += header.totalSize
                }
            }
            return latencies
        }
        // Paced sends, spread round-robin over the producer connections so a slow sync on one
        // does not hold the schedule.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, producer) in producers.enumerated() {
                group.addTask {
                    let start = ContinuousClock.now
                    var sequence = index
                    while sequence * perBatch < total {
                        try await Task.sleep(until: start + interval * sequence, clock: .continuous)
                        let payload = batch(records: perBatch, valueBytes: 100, headers: [RecordHeader(key: "sent", value: Array("\(monotonicNanoseconds())".utf8))])
                        _ = try await producer.produce(topic: topic, partition: 0, batch: payload)
                        sequence += producers.count
                    }
                }
            }
            try await group.waitForAll()
        }
        var latencies = try await consumerTask.value
        for producer in producers { await producer.close() }
        await consumer.close()
        latencies.sort()
        return (latencies[latencies.count / 2], latencies[latencies.count * 99 / 100])
    }
}

/// A `stele serve` child process on a free port.
final class BrokerProcess {
    let process = Process()
    let port: Int
    let directory: String

    /// The port of each listener, by security protocol (`PLAINTEXT`, `SASL_SSL`…).
    let ports: [String: Int]

    /// Starts `stele serve` on a fresh `directory`; `arguments` add to or replace the defaults
    /// (one PLAINTEXT listener on a free port), and `keep` leaves files made beforehand (users).
    init(directory: String, flush: String, arguments: [String] = [], keep: Bool = false) throws {
        self.directory = directory
        if !keep { try? FileManager.default.removeItem(atPath: directory) }
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let log = Pipe()
        process.standardError = log
        process.environment = ProcessInfo.processInfo.environment
        // The ports are in the startup log lines at level info; run at info to read them.
        process.arguments = ["serve", "--data-dir", directory, "--kafka-port", "0", "--http-port", "0", "--flush", flush] + arguments
        try process.run()
        var text = ""
        let handle = log.fileHandleForReading
        let listeners = arguments.firstIndex(of: "--listeners").map { arguments[$0 + 1].split(separator: ",").count } ?? 1
        while text.components(separatedBy: "serving the Kafka protocol").count - 1 < listeners {
            let chunk = handle.availableData
            guard !chunk.isEmpty else { throw ValidationError("the broker exited: \(text)") }
            text += String(decoding: chunk, as: UTF8.self)
        }
        var ports: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.contains("serving the Kafka protocol") {
            guard let range = line.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                  let port = Int(line[range].split(separator: ":").last!) else { continue }
            let name = line.range(of: #"protocol=[A-Z_]+"#, options: .regularExpression).map { String(line[$0].dropFirst("protocol=".count)) } ?? "PLAINTEXT"
            ports[name] = port
        }
        guard let first = ports["PLAINTEXT"] ?? ports.values.first else { throw ValidationError("no port in: \(text)") }
        self.port = first
        self.ports = ports
        // Keep draining the log so the broker never blocks on a full pipe.
        handle.readabilityHandler = { _ = $0.availableData }
    }

    var peakRSSMegabytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
        return kilobytes / 1024
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func wallClockNow() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1000)
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
