import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import SteleTestSupport
import SteleBroker
import SteleCore
import SteleKafkaProtocol
import SteleLog
@testable import SteleServer

/// The Kafka listener over real sockets on 127.0.0.1: ordering on a connection, the fetch long
/// poll, error mapping, and connections that misbehave.
@Suite("Kafka server over loopback")
struct KafkaServerTests {
    final class Harness: Sendable {
        let broker: Broker
        let server: KafkaServer
        let run: Task<Void, any Error>
        let directory: String

        init(fileSystem: (any FileSystem)? = nil, configure: (inout KafkaServer.Configuration) -> Void = { _ in }) async throws {
            directory = NSTemporaryDirectory() + "stele-server-" + UUID().uuidString
            var config = BrokerConfig(dataDirectory: directory)
            if let fileSystem { config.fileSystem = fileSystem }
            broker = try await Broker.open(config)
            var configuration = KafkaServer.Configuration()
            configuration.port = 0
            configuration.maxRequestBytes = 1 << 20
            configure(&configuration)
            server = try await KafkaServer.bind(configuration: configuration, broker: broker, logger: Logger(label: "test"))
            let server = self.server
            run = Task { try await server.run() }
        }

        func stop() async throws {
            server.shutdown()
            try await run.value
            try await broker.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// A raw connection: write frames, read frames.
    final class RawConnection: @unchecked Sendable {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator

        init(port: Int) async throws {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 24)))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(KafkaFrameEncoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
            inbound = channel.inbound.makeAsyncIterator()
        }

        // A writer must be finished before it goes away (NIOAsyncWriter's precondition).
        deinit { channel.outbound.finish() }

        func send(_ frame: ByteBuffer) async throws { try await channel.outbound.write(frame) }
        func receive() async throws -> ByteBuffer? { try await inbound.next() }
    }

    static func produceFrame(topic: String, correlation: Int32, acks: Int16 = -1, clientId: String = "test", batch: [UInt8]) -> ByteBuffer {
        RequestFrame.encode(api: .produce, version: 7, correlationId: correlation, clientId: clientId) { encoder in
            encoder.nullableString(nil)
            encoder.int16(acks)
            encoder.int32(10_000)
            encoder.array([topic]) { encoder, name in
                encoder.string(name)
                encoder.array([Int32(0)]) { encoder, index in
                    encoder.int32(index)
                    encoder.nullableBytes(batch)
                }
            }
        }
    }

    static func fetchFrame(topic: String, correlation: Int32, offset: Int64, maxWaitMs: Int32, minBytes: Int32,
                           maxBytes: Int32 = 1 << 20) -> ByteBuffer {
        RequestFrame.encode(api: .fetch, version: 11, correlationId: correlation, clientId: "test") { encoder in
            encoder.int32(-1); encoder.int32(maxWaitMs); encoder.int32(minBytes); encoder.int32(maxBytes); encoder.int8(0)
            encoder.int32(0); encoder.int32(-1)
            encoder.array([topic]) { encoder, name in
                encoder.string(name)
                encoder.array([Int32(0)]) { encoder, index in
                    encoder.int32(index); encoder.int32(-1); encoder.int64(offset); encoder.int64(-1); encoder.int32(maxBytes)
                }
            }
            encoder.array([String]()) { $0.string($1) }
            encoder.string("")
        }
    }

    static func correlation(of frame: ByteBuffer) -> Int32 { frame.getInteger(at: frame.readerIndex, as: Int32.self)! }

    static func batch(_ value: String) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.append(key: Array("k".utf8), value: Array(value.utf8))
        return builder.build()
    }

    @Test func responsesKeepRequestOrderWhileAFetchIsParked() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("ordered")
        let connection = try await RawConnection(port: harness.server.port)
        // A fetch that will park (nothing to read yet), then two more requests behind it.
        try await connection.send(Self.fetchFrame(topic: "ordered", correlation: 1, offset: 0, maxWaitMs: 300, minBytes: 1))
        try await connection.send(RequestFrame.encode(api: .apiVersions, version: 2, correlationId: 2, clientId: "test") { _ in })
        try await connection.send(Self.produceFrame(topic: "ordered", correlation: 3, batch: Self.batch("x")))
        var order: [Int32] = []
        for _ in 0..<3 { order.append(Self.correlation(of: try #require(try await connection.receive()))) }
        #expect(order == [1, 2, 3])
        try await harness.stop()
    }

    @Test func aParkedFetchWakesWhenRecordsArrive() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("wake")
        let consumer = try await RawConnection(port: harness.server.port)
        let producer = try await RawConnection(port: harness.server.port)
        let started = ContinuousClock.now
        try await consumer.send(Self.fetchFrame(topic: "wake", correlation: 1, offset: 0, maxWaitMs: 600_000, minBytes: 1))
        try await Task.sleep(for: .milliseconds(100))
        try await producer.send(Self.produceFrame(topic: "wake", correlation: 1, batch: Self.batch("hello")))
        _ = try await producer.receive()
        var response = try #require(try await consumer.receive())
        // Far below max_wait (ten minutes): the fetch was woken by the produce, not by its timer.
        #expect(ContinuousClock.now - started < .seconds(300))
        #expect(response.readableBytes > 100, "the fetch carries the record")
        _ = response.readInteger(as: Int32.self)
        try await harness.stop()
    }

    @Test func acksZeroGetsNoResponseAndTheNextRequestIsAnsweredInOrder() async throws {
        let harness = try await Harness()
        let connection = try await RawConnection(port: harness.server.port)
        try await connection.send(Self.produceFrame(topic: "quiet", correlation: 1, acks: 0, batch: Self.batch("a")))
        try await connection.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 2, clientId: "test") { _ in })
        #expect(Self.correlation(of: try #require(try await connection.receive())) == 2)
        #expect(harness.broker.topic("quiet")?.partitions.first?.logEndOffset == 1)
        try await harness.stop()
    }

    @Test func badFramesCloseOnlyTheirConnection() async throws {
        let harness = try await Harness()
        let bad = try await RawConnection(port: harness.server.port)
        var oversized = ByteBuffer()
        oversized.writeInteger(Int32(2 << 20)) // above the 1 MiB limit of this server
        try await bad.send(oversized)
        #expect(try await bad.receive() == nil, "the connection is closed")
        let good = try await RawConnection(port: harness.server.port)
        try await good.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 9, clientId: "test") { _ in })
        #expect(Self.correlation(of: try #require(try await good.receive())) == 9)
        try await harness.stop()
    }

    @Test func produceErrorsMapToKafkaCodes() {
        #expect(KafkaRequestHandler.errorCode(for: .invalidBatch("CRC32C mismatch")) == .corruptMessage)
        #expect(KafkaRequestHandler.errorCode(for: .invalidBatch("compression codec lz4 is not available in this build")) == .unsupportedCompressionType)
        #expect(KafkaRequestHandler.errorCode(for: .batchTooLarge(size: 2, limit: 1)) == .messageTooLarge)
        #expect(KafkaRequestHandler.errorCode(for: .producerRejected(.outOfOrderSequence("x"))) == .outOfOrderSequenceNumber)
        #expect(KafkaRequestHandler.errorCode(for: .producerRejected(.invalidProducerEpoch("x"))) == .invalidProducerEpoch)
        #expect(KafkaRequestHandler.errorCode(for: .offsetOutOfRange(requested: 9, logStartOffset: 0, logEndOffset: 1)) == .offsetOutOfRange)
    }
}
