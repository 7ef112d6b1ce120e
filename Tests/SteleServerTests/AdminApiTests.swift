import Foundation
import Testing
import NIOCore
import SteleBroker
import SteleKafkaProtocol
import SteleTestSupport
@testable import SteleServer

/// OffsetForLeaderEpoch, DescribeConfigs of a broker, and the rules of config changes, over a
/// real socket where the wire matters.
extension KafkaServerTests {
    @Test func offsetForLeaderEpochAnswersTheOneEpoch() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("epochs", partitions: 1)
        let log = try await harness.broker.partition("epochs", 0, autoCreate: false)
        _ = try await log.append(Self.batch("a"))
        _ = try await log.append(Self.batch("b"))
        let connection = try await RawConnection(port: harness.server.port)
        // (current leader epoch, asked epoch) → (error, epoch, end offset)
        let cases: [(Int32, Int32, Int16, Int32, Int64)] = [
            (-1, 0, 0, 0, 2), (0, 0, 0, 0, 2), (0, 3, 0, -1, -1), (0, -1, 0, -1, -1),
            (1, 0, KafkaErrorCode.unknownLeaderEpoch.rawValue, -1, -1), (-5, 0, KafkaErrorCode.fencedLeaderEpoch.rawValue, -1, -1),
        ]
        for (index, (current, asked, error, epoch, end)) in cases.enumerated() {
            try await connection.send(RequestFrame.encode(api: .offsetForLeaderEpoch, version: 3, correlationId: Int32(index), clientId: "test") {
                $0.int32(-1)
                $0.array(["epochs"]) { encoder, name in
                    encoder.string(name)
                    encoder.array([Int32(0)]) { encoder, partition in encoder.int32(partition); encoder.int32(current); encoder.int32(asked) }
                }
            })
            var response = try #require(try await withHangLimit("OffsetForLeaderEpoch to be answered") { try await connection.receive() })
            #expect(response.readInteger(as: Int32.self) == Int32(index))
            _ = response.readInteger(as: Int32.self) // throttle
            #expect(response.readInteger(as: Int32.self) == 1)
            _ = response.readInteger(as: Int16.self).map { response.moveReaderIndex(forwardBy: Int($0)) }
            #expect(response.readInteger(as: Int32.self) == 1)
            let label = "current \(current), asked \(asked)"
            #expect(response.readInteger(as: Int16.self) == error, "\(label)")
            #expect(response.readInteger(as: Int32.self) == 0)
            #expect(response.readInteger(as: Int32.self) == epoch, "\(label)")
            #expect(response.readInteger(as: Int64.self) == end, "\(label)")
        }
        // An unknown partition is UNKNOWN_TOPIC_OR_PARTITION, not an end offset.
        try await connection.send(RequestFrame.encode(api: .offsetForLeaderEpoch, version: 2, correlationId: 99, clientId: "test") {
            $0.array(["epochs"]) { encoder, name in
                encoder.string(name)
                encoder.array([Int32(5)]) { encoder, partition in encoder.int32(partition); encoder.int32(-1); encoder.int32(0) }
            }
        })
        var response = try #require(try await withHangLimit("OffsetForLeaderEpoch to be answered") { try await connection.receive() })
        response.moveReaderIndex(forwardBy: 4 + 4 + 4 + 2 + 6 + 4)
        #expect(response.readInteger(as: Int16.self) == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        try await harness.stop()
    }

    @Test func anotherBrokersConfigsAreAnInvalidRequest() async throws {
        let harness = try await Harness { $0.nodeId = 3 }
        let connection = try await RawConnection(port: harness.server.port)
        for (index, name) in ["7", "x", "3", ""].enumerated() {
            try await connection.send(RequestFrame.encode(api: .describeConfigs, version: 1, correlationId: Int32(index), clientId: "test") {
                $0.array([name]) { encoder, name in encoder.int8(4); encoder.string(name); encoder.int32(-1) }
                $0.bool(false)
            })
            var response = try #require(try await withHangLimit("DescribeConfigs to be answered") { try await connection.receive() })
            response.moveReaderIndex(forwardBy: 4 + 4 + 4)
            let expected = name == "3" || name.isEmpty ? KafkaErrorCode.none : .invalidRequest
            #expect(response.readInteger(as: Int16.self) == expected.rawValue, "broker \(name)")
        }
        try await harness.stop()
    }

    @Test func configChangesFollowKafkasRules() throws {
        let broker = BrokerConfig(dataDirectory: "/unused")
        typealias Change = AlterConfigsRequest.Change
        let current = ["retention.ms": "1000", "segment.bytes": "4096"]
        // Legacy AlterConfigs replaces the whole set.
        #expect(try ConfigChanges.apply([Change(name: "retention.bytes", value: "5")], to: current, incremental: false, broker: broker)
            == ["retention.bytes": "5"])
        // Incremental: SET, DELETE, APPEND to the broker default, SUBTRACT.
        let changed = try ConfigChanges.apply([Change(name: "retention.ms", operation: 0, value: "2000"),
                                               Change(name: "segment.bytes", operation: 1, value: nil),
                                               Change(name: "cleanup.policy", operation: 2, value: "compact")],
                                              to: current, incremental: true, broker: broker)
        #expect(changed == ["retention.ms": "2000", "cleanup.policy": "delete,compact"])
        #expect(try ConfigChanges.apply([Change(name: "cleanup.policy", operation: 3, value: "delete")], to: changed, incremental: true, broker: broker)
            == ["retention.ms": "2000", "cleanup.policy": "compact"])
        #expect(try ConfigChanges.apply([Change(name: "cleanup.policy", operation: 2, value: "delete")], to: changed, incremental: true, broker: broker)
            == changed, "appending what is there changes nothing")
        func refusal(_ change: Change, incremental: Bool = true) -> KafkaErrorCode? {
            let outcome = Result { try ConfigChanges.apply([change], to: current, incremental: incremental, broker: broker) }
            guard case let .failure(error) = outcome else { return nil }
            return (error as? ConfigChanges.Refusal)?.code ?? .unknownServerError
        }
        #expect(refusal(Change(name: "retention.ms", operation: 2, value: "1")) == .invalidConfig, "APPEND to a number")
        #expect(refusal(Change(name: "retention.ms", operation: 0, value: nil)) == .invalidRequest, "SET to null")
        #expect(refusal(Change(name: "retention.ms", value: nil), incremental: false) == .invalidRequest, "legacy null")
        #expect(refusal(Change(name: "retention.ms", operation: 9, value: "1")) == .invalidRequest, "unknown operation")
    }
}

