import Testing
import NIOCore
import SteleKafkaProtocol
import SteleTestSupport
@testable import SteleServer

/// `--node-id` (Kafka's `node.id`) is the broker clients see: Metadata's broker and controller,
/// FindCoordinator's answer.
extension KafkaServerTests {
    @Test func theNodeIdIsTheOneClientsSee() async throws {
        let harness = try await Harness { $0.nodeId = 7 }
        let connection = try await RawConnection(port: harness.server.port)
        try await connection.send(RequestFrame.encode(api: .metadata, version: 1, correlationId: 1, clientId: "test") { $0.int32(0) })
        var metadata = try #require(try await withHangLimit("Metadata to be answered") { try await connection.receive() })
        #expect(metadata.readInteger(as: Int32.self) == 1)
        #expect(metadata.readInteger(as: Int32.self) == 1, "one broker")
        #expect(metadata.readInteger(as: Int32.self) == 7, "its node id")
        try await connection.send(RequestFrame.encode(api: .findCoordinator, version: 1, correlationId: 2, clientId: "test") {
            $0.string("group"); $0.int8(0)
        })
        var coordinator = try #require(try await withHangLimit("FindCoordinator to be answered") { try await connection.receive() })
        #expect(coordinator.readInteger(as: Int32.self) == 2)
        _ = coordinator.readInteger(as: Int32.self) // throttle
        #expect(coordinator.readInteger(as: Int16.self) == 0)
        _ = coordinator.readInteger(as: Int16.self).map { coordinator.moveReaderIndex(forwardBy: Int(max($0, 0))) } // error message
        #expect(coordinator.readInteger(as: Int32.self) == 7, "the coordinator is the node")
        try await harness.stop()
    }
}
