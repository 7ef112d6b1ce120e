import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A web page in the operator's browser must not drive the API: DNS rebinding (a foreign Host),
/// cross-site writes (a foreign Origin, `Sec-Fetch-Site: cross-site`) and form posts (a body
/// that is not JSON) are refused, and nothing they ask for happens.
struct BrowserGuardTests {
    /// The status of a request written byte for byte, so Host and Origin are exactly what a
    /// browser would send (URLSession sets Host itself).
    static func status(port: Int, _ head: String, body: String = "") throws -> Int {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        let request = head.replacingOccurrences(of: "\n", with: "\r\n") + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count >= 12 else { return -1 }
        return Int(String(decoding: buffer[9..<12], as: UTF8.self)) ?? -1
    }

    @Test func foreignHostsOriginsAndNonJSONBodiesAreRefused() async throws {
        let server = try await LiveServer.start(allowedHosts: ["stele.internal"])
        let port = Int(server.base.split(separator: ":").last!)!
        let event = #"{"type":"Opened","data":{}}"#
        func post(_ headers: String, _ body: String = event) async throws -> Int {
            try await offPool { try Self.status(port: port, "POST /streams/guard/a HTTP/1.1\n" + headers, body: body) }
        }
        func get(_ head: String) async throws -> Int { try await offPool { try Self.status(port: port, head) } }
        // Accepted: addresses, localhost, names the operator allowed; same-origin writes.
        #expect(try await post("Host: 127.0.0.1:\(port)\nContent-Type: application/json\n") == 201)
        #expect(try await post("Host: localhost:\(port)\nContent-Type: application/json; charset=utf-8\nOrigin: http://localhost:\(port)\n") == 201)
        #expect(try await post("Host: [::1]:\(port)\nContent-Type: application/cloudevents+json\n") == 201)
        #expect(try await post("Host: stele.internal\nContent-Type: application/json\n") == 201)
        #expect(try await get("POST /views/none/rebuild HTTP/1.1\nHost: 127.0.0.1\n") == 404, "a bodyless POST needs no Content-Type")
        // Refused: a rebinding page (its own name as Host), reads included.
        #expect(try await post("Host: attacker.example:\(port)\nContent-Type: application/json\n") == 403)
        #expect(try await get("GET /topics HTTP/1.1\nHost: attacker.example\n") == 403)
        // Refused: cross-site writes, and form posts a page can send without asking.
        #expect(try await post("Host: 127.0.0.1:\(port)\nContent-Type: application/json\nOrigin: http://attacker.example\n") == 403)
        #expect(try await post("Host: 127.0.0.1:\(port)\nContent-Type: application/json\nSec-Fetch-Site: cross-site\n") == 403)
        #expect(try await post("Host: 127.0.0.1:\(port)\nContent-Type: text/plain\n") == 415)
        #expect(try await post("Host: 127.0.0.1:\(port)\n") == 415)
        #expect(try await post("Host: 127.0.0.1:\(port)\nContent-Type: application/x-www-form-urlencoded\n", "a=b") == 415)
        // Only the four accepted appends happened.
        #expect(try await server.store.read(.init(category: "guard", id: "a")).count == 4)
        try await server.stop()
    }
}