extension KafkaServerTests {
    /// Metadata v12 (flexible, KIP-516): topics carry their ids, and a topic asked by id is
    /// found by it; an unknown id is UNKNOWN_TOPIC_ID with no name.
    @Test func metadataV12FindsTopicsById() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("by-id", partitions: 2)
        let topic = try #require(harness.broker.topic("by-id"))
        let id = KafkaRequestHandler.wireTopicId(topic)
        #expect(id != MetadataResponse.Topic.zeroTopicId)
        let unknown = [UInt8](repeating: 7, count: 16)
        let connection = try await RawConnection(port: harness.server.port)
        try await connection.send(RequestFrame.encode(api: .metadata, version: 12, correlationId: 1, clientId: "test") { encoder in
            encoder.array([id, unknown]) { encoder, id in encoder.uuid(id); encoder.nullableString(nil); encoder.taggedFields() }
            encoder.bool(false)
            encoder.bool(false)
            encoder.taggedFields()
        })
        var response = try #require(try await withHangLimit("Metadata v12 to be answered") { try await connection.receive() })
        #expect(response.readInteger(as: Int32.self) == 1)
        var decoder = KafkaDecoder(response, flexible: true)
        try decoder.taggedFields() // response header v1
        _ = try decoder.int32("throttle")
        _ = try decoder.array("brokers") { decoder in
            _ = try decoder.int32(); _ = try decoder.string(); _ = try decoder.int32(); _ = try decoder.nullableString(); try decoder.taggedFields()
        }
        _ = try decoder.nullableString("cluster id")
        _ = try decoder.int32("controller")
        let topics = try decoder.array("topics") { decoder -> (Int16, String?, [UInt8], Int) in
            let error = try decoder.int16()
            let name = try decoder.nullableString()
            let topicId = try decoder.uuid()
            _ = try decoder.bool()
            let partitions = try decoder.array("partitions") { decoder in
                _ = try decoder.int16(); _ = try decoder.int32(); _ = try decoder.int32(); _ = try decoder.int32()
                for _ in 0..<3 { _ = try decoder.array("nodes") { try $0.int32() } }
                try decoder.taggedFields()
            }
            _ = try decoder.int32("authorized operations")
            try decoder.taggedFields()
            return (error, name, topicId, partitions.count)
        }
        try decoder.taggedFields()
        #expect(decoder.remaining == 0)
        #expect(topics.count == 2)
        #expect(topics.first.map { $0.0 == 0 && $0.1 == "by-id" && $0.2 == id && $0.3 == 2 } == true)
        #expect(topics.last.map { $0.0 == KafkaErrorCode.unknownTopicId.rawValue && $0.1 == nil && $0.2 == unknown } == true)
        try await harness.stop()
    }

    /// A topic keeps its id across restarts; one made before ids existed gets one when opened.
    @Test func topicIdsAreKeptAndGivenToOldTopics() async throws {
        let directory = NSTemporaryDirectory() + "stele-ids-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("kept")
        try await broker.createTopic("old")
        let kept = try #require(broker.topic("kept")?.config.topicId)
        try await broker.close()
        // What a topic.json written before ids looks like.
        try Data(#"{"partitions":1,"configs":{}}"#.utf8).write(to: URL(fileURLWithPath: directory + "/topics/old/topic.json"))
        broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        #expect(broker.topic("kept")?.config.topicId == kept)
        let given = try #require(broker.topic("old")?.config.topicId)
        try await broker.close()
        broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        #expect(broker.topic("old")?.config.topicId == given, "the id given at open is kept")
        #expect(broker.topic(id: kept)?.name == "kept")
        try await broker.close()
    }
}
