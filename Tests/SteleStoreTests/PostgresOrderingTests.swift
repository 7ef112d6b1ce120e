import Foundation
import Logging
import PostgresNIO
import Testing
import SteleTestSupport
import SteleStore
import StelePostgres

/// PostgreSQL hands out sequence positions at insert, not at commit: a subscriber that trusted
/// them would pass an event whose transaction commits late and never see it.
@Suite(.enabled(if: StoreBackend.postgresURL != nil, "needs STELE_TEST_POSTGRES_URL (scripts/test starts a cluster)"))
struct PostgresOrderingTests {
    @Test func anEventCommittedLateIsNotSkipped() async throws {
        let schema = "order_" + UUID().uuidString.prefix(8).lowercased()
        let storage = try await PostgresEventStorage.connect(url: StoreBackend.postgresURL!, schema: schema)
        let store = EventStore(storage)
        defer { Task { try? await storage.dropSchema(); try? await storage.close() } }
        try await store.append([event("OrderPlaced")], to: StreamName(category: "orders", id: "early"))

        let logger = Logger(label: "test")
        let follower = CategoryFollower(store: store, category: "orders")
        try await withPostgresAdmin(url: StoreBackend.postgresURL!) { client in
            try await client.withConnection { connection in
                // A writer whose transaction takes a position and stays open…
                try await connection.query("BEGIN", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO "\(schema)".stele_events (category, stream_id, version, event_id, type, schema_version, data)
                    VALUES ('orders', 'late', 0, '\(UUID().uuidString)', 'OrderPlaced', 1, '\\x7b7d'::bytea)
                    """), logger: logger)
                // …while another commits a later position.
                try await store.append([event("OrderPlaced")], to: StreamName(category: "orders", id: "quick"))
                try await follower.read { $0.contains("early") }
                try await Task.sleep(for: .milliseconds(200))
                try await follower.readOnce()
                #expect(await follower.seen == ["early"], "the later commit waits behind the open transaction")
                try await connection.query("COMMIT", logger: logger)
            }
        }
        try await follower.read { $0.count >= 3 }
        #expect(await follower.seen == ["early", "late", "quick"], "nothing skipped, in commit order")
        let rest = try await store.readCategory("orders", after: await follower.checkpoint)
        #expect(rest.events.isEmpty)
        #expect(CategoryCheckpoint(rest.next.description) == rest.next, "checkpoints with a commit order print and parse")
    }
}

/// Reads a category on from its checkpoint, remembering the stream ids seen.
actor CategoryFollower {
    let store: EventStore
    let category: String
    var seen: [String] = []
    var checkpoint = CategoryCheckpoint.start

    init(store: EventStore, category: String) {
        self.store = store
        self.category = category
    }

    func readOnce() async throws {
        let page = try await store.readCategory(category, after: checkpoint)
        seen += page.events.map(\.stream.id)
        checkpoint = page.next
    }

    /// Reads until `done`: other tests' transactions in the same cluster also hold the horizon
    /// back for a while, so arrival is waited for, failing only when nothing arrives for the
    /// stall limit.
    func read(until done: @Sendable ([String]) -> Bool) async throws {
        var watch = StallWatch("the follower's events")
        while !done(seen) {
            try await readOnce()
            if done(seen) { return }
            try watch.check(seen.count)
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
