import Foundation
import SteleStore
import Testing

/// A fresh, empty store of one backend, and how to dispose of it. The conformance suite runs
/// every test against each backend available on the machine.
struct StoreBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let open: @Sendable () async throws -> OpenedStore
    var testDescription: String { name }

    static var all: [StoreBackend] { [embedded] }

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
