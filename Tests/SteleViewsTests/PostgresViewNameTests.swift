import Foundation
import Testing
import SteleStore
import SteleViews
@testable import StelePostgres
import StelePostgresViews

/// A view's PostgreSQL schema is dropped and renamed by rebuilds: it can never be one that
/// PostgreSQL or an event store owns.
struct PostgresViewNameTests {
    @Test func reservedSchemasAreRefusedByName() throws {
        for name in ["stele", "public", "information_schema", "pg_catalog", "pg_toast"] {
            #expect(throws: ViewError.self, "\(name)") { _ = try PostgresViewLocation(url: "postgres://u@127.0.0.1:1/db", name: name) }
        }
        #expect(throws: Never.self) { _ = try PostgresViewLocation(url: "postgres://u@127.0.0.1:1/db", name: "balances") }
    }

    @Test func aSchemaHoldingAnEventStoreIsRefusedWhateverItsName() async throws {
        guard let url = ViewBackend.postgresURL else { return }
        let schema = "es_" + UUID().uuidString.prefix(8).lowercased()
        let storage = try await PostgresEventStorage.connect(url: url, schema: schema)
        let store = EventStore(storage)
        try await store.append([EventData(type: "Opened", data: Array("{}".utf8))], to: StreamName(category: "accounts", id: "a"))
        let views = try PostgresViewStore(url: url, schema: schema)
        do {
            _ = try await views.open(SQLProjectionForNameTest())
            Issue.record("a view opened in the event store's schema")
        } catch let error as ViewError {
            #expect("\(error)".contains("holds an event store"), "\(error)")
        }
        try await views.close()
        #expect(try await store.read(StreamName(category: "accounts", id: "a")).count == 1, "the event store is untouched")
        try await store.close()
    }
}

struct SQLProjectionForNameTest: Projection {
    var name = "names"
    var categories = ["accounts"]
    var schema: [SQLStatement] { [SQLStatement("CREATE TABLE IF NOT EXISTS names (id TEXT PRIMARY KEY)")] }
    func statements(for event: RecordedEvent) throws -> [SQLStatement] { [] }
}
