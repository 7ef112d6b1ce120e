import Logging
import PostgresNIO
import StelePostgres
import SteleViews

/// A view's PostgreSQL schemas: the live tables in schema `NAME`, a rebuild's in
/// `NAME__rebuild`. Promoting renames the schemas in one transaction: a query resolves its
/// tables under locks, so it reads the old schema or the new one; the old one is dropped in the
/// same transaction, once the queries reading it have finished. The location and its stores
/// share one connection pool.
public final class PostgresViewLocation: ViewLocation {
    public let url: String
    public let name: String
    public let queryTimeout: Duration
    public let queryURL: String?
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let queryLogin: (client: PostgresClient, user: String)?
    private let queryRunTask: Task<Void, Never>?
    private let logger = Logger(label: "stele.views.postgres")

    /// - Parameter queryURL: a second login for queries over HTTP (no superuser; Stele grants it
    ///   the reader role). Without it queries use `url`'s login and `SET LOCAL ROLE` to the reader.
    public init(url: String, name: String, queryURL: String? = nil, queryTimeout: Duration = .seconds(5)) throws {
        if let problem = PostgresURL.checkViewSchema(name + "__rebuild") ?? PostgresURL.checkViewSchema(name) { throw ViewError.store(problem.reason) }
        let configuration = try PostgresURL.configuration(url).mapError { ViewError.store($0.reason) }.get()
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        if let queryURL {
            let queryConfiguration = try PostgresURL.configuration(queryURL).mapError { ViewError.store("the query URL: \($0.reason)") }.get()
            let queryClient = PostgresClient(configuration: queryConfiguration, backgroundLogger: logger)
            self.queryLogin = (queryClient, queryConfiguration.username ?? "postgres")
            self.queryRunTask = Task { await queryClient.run() }
        } else {
            self.queryLogin = nil
            self.queryRunTask = nil
        }
        self.url = url
        self.queryURL = queryURL
        self.name = name
        self.queryTimeout = queryTimeout
        self.runTask = Task { await client.run() }
    }

    deinit {
        runTask.cancel()
        queryRunTask?.cancel()
    }

    var rebuildSchema: String { name + "__rebuild" }

    public func openLive() async throws -> any ViewStore {
        // A wrong address, password or certificate is said at once, not retried in the pool.
        do {
            try await PostgresURL.probe(url, logger: logger)
            if let queryURL { try await PostgresURL.probe(queryURL, logger: logger) }
        } catch { throw ViewError.store(error.reason) }
        return PostgresViewStore(client: client, queryLogin: queryLogin, schema: name, queryTimeout: queryTimeout)
    }

    public func hasUnfinishedRebuild() async throws -> Bool {
        let rows = try await client.query("SELECT count(*) FROM pg_namespace WHERE nspname = \(rebuildSchema)", logger: logger)
        for try await count in rows.decode(Int64.self) { return count > 0 }
        return false
    }

    public func openRebuild(resume: Bool) async throws -> any ViewStore {
        // This schema is dropped with CASCADE: it must never be the live one.
        assert(rebuildSchema != name, "the rebuild schema is the live schema")
        if !resume {
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(rebuildSchema)\" CASCADE"), logger: logger)
        }
        return PostgresViewStore(client: client, queryLogin: queryLogin, schema: rebuildSchema, queryTimeout: queryTimeout)
    }

    public func promote(rebuild: any ViewStore, replacing live: any ViewStore) async throws -> any ViewStore {
        guard let rebuilt = rebuild as? PostgresViewStore, rebuilt.schema == rebuildSchema else {
            throw ViewError.store("promote was given a store that is not this view's rebuild")
        }
        let retired = name + "__retired"
        do {
            try await client.withTransaction(logger: logger) { connection in
                for sql in [
                    "DROP SCHEMA IF EXISTS \"\(retired)\" CASCADE",
                    "ALTER SCHEMA \"\(name)\" RENAME TO \"\(retired)\"",
                    "ALTER SCHEMA \"\(rebuildSchema)\" RENAME TO \"\(name)\"",
                    "DROP SCHEMA \"\(retired)\" CASCADE",
                ] {
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                }
            }
        } catch {
            throw ViewError.store("promoting the rebuild of \(name): \(String(reflecting: (error as? PostgresTransactionError)?.closureError ?? error))")
        }
        // The live store names the schema, not its tables: it reads the new ones from now on.
        return live
    }
}
