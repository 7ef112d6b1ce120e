import Foundation
import NIOCore
import Testing
import SteleTestSupport
import SteleBroker
import SteleCore
import SteleKafkaProtocol
import SteleLog
@testable import SteleServer

/// Mirror topics over a real socket: an active one is written only by its mirror (client id
/// `stele-mirror`), at the source's offsets and byte for byte; producers are refused until the
/// topic is promoted; its source never changes; its offsets and open transactions survive a
/// restart untouched.
@Suite("Mirror topics")
struct MirrorTopicTests {
    typealias Harness = KafkaServerTests.Harness
    typealias RawConnection = KafkaServerTests.RawConnection

    static let mirrorConfigs = [TopicConfig.mirrorSourceKey: "source.example:9092"]

    /// The error code and base offset of a one-partition Produce v7 response.
    static func outcome(_ frame: ByteBuffer) throws -> (KafkaErrorCode, Int64) {
        var frame = frame
        _ = frame.readInteger(as: Int32.self) // correlation id
        _ = frame.readInteger(as: Int32.self) // topics: 1
        let nameLength = frame.readInteger(as: Int16.self)
        frame.moveReaderIndex(forwardBy: Int(try #require(nameLength)))
        _ = frame.readInteger(as: Int32.self) // partitions: 1
        _ = frame.readInteger(as: Int32.self) // index
        let code = try #require(frame.readInteger(as: Int16.self) as Int16?)
        let read = frame.readInteger(as: Int64.self)
        let base = try #require(read)
        return (KafkaErrorCode(rawValue: code) ?? .unknownServerError, base)
    }

    func send(_ connection: RawConnection, topic: String, clientId: String, records: [UInt8], correlation: Int32 = 1) async throws -> (KafkaErrorCode, Int64) {
        try await connection.send(KafkaServerTests.produceFrame(topic: topic, correlation: correlation, clientId: clientId, batch: records))
        return try Self.outcome(try #require(try await connection.receive()))
    }

    @Test func onlyTheMirrorWritesAnActiveMirrorTopicAtTheSourcesOffsets() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("mirrored", partitions: 1, configs: Self.mirrorConfigs)
        let log = try #require(harness.broker.topic("mirrored")?.partitions.first)
        let connection = try await RawConnection(port: harness.server.port)

        let (refused, _) = try await send(connection, topic: "mirrored", clientId: "app", records: KafkaServerTests.batch("x"))
        #expect(refused == .policyViolation, "a producer cannot write into an active mirror topic")
        #expect(log.logEndOffset == 0)

        // Two source batches (offsets 5 and 9) in one request, as the mirror sends them.
        let batches = KeepingOffsets.batch(at: 5, "a") + KeepingOffsets.batch(at: 9, "b")
        let (code, base) = try await send(connection, topic: "mirrored", clientId: KafkaRequestHandler.mirrorClientId, records: batches)
        #expect(code == .none && base == 5)
        #expect(log.logEndOffset == 10)
        #expect(try await log.read(from: 0, maxBytes: 1 << 20).batches == batches, "byte for byte, at the source's offsets")
        // Sent again after a restart of the mirror: answered, nothing doubled.
        let (again, _) = try await send(connection, topic: "mirrored", clientId: KafkaRequestHandler.mirrorClientId, records: batches)
        #expect(again == .none && log.logEndOffset == 10)

        // A mirror writes nowhere else.
        try await harness.broker.createTopic("plain", partitions: 1)
        let (stray, _) = try await send(connection, topic: "plain", clientId: KafkaRequestHandler.mirrorClientId, records: KeepingOffsets.batch(at: 0, "c"))
        #expect(stray == .invalidRequest)
        try await harness.stop()
    }

    @Test func promotionOpensTheTopicToProducersAndClosesItToTheMirror() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("failover", partitions: 1, configs: Self.mirrorConfigs)
        let connection = try await RawConnection(port: harness.server.port)
        _ = try await send(connection, topic: "failover", clientId: KafkaRequestHandler.mirrorClientId, records: KeepingOffsets.batch(at: 100, "a"))

        // The source is fixed for good; a topic that assigns its own offsets cannot become a mirror.
        await #expect(throws: BrokerError.self) { try await harness.broker.alterTopicConfigs("failover", [:]) }
        await #expect(throws: BrokerError.self) {
            try await harness.broker.alterTopicConfigs("failover", [TopicConfig.mirrorSourceKey: "elsewhere:9092"])
        }
        try await harness.broker.createTopic("own", partitions: 1)
        await #expect(throws: BrokerError.self) { try await harness.broker.alterTopicConfigs("own", Self.mirrorConfigs) }
        await #expect(throws: BrokerError.self) {
            try await harness.broker.createTopic("stateless", partitions: 1, configs: [TopicConfig.mirrorStateKey: "active"])
        }

