import ArgumentParser
import Foundation
import NIOCore
import SteleCore
#if canImport(Glibc)
import Glibc
#endif

/// `stele bench legacy`: what converting message formats v0 and v1 costs, measured against the
/// v2 path on the same broker in the same run: produce of the same records as Produce v7 (a v2
/// batch, stored as sent: the reference) and as Produce v2 (a message set converted to a v2
/// batch); and reads of the same partition with Fetch v11 (batches as stored: the reference),
/// Fetch v3 (converted to v1 messages) and Fetch v1 (v0 messages).
struct LegacyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "legacy",
        abstract: "Produce/fetch with message formats v0/v1 (converted) against v2 batches on one broker.")

    @Option(help: "Seconds per produce case.")
    var seconds = 3.0

    @Option(help: "Connections producing at once.")
    var connections = 8

    @Option(help: "Records per produce request.")
    var batchRecords = 100

    @Option(help: "Bytes per record value.")
    var recordBytes = 1024

    @Option(help: "Scratch directory for the broker's data.")
    var directory = "./stele-bench"

    func run() async throws {
        // flush=os: the conversion's CPU is what is measured, not the disk's fsync.
        let broker = try BrokerProcess(directory: directory + "/legacy-\(getpid())", flush: "os")
        defer { broker.stop() }
        let port = broker.port
        let value = [UInt8](repeating: 0x61, count: recordBytes)
        var builder = RecordBatchBuilder(baseTimestamp: wallClockNow())
        var messages: [LegacyMessageSet.Message] = []
        for index in 0..<batchRecords {
            let key = Array("key-\(index % 64)".utf8)
            builder.append(key: key, value: value)
            messages.append(.init(offset: Int64(index), timestamp: wallClockNow(), key: key, value: value))
        }
        let batch = ByteBuffer(bytes: builder.build())
        let messageSet = ByteBuffer(bytes: LegacyMessageSet.encode(messages, magic: 1))
        print("stele bench legacy — \(ProcessInfo.processInfo.activeProcessorCount) cores, \(connections) producer connections, "
            + "\(batchRecords) records of \(recordBytes) B per request, acks=all, flush=os")
        var table = Table(["case", "records/s", "MB/s", "× v2"])
        table.header()
        let open: @Sendable () async throws -> KafkaConnection = { try await KafkaConnection(host: "127.0.0.1", port: port) }
        let (modern, modernSeconds) = try await BenchLoops.produce(connections: connections, seconds: seconds, open: open) {
            try await BenchLoops.produceBatch($0, topic: "v2", batch: batch)
        }
        let (legacy, legacySeconds) = try await BenchLoops.produce(connections: connections, seconds: seconds, open: open) { connection in
            let error = try await connection.produceLegacy(version: 2, topic: "v1", partition: 0, messageSet: messageSet)
            guard error == 0 else { throw ValidationError("Produce v2 failed with error \(error)") }
        }
        let recordsPerSecond = (Double(modern * batchRecords) / modernSeconds, Double(legacy * batchRecords) / legacySeconds)
        let payload = Double(batchRecords * recordBytes)
        table.add(["Produce v7, v2 batch (reference)", formatRate(recordsPerSecond.0), megabytes(Double(modern) * payload / modernSeconds), "1.00"])
        table.add(["Produce v2, v1 messages converted", formatRate(recordsPerSecond.1), megabytes(Double(legacy) * payload / legacySeconds),
                   String(format: "%.2f", recordsPerSecond.1 / recordsPerSecond.0)])
        // Every read is of the partition Produce v7 wrote, so the three read the same records.
        let reader = try await open()
        let stored = try await BenchLoops.readAll { offset in
            let (records, highWatermark) = try await reader.fetch(topic: "v2", partition: 0, offset: offset, maxBytes: 1 << 20)
            let next = records.readableBytes > 0 ? try ReadBench.nextOffset(after: Array(records.readableBytesView)) : offset
            return (records.readableBytes, next, highWatermark)
        }
        table.add(["Fetch v11, v2 batches as stored (reference)", formatRate(stored.records), megabytes(stored.records * Double(recordBytes)), "1.00"])
        for (version, name) in [(Int16(3), "Fetch v3, converted to v1 messages"), (1, "Fetch v1, converted to v0 messages")] {
            let converted = try await BenchLoops.readAll { offset in
                let (set, highWatermark) = try await reader.fetchLegacy(version: version, topic: "v2", partition: 0, offset: offset, maxBytes: 1 << 20)
                return (set.readableBytes, Self.offset(after: set) ?? offset, highWatermark)
            }
            table.add([name, formatRate(converted.records), megabytes(converted.records * Double(recordBytes)),
                       String(format: "%.2f", converted.records / stored.records)])
        }
        await reader.close()
        print("MB/s counts record values; × v2: against the v2 reference of the same kind in this run")
    }

    /// The offset after the last whole message of a message set, walking only the offset and
    /// size of each (as the v2 reader walks batch headers).
    static func offset(after set: ByteBuffer) -> Int64? {
        var position = set.readerIndex
        var last: Int64?
        while let offset = set.getInteger(at: position, as: Int64.self), let size = set.getInteger(at: position + 8, as: Int32.self),
              position + 12 + Int(size) <= set.writerIndex {
            last = offset
            position += 12 + Int(size)
        }
        return last.map { $0 + 1 }
    }
}
