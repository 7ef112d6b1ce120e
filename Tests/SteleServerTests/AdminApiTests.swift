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
