import Foundation
import Testing
import NIOCore
import SteleKafkaProtocol
import SteleSecurity
import SteleTestSupport
@testable import SteleServer

/// A SASL listener before authentication, over real sockets: only small frames are read (Kafka
/// `sasl.server.max.receive.size`), only ApiVersions and SASL are served, and a failed attempt
/// is answered only after the delay.
extension KafkaServerTests {
    static func saslHarness() async throws -> Harness {
        let harness = try await Harness {
            $0.securityProtocol = .saslPlaintext
            $0.saslMechanisms = [.plain]
        }
        try harness.broker.credentials.set(try ScramCredential.make(password: "pw", mechanism: .sha512), for: "alice", mechanism: .sha512)
        return harness
    }

    static func plainLogin(_ connection: RawConnection, password: String, correlation: Int32) async throws -> Int16? {
        try await connection.send(RequestFrame.encode(api: .saslHandshake, version: 1, correlationId: correlation, clientId: "test") {
            $0.string("PLAIN")
        })
        guard var handshake = try await connection.receive() else { return nil }
        _ = handshake.readInteger(as: Int32.self)
        #expect(handshake.readInteger(as: Int16.self) == 0, "PLAIN is enabled")
        try await connection.send(RequestFrame.encode(api: .saslAuthenticate, version: 1, correlationId: correlation + 1, clientId: "test") {
            $0.nullableBytes(Array("\0alice\0\(password)".utf8))
        })
        guard var answer = try await connection.receive() else { return nil }
        _ = answer.readInteger(as: Int32.self)
        return answer.readInteger(as: Int16.self)
    }

    @Test func aLargeFrameBeforeAuthenticatingClosesTheConnectionAndReservesNothing() async throws {
        let harness = try await Self.saslHarness()
        let memory = harness.server.requestMemory
        let connection = try await RawConnection(port: harness.server.port)
        // 600 KiB announced (the listener takes 1 MiB once authenticated, 512 KiB before).
        var announced = ByteBuffer()
        announced.writeInteger(Int32(600 << 10))
        announced.writeRepeatingByte(0, count: 1024)
        try await connection.send(announced)
        let answer = try await withHangLimit("the connection to close") { try await connection.receive() }
        #expect(answer == nil, "closed without an answer")
        try await waitUntil("request memory to be given back") { memory.used == 0 }
        try await harness.stop()
    }

    /// Unauthenticated connections share a budget: once it is taken, the next one that sends a
    /// request is closed, and the authenticated clients' memory stays theirs.
    @Test func unauthenticatedConnectionsShareABoundedBudget() async throws {
        let harness = try await Harness {
            $0.securityProtocol = .saslPlaintext
            $0.saslMechanisms = [.plain]
            $0.queuedMaxUnauthenticatedRequestBytes = 64 << 10
            $0.requestReceiveTimeout = .seconds(3600)
        }
        let memory = harness.server.requestMemory
        // The first announces 40 KiB and sends a little of it: held, within the budget.
        let first = try await RawConnection(port: harness.server.port)
        var announced = ByteBuffer()
        announced.writeInteger(Int32(40 << 10))
        announced.writeRepeatingByte(0, count: 100)
        try await first.send(announced)
        try await waitUntil("the first request to be reserved") { memory.used == (40 << 10) + 4 }
        // The second does the same: 80 KiB would pass the 64 KiB budget, so it is closed.
        let second = try await RawConnection(port: harness.server.port)
        try await second.send(announced)
        #expect(try await withHangLimit("the second connection to close") { try await second.receive() } == nil)
        #expect(memory.used == (40 << 10) + 4, "nothing of the refused request was reserved")
        try await harness.stop()
    }

    @Test func afterAuthenticatingFramesUpToTheListenersLimitAreRead() async throws {
        let harness = try await Self.saslHarness()
        let connection = try await RawConnection(port: harness.server.port)
        #expect(try await Self.plainLogin(connection, password: "pw", correlation: 1) == 0)
        // A 600 KiB produce (a batch that fails its CRC) is read and answered, not cut off.
        try await connection.send(Self.produceFrame(topic: "big", correlation: 3, batch: [UInt8](repeating: 7, count: 600 << 10)))
        var response = try #require(try await withHangLimit("the large request to be answered") { try await connection.receive() })
        #expect(response.readInteger(as: Int32.self) == 3)
        try await harness.stop()
    }

    @Test func aFailedLoginIsAnsweredAfterTheDelayThenClosed() async throws {
        let harness = try await Self.saslHarness()
        let connection = try await RawConnection(port: harness.server.port)
        let started = ContinuousClock.now
        #expect(try await Self.plainLogin(connection, password: "guess", correlation: 1) == KafkaErrorCode.saslAuthenticationFailed.rawValue)
        // A lower bound: a slow machine only makes it longer.
        #expect(ContinuousClock.now - started >= KafkaRequestHandler.failedAuthenticationDelay,
                "the error came before the delay: a guesser could reconnect at once")
        #expect(try await withHangLimit("the connection to close") { try await connection.receive() } == nil)
        try await harness.stop()
    }

    @Test func onlyApiVersionsAndSaslComeBeforeAuthenticating() async throws {
        let harness = try await Self.saslHarness()
        let versions = try await RawConnection(port: harness.server.port)
        try await versions.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 5, clientId: "test") { _ in })
        var answer = try #require(try await withHangLimit("ApiVersions to be answered") { try await versions.receive() })
        #expect(answer.readInteger(as: Int32.self) == 5)
        for api in [ApiKey.metadata, .describeAcls, .createAcls] {
            let connection = try await RawConnection(port: harness.server.port)
            try await connection.send(RequestFrame.encode(api: api, version: 1, correlationId: 6, clientId: "test") { $0.int32(-1) })
            #expect(try await withHangLimit("the connection to close") { try await connection.receive() } == nil, "\(api) before authenticating")
        }
        try await harness.stop()
    }
}
