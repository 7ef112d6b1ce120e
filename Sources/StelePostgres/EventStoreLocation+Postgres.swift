import SteleStore

extension EventStoreLocation {
    /// A PostgreSQL database (`postgres://user:password@host:port/database`, with `sslmode` and
    /// friends as libpq reads them); the tables live in `schema`, created if missing.
    public static func postgres(url: String, schema: String = "stele") -> EventStoreLocation {
        EventStoreLocation { try await PostgresEventStorage.connect(url: url, schema: schema) }
    }
}
