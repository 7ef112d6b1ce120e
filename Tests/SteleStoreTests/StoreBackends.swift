import Foundation
import Hummingbird
import Logging
import Synchronization
import SteleBroker
import SteleHTTP
import SteleRemote
import SteleStore
import StelePostgres
import SteleViews
import Testing
import SteleEmbedded
import SteleNode

/// A fresh, empty store of one backend, and how to dispose of it. The conformance suite runs
/// every test against each backend available on the machine.
struct StoreBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let open: @Sendable () async throws -> OpenedStore
    var testDescription: String { name }

    /// PostgreSQL joins when scripts/test started a private cluster (STELE_TEST_POSTGRES_URL).
    static var all: [StoreBackend] { [embedded, remote] + (postgresURL == nil ? [] : [postgres]) }

    static let postgresURL = ProcessInfo.processInfo.environment["STELE_TEST_POSTGRES_URL"]

    /// Each store gets a schema of its own in the test cluster, dropped afterwards.
    static let postgres = StoreBackend(name: "postgres") {
        let schema = "test_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        let storage = try await PostgresEventStorage.connect(url: postgresURL!, schema: schema)
        return OpenedStore(store: EventStore(storage)) {
            try await storage.dropSchema()
            try await storage.close()
        }
    }

    /// A real `stele` HTTP server on a free loopback port over an embedded store, used through
    /// `RemoteEventStorage`: the `.remote(url:)` store.
    static let remote = StoreBackend(name: "remote") {
        let path = NSTemporaryDirectory() + "stele-remote-test-" + UUID().uuidString
        let node = try await SteleNode.start(.ephemeral(directory: path), logger: quietLogger)
        let storage = RemoteEventStorage(url: URL(string: "http://127.0.0.1:\(node.httpPort)")!)
        return OpenedStore(store: EventStore(storage)) {
            try await storage.close()
            try await node.stopAndWait()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    static let embedded = StoreBackend(name: "embedded") {
        let path = NSTemporaryDirectory() + "stele-store-test-" + UUID().uuidString
        let storage = try await EmbeddedEventStorage.open(path: path)
        return OpenedStore(store: EventStore(storage)) {
            try await storage.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

/// Cancelling the server at the end of a test logs errors that are not the test's.
let quietLogger: Logger = {
    var logger = Logger(label: "remote-test")
    logger.logLevel = .critical
    return logger
}()

struct OpenedStore: Sendable {
    let store: EventStore
    let dispose: @Sendable () async throws -> Void

    /// Runs `body` with the store and disposes of it afterwards, whatever happens.
    static func with(_ backend: StoreBackend, _ body: (EventStore) async throws -> Void) async throws {
        let opened = try await backend.open()
        do { try await body(opened.store) } catch {
            try? await opened.dispose()
            throw error
        }
        try await opened.dispose()
    }
}

func event(_ type: String, _ json: String = "{}", id: UUID = UUID(), metadata: EventMetadata = EventMetadata()) -> EventData {
    EventData(id: id, type: type, data: Array(json.utf8), metadata: metadata)
}
