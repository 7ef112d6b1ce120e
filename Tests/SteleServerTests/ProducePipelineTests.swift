import Foundation
import NIOCore
import Synchronization
import Testing
import SteleTestSupport
import SteleBroker
import SteleCore
import SteleKafkaProtocol
import SteleLog
@testable import SteleServer

/// Produce requests of one connection naming distinct partitions run at once, over a real socket:
/// a partition whose sync is held does not hold back another partition's append, yet every
/// response leaves in request order and one partition's batches keep the order they were sent.
@Suite("Produce pipeline over loopback")
struct ProducePipelineTests {
    /// Holds every `sync()` of files whose path contains `pathPart` while closed.
    final class SyncGate: Sendable {
        private let state = Mutex<(closed: Bool, waiting: Int)>((false, 0))
        func close() { state.withLock { $0.closed = true } }
        func open() { state.withLock { $0.closed = false } }
        /// Syncs waiting at the gate now.
        var waiting: Int { state.withLock { $0.waiting } }

        func pass() {
            state.withLock { $0.waiting += 1 }
            defer { state.withLock { $0.waiting -= 1 } }
            // On an I/O thread, as a slow disk would hold it.
            while state.withLock({ $0.closed }) { usleep(1000) }
        }
    }

    struct GatedFileSystem: FileSystem {
        let base = POSIXFileSystem()
        let gate: SyncGate
        let pathPart: String

        func openFile(_ path: String, create: Bool) throws -> any StorageFile {
            let file = try base.openFile(path, create: create)
            return path.contains(pathPart) ? GatedFile(file: file, gate: gate) : file
        }
        func contentsOfDirectory(_ path: String) throws -> [String] { try base.contentsOfDirectory(path) }
        func createDirectory(_ path: String) throws { try base.createDirectory(path) }
        func rename(_ source: String, to target: String) throws { try base.rename(source, to: target) }
        func removeFile(_ path: String) throws { try base.removeFile(path) }
        func removeDirectory(_ path: String) throws { try base.removeDirectory(path) }
        func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
        func fileExists(_ path: String) -> Bool { base.fileExists(path) }
        func isDirectory(_ path: String) -> Bool { base.isDirectory(path) }
        var supportsMapping: Bool { base.supportsMapping }
    }

    final class GatedFile: StorageFile {
        let file: any StorageFile
        let gate: SyncGate
        init(file: any StorageFile, gate: SyncGate) { (self.file, self.gate) = (file, gate) }
        var path: String { file.path }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try file.read(into: buffer, at: offset) }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try file.write(bytes, at: offset) }
        func size() throws -> Int64 { try file.size() }
        func truncate(to size: Int64) throws { try file.truncate(to: size) }
        func sync() throws {
            gate.pass()
            try file.sync()
        }
        func mapReadOnly(count: Int) -> IndexBytes? { file.mapReadOnly(count: count) }
    }

    typealias Harness = KafkaServerTests.Harness
    typealias RawConnection = KafkaServerTests.RawConnection

    static func values(in log: PartitionLog) async throws -> [String] {
        let read = try await log.read(from: 0, maxBytes: 1 << 20)
        var values: [String] = []
        var position = 0
        while position + RecordBatchHeader.size <= read.batches.count {
            let header = try RecordBatchHeader(parsing: Array(read.batches[position..<(position + RecordBatchHeader.size)]))
            for record in try RecordBatch.records(of: Array(read.batches[position..<(position + header.totalSize)])) {
                values.append(String(decoding: record.value ?? [], as: UTF8.self))
            }
            position += header.totalSize
        }
        return values
    }

    @Test func distinctPartitionsRunAtOnceAndAreAnsweredInOrder() async throws {
        let gate = SyncGate()
        let harness = try await Harness(fileSystem: GatedFileSystem(gate: gate, pathPart: "/topics/held/0/"))
        try await harness.broker.createTopic("held")
        try await harness.broker.createTopic("free")
        let held = try #require(harness.broker.topic("held")?.partitions.first)
        let free = try #require(harness.broker.topic("free")?.partitions.first)
        let connection = try await RawConnection(port: harness.server.port)

        gate.close()
        // Whatever happens, the held I/O thread (of a pool every test shares) is let go.
        defer { gate.open() }
        try await connection.send(KafkaServerTests.produceFrame(topic: "held", correlation: 1, batch: KafkaServerTests.batch("a")))
        try await connection.send(KafkaServerTests.produceFrame(topic: "free", correlation: 2, batch: KafkaServerTests.batch("x")))
        // The second request is appended (and synced) while the first waits for its sync: had
        // they run one at a time, "free" would stay empty until the gate opens.
        try await waitUntil("the request for another partition appended while the first one's sync is held") {
            gate.waiting >= 1 && free.highWatermark == 1
        }
        #expect(held.highWatermark == 0, "the held partition's batch is not visible before its sync")
        // Behind them: the same partition again (it must wait for the first) and a request of
        // another kind (it must wait for all).
        try await connection.send(KafkaServerTests.produceFrame(topic: "held", correlation: 3, batch: KafkaServerTests.batch("b")))
        try await connection.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 4, clientId: "test") { _ in })
        gate.open()

        var order: [Int32] = []
        for _ in 0..<4 { order.append(KafkaServerTests.correlation(of: try #require(try await connection.receive()))) }
        #expect(order == [1, 2, 3, 4], "responses leave in request order")
        #expect(try await Self.values(in: held) == ["a", "b"], "one partition's batches are appended in the order sent")
        #expect(try await Self.values(in: free) == ["x"])
        try await harness.stop()
    }

    /// A regression check of order under interleaving (it cannot prove the overlap rule: the
    /// log appends in enqueue order, and an uncompressed batch reaches the queue at once).
    @Test func theSamePartitionTwiceInARowKeepsItsOrderUnderLoad() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("ordered", partitions: 3)
        let connection = try await RawConnection(port: harness.server.port)
        // Many requests back to back, partitions interleaved and repeated: each partition must
        // hold its values in the order sent, and every response must come back in order.
        let count = 60
        for index in 0..<count {
            let frame = RequestFrame.encode(api: .produce, version: 7, correlationId: Int32(index), clientId: "test") { encoder in
                encoder.nullableString(nil)
                encoder.int16(-1)
                encoder.int32(10_000)
                encoder.array(["ordered"]) { encoder, name in
                    encoder.string(name)
                    encoder.array([Int32(index % 3)]) { encoder, partition in
                        encoder.int32(partition)
                        encoder.nullableBytes(KafkaServerTests.batch("\(index)"))
                    }
                }
            }
            try await connection.send(frame)
        }
        var order: [Int32] = []
        for _ in 0..<count { order.append(KafkaServerTests.correlation(of: try #require(try await connection.receive()))) }
        #expect(order == (0..<count).map(Int32.init))
        let partitions = try #require(harness.broker.topic("ordered")?.partitions)
        for (index, log) in partitions.enumerated() {
            #expect(try await Self.values(in: log) == stride(from: index, to: count, by: 3).map { "\($0)" })
        }
        try await harness.stop()
    }
}
