/// Where an event store keeps its events: a backend and its settings, opened by
/// ``EventStore/open(_:)``.
///
/// Each backend module adds its own location, so an application links only the backends it
/// names: `.embedded(path:)` comes with `SteleEmbedded` (and `Stele`), `.remote(url:)` with
/// `SteleRemote` (and `Stele`), `.postgres(url:schema:)` with `StelePostgres`.
///
/// ```swift
/// import Stele
/// let store = try await EventStore.open(.embedded(path: "./stele-data"))
/// ```
public struct EventStoreLocation: Sendable {
    /// Opens the backend; called once by ``EventStore/open(_:)``.
    public let open: @Sendable () async throws -> any EventStorage

    /// A location opened by `open`: how a backend module adds itself.
    public init(open: @escaping @Sendable () async throws -> any EventStorage) {
        self.open = open
    }
}

extension EventStore {
    /// Opens the event store at `location`.
    public static func open(_ location: EventStoreLocation) async throws -> EventStore {
        EventStore(try await location.open())
    }
}
