import SteleLog
import Foundation
import StelePostgres
import SteleRemote

/// Where an event store keeps its events.
public enum EventStoreLocation: Sendable {
    /// Stele's own log in a data directory (the same layout `stele serve` uses).
    case embedded(path: String, flush: FlushPolicy = .always)
    /// A PostgreSQL database (`postgres://user:password@host:port/database`); the tables live in
    /// `schema`, created if missing.
    case postgres(url: String, schema: String = "stele")
    /// A running Stele server (`http://127.0.0.1:8080`), used through its HTTP API.
    case remote(url: URL)
}

extension EventStore {
    /// Opens the event store at `location`.
    public static func open(_ location: EventStoreLocation) async throws -> EventStore {
        switch location {
        case let .embedded(path, flush): EventStore(try await EmbeddedEventStorage.open(path: path, flushPolicy: flush))
        case let .postgres(url, schema): EventStore(try await PostgresEventStorage.connect(url: url, schema: schema))
        case let .remote(url): EventStore(RemoteEventStorage(url: url))
        }
    }
}
