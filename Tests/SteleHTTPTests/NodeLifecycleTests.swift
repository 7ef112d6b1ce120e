import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Testing
import SteleTestSupport
import SteleStore
import ServiceLifecycle
@testable import SteleNode

/// ``SteleNode`` starts its parts in one order and stops them in the reverse; a part that fails
/// stops what was started and releases the data directory.
@Suite struct NodeLifecycleTests {
    let directory = NSTemporaryDirectory() + "stele-node-" + UUID().uuidString
    let logger = Logger(label: "test")

    @Test func aStoppedNodeHasClosedItsBrokerAndKeptWhatItAcknowledged() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let node = try await SteleNode.start(.ephemeral(directory: directory), logger: logger)
        #expect(node.kafkaPort > 0 && node.httpPort > 0 && node.kafkaPort != node.httpPort)
        try await node.store.append([EventData(type: "Opened", data: Array("{}".utf8))], to: StreamName(category: "accounts", id: "a"))
        try await node.stopAndWait()
        // The lock on the data directory is released only by the broker's close.
        let again = try await SteleNode.start(.ephemeral(directory: directory), logger: logger)
        #expect(try await again.store.read(StreamName(category: "accounts", id: "a")).map(\.type) == ["Opened"])
        try await again.stopAndWait()
    }

    @Test func aNodeWhoseHTTPAddressIsTakenStopsWhatItStartedAndReleasesTheDirectory() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let holder = try await SteleNode.start(.ephemeral(directory: directory + "/holder"), logger: logger)
        var taken = SteleNode.Configuration.ephemeral(directory: directory + "/second")
        taken.http.port = holder.httpPort
        await #expect(throws: (any Error).self) { _ = try await SteleNode.start(taken, logger: logger) }
        var kafkaTaken = SteleNode.Configuration.ephemeral(directory: directory + "/second")
        kafkaTaken.kafka.port = holder.kafkaPort
        await #expect(throws: (any Error).self) { _ = try await SteleNode.start(kafkaTaken, logger: logger) }
        // Both failed starts closed their broker: the directory opens again.
        let second = try await SteleNode.start(.ephemeral(directory: directory + "/second"), logger: logger)
        try await second.stopAndWait()
        try await holder.stopAndWait()
    }

    @Test func aFailingPrepareStopsWhatWasStarted() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            _ = try await SteleNode.start(.ephemeral(directory: directory), logger: logger) { _ in throw Refused() }
        }
        let node = try await SteleNode.start(.ephemeral(directory: directory), logger: logger)
        try await node.stopAndWait()
    }

    /// A follower that stops reading fills its socket; the server's write to it then waits for
    /// ever. The node still stops: event streams get the grace period to say goodbye, then HTTP
    /// gets it to finish, then its connections are cancelled.
    @Test func aFollowerThatStopsReadingCannotHoldTheShutdown() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SteleNode.Configuration.ephemeral(directory: directory)
        configuration.shutdownGracePeriod = .seconds(1)
        let node = try await SteleNode.start(configuration, logger: logger)
        // 32 MiB of events: far more than the socket buffers between server and client hold.
        let value = Array(("\"" + String(repeating: "x", count: 256 << 10) + "\"").utf8)
        for _ in 0..<128 {
            try await node.store.append([EventData(type: "Bulky", data: value)], to: StreamName(category: "bulky", id: "a"))
        }
        let port = node.httpPort
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        // Reads the response's first bytes, then never again.
        let first = try await offPool { () -> Int in
            let request = "GET /streams/bulky/a/subscribe HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n"
            _ = request.withCString { send(fd, $0, strlen($0), 0) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            return recv(fd, &buffer, buffer.count, 0)
        }
        #expect(first > 0, "the follower's response started")
        // Stop once the follower's socket has filled (its queue stopped growing): the server's
        // write then waits, and its goodbye cannot get through either. (Stopped earlier, the
        // goodbye might fit and the test would prove less, never fail.)
        var queued = (last: Int32(-1), unchangedPolls: 0)
        var watch = StallWatch("the follower's socket to fill")
        while queued.unchangedPolls < 20 {
            var now: Int32 = 0
            _ = ioctl(fd, UInt(FIONREAD), &now)
            queued = now > 0 && now == queued.last ? (now, queued.unchangedPolls + 1) : (now, 0)
            // Fails only if nothing ever arrives (a full, unchanging queue ends the loop first).
            try watch.check(now > 0 ? "filling" : "empty")
            try await Task.sleep(for: .milliseconds(50))
        }
        try await withHangLimit("the node to stop with a follower that stopped reading") { try await node.stopAndWait() }
        // Stopped in full: the broker was closed and the directory opens again.
        let again = try await SteleNode.start(.ephemeral(directory: directory), logger: logger)
        try await again.stopAndWait()
    }

    /// A long poll for appends (`/appends?waitMs=`) waits up to 30 s; a stopping node answers it
    /// at once rather than holding its shutdown (and the grace period) for the rest of it.
    @Test func aLongPollEndsWhenTheNodeStops() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SteleNode.Configuration.ephemeral(directory: directory)
        // Longer than the poll's 30 s: only the poll's own check of the closing streams ends it in time.
        configuration.shutdownGracePeriod = .seconds(600)
        let node = try await SteleNode.start(configuration, logger: logger)
        let port = node.httpPort
        let generation = node.store.storage.appendGeneration
        let polled = ContinuousClock.now
        let poll = Task {
            try await offPool { () -> String in
                let fd = try connectLoopback(port: port)
                defer { close(fd) }
                let request = "GET /appends?after=\(generation)&waitMs=30000 HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n"
                _ = request.withCString { send(fd, $0, strlen($0), 0) }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = recv(fd, &buffer, buffer.count, 0)
                return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
            }
        }
        try await waitUntil("the long poll to be waiting") { node.eventStreams.openCount == 1 }
        try await withHangLimit("the node to stop with a long poll waiting") { try await node.stopAndWait() }
        #expect(try await poll.value.hasPrefix("HTTP/1.1 200"))
        // Answered before its 30 s (which start after `polled`) were out: only the stop ended it.
        #expect(ContinuousClock.now - polled < .seconds(30))
    }

    /// A listener that returns while the node runs (its accept loop failed, say) is an error:
    /// the node stops, and `stele serve` exits non-zero instead of serving nothing with status 0.
    @Test func aListenerThatStopsByItselfIsAnError() async throws {
        struct Quits: Service { func run() async throws {} }
        let listener = ListenerService(name: "quitting", service: Quits(), gracePeriod: .seconds(1), logger: logger)
        await #expect(throws: ListenerStopped.self) { try await listener.run() }
    }
}
