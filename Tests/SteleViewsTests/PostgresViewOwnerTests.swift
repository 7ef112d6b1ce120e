import Foundation
import Logging
import PostgresNIO
import Testing
import SteleTestSupport
import SteleStore
import SteleViews
import StelePostgres
import SteleEmbedded
import StelePostgresViews

/// Each PostgreSQL view's schema belongs to a role of its own that runs the view's statements:
/// a definition that reaches for another schema — the event store's, another view's, `public` —
/// is refused by PostgreSQL, and nothing there changes.
@Suite(.enabled(if: ViewBackend.postgresURL != nil, "needs STELE_TEST_POSTGRES_URL (scripts/test starts a cluster)"))
struct PostgresViewOwnerTests {
    let directory = NSTemporaryDirectory() + "stele-viewowner-" + UUID().uuidString
    let id = UUID().uuidString.prefix(8).lowercased()

    func admin<T: Sendable>(_ body: (PostgresClient) async throws -> T) async throws -> T {
        try await withPostgresAdmin(url: ViewBackend.postgresURL!, body)
    }

    func count(_ table: String) async throws -> Int64 {
        try await admin { client in
            var result: Int64 = -1
            for try await n in try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: Logger(label: "test")).decode(Int64.self) { result = n }
            return result
        }
    }

    @Test func aViewsStatementsCannotTouchAnotherSchema() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = "public.secret_\(id)"
        try await admin { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(secret) (n int)"), logger: Logger(label: "test"))
            try await client.query(PostgresQuery(unsafeSQL: "INSERT INTO \(secret) VALUES (1)"), logger: Logger(label: "test"))
        }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let definition = try ViewDefinition.parse("""
            -- @view grabby
            -- @categories accounts
            CREATE TABLE seen (account TEXT PRIMARY KEY);
            -- @on Deposited
            INSERT INTO seen (account) VALUES (:stream_id);
            -- @on Stolen
            DELETE FROM \(secret);
            """, file: "grabby.sql", defaultName: "grabby")
        let location = try PostgresViewLocation(url: ViewBackend.postgresURL!, name: "vo\(id)_grabby", queryTimeout: .seconds(60))
        let view = MaterializedView(projection: definition, store: store, location: location)
        try await view.start()
        try await store.append([EventData(type: "Deposited", data: Array("{}".utf8))], to: StreamName(category: "accounts", id: "acc-1"))
        try await view.caughtUp()
        #expect(try await view.query(SQLStatement("SELECT account FROM seen")) == [["account": .text("acc-1")]], "its own schema works")
        try await store.append([EventData(type: "Stolen", data: Array("{}".utf8))], to: StreamName(category: "accounts", id: "acc-2"))
        try await waitUntil("the view to stop at the statement reaching outside its schema") {
            if case let .failed(reason) = await view.status().state { return reason.contains("permission denied") }
            return false
        }
        #expect(try await count(secret) == 1, "nothing outside the view's schema changed")
        await view.stop()
        try await store.close()
    }

    @Test func aSchemaStatementReachingOutIsRefusedAtOpen() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let definition = try ViewDefinition.parse("""
            -- @view sneaky
            -- @categories accounts
            CREATE TABLE public.sneaky_\(id) (n int);
            -- @on Deposited
            INSERT INTO public.sneaky_\(id) VALUES (1);
            """, file: "sneaky.sql", defaultName: "sneaky")
        let view = MaterializedView(projection: definition, store: store, location: try PostgresViewLocation(url: ViewBackend.postgresURL!, name: "vo\(id)_sneaky", queryTimeout: .seconds(60)))
        do {
            try await view.start()
            try await waitUntil("the view to fail") {
                if case .failed = await view.status().state { return true }
                return false
            }
        } catch {}
        let exists = try await admin { client in
            var found = false
            for try await _ in try await client.query("SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = \("sneaky_\(id)")", logger: Logger(label: "test")) { found = true }
            return found
        }
        #expect(!exists, "the table outside the view's schema was not created")
        await view.stop()
        try await store.close()
    }
}
