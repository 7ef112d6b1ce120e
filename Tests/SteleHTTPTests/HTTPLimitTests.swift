import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import SteleTestSupport

/// The HTTP API under many clients: connections past the per-address limit are closed, an idle
/// connection is closed, and event streams and long polls past their limit get 503 while the
/// rest of the API answers.
struct HTTPLimitTests {
    /// Whether a raw connection is closed by the server (recv gives 0) rather than answered;
    /// with `request`, that request is sent first.
    static func closedByServer(port: Int, request: String? = nil) throws -> Bool {
        guard let fd = try? connectLoopback(port: port) else { return true }
        defer { close(fd) }
        if let request { _ = request.withCString { send(fd, $0, strlen($0), 0) } }
        var byte: UInt8 = 0
        let received = recv(fd, &byte, 1, 0)
        // A request written to a connection the server closed may be answered with a reset.
        return received == 0 || (received < 0 && errno == ECONNRESET)
    }

    @Test func eventStreamsAndLongPollsPastTheLimitGet503() async throws {
        let server = try await LiveServer.start(subscribers: 2)
        let port = Int(server.base.split(separator: ":").last!)!
        let followers = [try SSEClient(port: port, path: "/categories/busy/subscribe"), try SSEClient(port: port, path: "/streams/busy/x/subscribe")]
        for follower in followers { _ = try await follower.read(until: ": stele") }
        #expect(try await server.call("GET", "/categories/busy/subscribe").0 == 503)
        #expect(try await server.call("GET", "/appends?after=0&waitMs=30000").0 == 503, "long polls count against the same limit")
        #expect(try await server.call("GET", "/health").0 == 200, "the rest of the API answers")
        for follower in followers { follower.close() }
        try await waitUntil("a subscriber slot to come back") { try await server.call("GET", "/appends?after=0&waitMs=0").0 == 200 }
        try await server.stop()
    }

    @Test func anIdleConnectionIsClosedAndConnectionsPastTheLimitToo() async throws {
        let server = try await LiveServer.start { configuration in
            // Long enough that a held connection is never idle between its connect and its
            // request on a busy machine; the idle one below waits for it, not for the clock.
            configuration.idleTimeout = .seconds(2)
            configuration.maxConnectionsPerAddress = 3
        }
        let port = Int(server.base.split(separator: ":").last!)!
        #expect(try await offPool { try Self.closedByServer(port: port) }, "an idle connection is closed")
        // Three idle connections held open; a fourth from the same address is closed at once.
        let held = try (0..<3).map { _ in try SSEClient(port: port, path: "/categories/held/subscribe") }
        for connection in held { _ = try await connection.read(until: ": stele") }
        let health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        #expect(try await offPool { try Self.closedByServer(port: port, request: health) }, "past the per-address limit: closed, not answered")
        for connection in held { connection.close() }
        try await waitUntil("the slots to come back") { !(try await offPool { try Self.closedByServer(port: port, request: health) }) }
        try await server.stop()
    }
}