        try await harness.broker.alterTopicConfigs("failover") { $0.merging([TopicConfig.mirrorStateKey: "promoted"]) { _, new in new } }
        let described = ConfigCatalog.describe(topic: try #require(harness.broker.topic("failover")?.config), broker: BrokerConfig(dataDirectory: harness.directory))
        #expect(described.first { $0.name == TopicConfig.mirrorStateKey }?.value == "promoted")
        #expect(described.first { $0.name == TopicConfig.mirrorSourceKey }?.value == "source.example:9092")

        let (code, base) = try await send(connection, topic: "failover", clientId: "app", records: KafkaServerTests.batch("b"))
        #expect(code == .none && base == 101, "producers continue after the source's last offset")
        let (late, _) = try await send(connection, topic: "failover", clientId: KafkaRequestHandler.mirrorClientId, records: KeepingOffsets.batch(at: 101, "c"))
        #expect(late == .policyViolation, "a promoted topic is no longer the mirror's")
        await #expect(throws: BrokerError.self) {
            try await harness.broker.alterTopicConfigs("failover") { $0.merging([TopicConfig.mirrorStateKey: "active"]) { _, new in new } }
        }
        try await harness.stop()
    }

    @Test func theSourcesProducerIdsAreNeverHandedOutAndPromotionEndsItsOpenTransactions() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("handover", partitions: 1, configs: Self.mirrorConfigs)
        let log = try #require(harness.broker.topic("handover")?.partitions.first)
        let connection = try await RawConnection(port: harness.server.port)
        // The source's producer 5000 left its transaction open when the source was lost.
        let open = KeepingOffsets.batch(at: 0, "t", producerId: 5000, transactional: true)
        let (code, _) = try await send(connection, topic: "handover", clientId: KafkaRequestHandler.mirrorClientId, records: open)
        #expect(code == .none)
        // A producer starting here after the failover gets an id the source never used: it can
        // neither be fenced by nor answered as the source's producer.
        #expect(try harness.broker.producerIds.next() > 5000)
        #expect(log.lastStableOffset == 0, "the open transaction holds read_committed readers")
        try await harness.broker.alterTopicConfigs("handover") { $0.merging([TopicConfig.mirrorStateKey: "promoted"]) { _, new in new } }
        #expect(log.lastStableOffset == log.logEndOffset, "promotion aborted the transaction the source will never end")
        #expect(log.abortedTransactions(from: 0, upTo: log.logEndOffset).map(\.producerId) == [5000])
        try await harness.stop()
    }

    @Test func anActiveMirrorTopicGrowsWithItsSourceAndNoOtherTopicWithRecordsDoes() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("mirrored", partitions: 1, configs: Self.mirrorConfigs)
        _ = try await harness.broker.partition("mirrored", 0, autoCreate: false).appendKeepingOffsets(KeepingOffsets.batch(at: 0, "a"))
        try await harness.broker.createPartitions("mirrored", count: 3)
        #expect(harness.broker.topic("mirrored")?.partitions.count == 3)
        try await harness.broker.createTopic("plain", partitions: 1)
        _ = try await harness.broker.partition("plain", 0, autoCreate: false).append(KafkaServerTests.batch("a"))
        await #expect(throws: BrokerError.self) { try await harness.broker.createPartitions("plain", count: 3) }
        try await harness.stop()
    }

    @Test func aRestartKeepsTheGapsAndTheSourcesOpenTransactions() async throws {
        let directory = NSTemporaryDirectory() + "stele-mirror-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("mirrored", partitions: 1, configs: Self.mirrorConfigs)
        let log = try #require(broker.topic("mirrored")?.partitions.first)
        _ = try await log.appendKeepingOffsets(KeepingOffsets.batch(at: 3, "a"))
        // A source producer's transaction still open: its marker will come from the source.
        _ = try await log.appendKeepingOffsets(KeepingOffsets.batch(at: 40, "t", producerId: 4242, transactional: true))
        try await broker.close()

        broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let reopened = try #require(broker.topic("mirrored")?.partitions.first)
        #expect(reopened.logEndOffset == 41, "no abort marker was added: the transaction is the source's")
        #expect(reopened.lastStableOffset == 40)
        #expect(reopened.recoveryReport.corruptions.isEmpty)
        try await broker.close()
    }
}

/// Batches as a source log holds them (base offset set).
enum KeepingOffsets {
    static func batch(at offset: Int64, _ value: String, producerId: Int64 = -1, transactional: Bool = false) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.producerId = producerId
        if producerId >= 0 { (builder.producerEpoch, builder.baseSequence) = (0, 0) }
        if transactional { builder.attributes = RecordBatchAttributes(rawValue: 0x10) }
        builder.append(key: Array("k".utf8), value: Array(value.utf8))
        var bytes = builder.build()
        bytes.withUnsafeMutableBytes { RecordBatch.setBaseOffset(offset, in: $0) }
        return bytes
    }
}
