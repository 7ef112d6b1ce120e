import SteleLog

/// Where an event store keeps its events.
public enum EventStoreLocation: Sendable {
    /// Stele's own log in a data directory (the same layout `stele serve` uses).
    case embedded(path: String, flush: FlushPolicy = .always)
}

extension EventStore {
    /// Opens the event store at `location`.
    public static func open(_ location: EventStoreLocation) async throws -> EventStore {
        switch location {
        case let .embedded(path, flush): EventStore(try await EmbeddedEventStorage.open(path: path, flushPolicy: flush))
        }
    }
}
