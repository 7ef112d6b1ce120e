import Foundation
import Logging
import Testing
import SteleStore
import SteleNode

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
}
