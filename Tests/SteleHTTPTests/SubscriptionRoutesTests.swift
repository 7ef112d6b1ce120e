import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import SteleStore
import SteleViews
import SteleWire

/// Reads Server-Sent Events from a plain socket: the bytes as a client sees them. Reads block, so
/// they run on a Dispatch thread, never on the cooperative pool the server also needs.
final class SSEClient: @unchecked Sendable {
    let fd: Int32
    var buffer: [UInt8] = []

    init(port: Int, path: String, lastEventID: String? = nil) throws {
        fd = try connectLoopback(port: port)
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" + (lastEventID.map { "Last-Event-ID: \($0)\r\n" } ?? "") + "\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
    }

    /// The next `count` events as (id, data); fails after the socket's 120 s time-out.
    func events(_ count: Int) async throws -> [(id: String, data: JSONValue)] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try self.blockingEvents(count)) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    private func blockingEvents(_ count: Int) throws -> [(id: String, data: JSONValue)] {
        var events: [(String, JSONValue)] = []
        while events.count < count {
            if let end = find([10, 10]) {
                let block = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                var id: String?
                var data: JSONValue?
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    // Chunked transfer puts size lines between writes: skip anything not SSE.
                    if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                    if line.hasPrefix("data: ") { data = JSONValue.parse(Array(line.dropFirst(6).utf8)) }
                }
                if let id, let data { events.append((id, data)) }
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let read = recv(fd, &chunk, chunk.count, 0)
            guard read > 0 else { throw CancellationError() }
            buffer += chunk[..<read].filter { $0 != 13 }
        }
        return events
    }

    /// Everything received up to and including the first `text` (a comment, an event name).
    func read(until text: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let needle = Array(text.utf8)
                while true {
                    if self.buffer.count >= needle.count,
                       let index = (0...(self.buffer.count - needle.count)).first(where: { self.buffer[$0..<($0 + needle.count)].elementsEqual(needle) }) {
                        let seen = String(decoding: self.buffer[..<(index + needle.count)], as: UTF8.self)
                        self.buffer.removeFirst(index + needle.count)
                        continuation.resume(returning: seen)
                        return
                    }
                    var chunk = [UInt8](repeating: 0, count: 65536)
                    let read = recv(self.fd, &chunk, chunk.count, 0)
                    guard read > 0 else { continuation.resume(throwing: CancellationError()); return }
                    self.buffer += chunk[..<read].filter { $0 != 13 }
                }
            }
        }
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for index in 0...(buffer.count - needle.count) where buffer[index] == needle[0] && buffer[index + 1] == needle[1] { return index }
        return nil
    }

    func close() { _ = Glibc.close(fd) }
}

struct SubscriptionRoutesTests {
    func append(_ server: LiveServer, _ stream: String, _ amount: Int) async throws {
        _ = try await server.store.append([EventData(type: "Deposited", data: Array(#"{"amount":\#(amount)}"#.utf8))], to: StreamName(category: "accounts", id: stream))
    }

    @Test func aStreamSubscriptionResumesWithLastEventIDWithoutGapOrDuplicate() async throws {
        let server = try await LiveServer.start()
        let port = Int(server.base.split(separator: ":").last!)!
        for amount in 0..<3 { try await append(server, "alice", amount) }
        var client = try SSEClient(port: port, path: "/streams/accounts/alice/subscribe")
        var seen = try await client.events(3)
        try await append(server, "alice", 3)
        seen += try await client.events(1)
        #expect(seen.map(\.id) == ["0", "1", "2", "3"], "catch-up, then live")
        #expect(seen.last?.data["data"] == .object(["amount": .integer(3)]))
        client.close()
        // Appended while disconnected; the reconnect names the last id it saw.
        for amount in 4..<6 { try await append(server, "alice", amount) }
        client = try SSEClient(port: port, path: "/streams/accounts/alice/subscribe", lastEventID: "3")
        #expect(try await client.events(2).map(\.id) == ["4", "5"])
        client.close()
        try await server.stop()
    }

    @Test func aCategorySubscriptionResumesFromThePositionInItsIDs() async throws {
        let server = try await LiveServer.start()
        let port = Int(server.base.split(separator: ":").last!)!
        for index in 0..<10 { try await append(server, "acc-\(index % 3)", index) }
        var client = try SSEClient(port: port, path: "/categories/accounts/subscribe")
        let first = try await client.events(6)
        client.close()
        client = try SSEClient(port: port, path: "/categories/accounts/subscribe", lastEventID: first.last!.id)
        for index in 10..<12 { try await append(server, "acc-\(index % 3)", index) }
        let rest = try await client.events(6)
        client.close()
        let amounts = (first + rest).map { $0.data["data"]?["amount"] }
        #expect(amounts == (0..<12).map { .integer(Int64($0)) }, "every event once, in order")
        let bad = try await server.call("GET", "/categories/accounts/subscribe", headers: ["Last-Event-ID": "nonsense"])
        #expect(bad.0 == 400)
        try await server.stop()
    }
}
