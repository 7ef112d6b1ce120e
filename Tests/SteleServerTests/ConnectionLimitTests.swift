import Foundation
import Logging
import Testing
import NIOCore
import SteleBroker
import SteleKafkaProtocol
import SteleTestSupport
@testable import SteleServer

/// Connections are bounded: per client address and in all, and an idle one is closed (Kafka
/// `max.connections.per.ip`, `max.connections`, `connections.max.idle.ms`), while a parked long
/// poll is never mistaken for an idle connection.
extension KafkaServerTests {
    @Test func connectionsPastTheLimitAreClosedAndOthersKeepWorking() async throws {
        let harness = try await Harness { $0.maxConnectionsPerAddress = 2 }
        let port = harness.server.port
        let first = try await RawConnection(port: port)
        let second = try await RawConnection(port: port)
        for connection in [first, second] {
            try await connection.send(Self.produceFrame(topic: "limits", correlation: 1, batch: Self.batch("x")))
            #expect(try await connection.receive() != nil, "admitted connections are served")
        }
        let third = try await RawConnection(port: port)
        try? await third.send(Self.produceFrame(topic: "limits", correlation: 1, batch: Self.batch("refused")))
        #expect(try await withHangLimit("the third connection to be closed") { try? await third.receive() } == nil)
        // A slot comes back when a connection ends.
        try await first.channel.channel.close()
        try await waitUntil("the first connection's slot to be released") {
            let again = try await RawConnection(port: port)
            try await again.send(Self.produceFrame(topic: "limits", correlation: 2, batch: Self.batch("y")))
            return try await again.receive() != nil
        }
        try await harness.stop()
    }

    @Test func anIdleConnectionIsClosedButAParkedFetchIsAnswered() async throws {
        // Three seconds: the fetch is parked 1.5 s, leaving a busy machine 1.5 s to answer it
        // before the connection would look idle (400 ms failed under a loaded CI run).
        let harness = try await Harness { $0.idleTimeout = .seconds(3) }
        let busy = try await RawConnection(port: harness.server.port)
        // Asks to wait ten minutes: parked at most half the idle timeout, answered, not closed.
        try await busy.send(Self.fetchFrame(topic: "idle", correlation: 1, offset: 0, maxWaitMs: 600_000, minBytes: 1))
        #expect(try await withHangLimit("the parked fetch to be answered") { try await busy.receive() } != nil)
        let quiet = try await RawConnection(port: harness.server.port)
        #expect(try await withHangLimit("the idle connection to be closed") { try? await quiet.receive() } == nil)
        try await harness.stop()
    }
}

extension KafkaServerTests {
    /// librdkafka and the Java client keep up to five requests in flight: requests that arrive
    /// together, then a later one, are all answered in order (reading must resume after the
    /// back-pressure pause).
    @Test func pipelinedRequestsAreAllAnsweredInOrder() async throws {
        let harness = try await Harness()
        let connection = try await RawConnection(port: harness.server.port)
        for round in 0..<3 {
            // Three at once, in one write where the channel coalesces them.
            for index in 0..<3 {
                try await connection.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: Int32(round * 10 + index), clientId: "test") { _ in })
            }
            for index in 0..<3 {
                var response = try #require(try await withHangLimit("pipelined response \(round)/\(index)") { try await connection.receive() })
                #expect(response.readInteger(as: Int32.self) == Int32(round * 10 + index), "answered in order")
            }
        }
        try await harness.stop()
    }
}

extension KafkaServerTests {
    /// A node that fails to start shuts its Kafka listener down before `run` has served the
    /// connections accepted meanwhile; those must close at once, not wait for a request until
    /// the idle timeout (ten minutes) while the failed start waits for them.
    @Test func connectionsAcceptedBeforeRunAreClosedByAnEarlierShutdown() async throws {
        let directory = NSTemporaryDirectory() + "stele-server-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        var configuration = KafkaServer.Configuration()
        configuration.port = 0
        let server = try await KafkaServer.bind(configuration: configuration, broker: broker, logger: Logger(label: "test"))
        let early = try await RawConnection(port: server.port)
        // A whole request, held unanswered (nothing runs yet): its bytes are reserved once the
        // connection is accepted and read. Served after shutdown, it would be answered and the
        // connection then kept open for the next request.
        try await early.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 1, clientId: "test") { _ in })
        try await waitUntil("the early connection to be accepted and read") { server.requestMemory.used > 0 }
        server.shutdown()
        try await withHangLimit("run to return after shutdown") { try await server.run() }
        #expect(try await withHangLimit("the early connection to be closed") { try? await early.receive() } == nil)
        try await broker.close()
    }
}
