import SteleLog
import SteleStore

extension EventStoreLocation {
    /// Stele's own log in a data directory (the same layout `stele serve` uses); `flush` says
    /// when an append is synced before it is acknowledged.
    public static func embedded(path: String, flush: FlushPolicy = .always) -> EventStoreLocation {
        EventStoreLocation { try await EmbeddedEventStorage.open(path: path, flushPolicy: flush) }
    }
}
