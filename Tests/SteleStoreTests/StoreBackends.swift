import Foundation
import SteleStore
import StelePostgres
import Testing

/// A fresh, empty store of one backend, and how to dispose of it. The conformance suite runs
/// every test against each backend available on the machine.
struct StoreBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let open: @Sendable () async throws -> OpenedStore
    var testDescription: String { name }

    /// PostgreSQL joins when scripts/test started a private cluster (STELE_TEST_POSTGRES_URL).
    static var all: [StoreBackend] { [embedded] + (postgresURL == nil ? [] : [postgres]) }

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

    static let embedded = StoreBackend(name: "embedded") {
        let path = NSTemporaryDirectory() + "stele-store-test-" + UUID().uuidString
        let storage = try await EmbeddedEventStorage.open(path: path)
        return OpenedStore(store: EventStore(storage)) {
            try await storage.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

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
