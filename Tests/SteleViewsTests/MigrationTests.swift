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

/// Data written by main at 5e37c17, before the vocabulary was made one (Fixtures/main-5e37c17):
/// a data directory, a SQLite view file and a PostgreSQL dump of an event store and a view. Each
/// opens with today's code, reads what was written, takes new writes and folds on.
///
/// What was written: accounts a (10, 500, 20), b (1, 2, then 4 with schema version 2, under the
/// header `stele.schema`) and `b/x` (3); a snapshot of a named `balance` (schema version 3,
/// state `510`, under the key `accounts/balance/a`); a view `trails` in park mode that parked
/// a's 500 and the 20 behind it (columns `stream`, `commit_position`, checkpoint column
/// `position`).
@Suite(.serialized) struct MigrationTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/main-5e37c17").path
    let directory = NSTemporaryDirectory() + "stele-migration-" + UUID().uuidString

    func copyFixture(_ name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = directory + "/" + name
        try FileManager.default.copyItem(atPath: Self.fixtures + "/" + name, toPath: target)
        return target
    }

    /// What both backends must read back from the fixture, and a write on top of it.
    func checkEvents(_ store: EventStore) async throws {
        let b = try await store.read(StreamName(category: "accounts", id: "b"))
        #expect(b.map { String(decoding: $0.data, as: UTF8.self) } == ["1", "2", "4"])
        #expect(b.map(\.schemaVersion) == [1, 1, 2], "the schema version written under its old name is read")
        #expect(b.last?.id == UUID(uuidString: "00000000-0000-0000-0000-000000000002"))
        let page = try await store.readCategory("accounts", limit: 100)
        #expect(page.events.map { String(decoding: $0.data, as: UTF8.self) } == ["10", "1", "500", "2", "20", "3", "4"])
        #expect(try await store.countEvents(in: "accounts", after: .start, upTo: page.next) == 7)
        let snapshot = try await store.latestSnapshot(of: StreamName(category: "accounts", id: "a"), name: "balance", schemaVersion: 3)
        #expect(snapshot.map { String(decoding: $0.state, as: UTF8.self) } == "510", "the snapshot saved under the old key is found")
        #expect(try await store.latestSnapshot(of: StreamName(category: "accounts", id: "balance/a"), name: "", schemaVersion: 3) == nil,
                "a snapshot under the old ambiguous key is not handed to another stream")

        // New writes: the new header name and snapshot key, read back beside the old ones.
        let outcome = try await store.append([EventData(type: "Deposited", schemaVersion: 5, data: Array("7".utf8))],
                                             to: StreamName(category: "accounts", id: "b"), expected: .exact(2))
        #expect(outcome.firstVersion == 3)
        #expect(try await store.read(StreamName(category: "accounts", id: "b")).map(\.schemaVersion) == [1, 1, 2, 5])
        try await store.saveSnapshot(Snapshot(stream: StreamName(category: "accounts", id: "a"), name: "balance", version: 2, schemaVersion: 3, state: Array("530".utf8)))
        let newer = try await store.latestSnapshot(of: StreamName(category: "accounts", id: "a"), name: "balance", schemaVersion: 3)
        #expect(newer.map { String(decoding: $0.state, as: UTF8.self) } == "530")
        let older = try await store.latestSnapshot(of: StreamName(category: "accounts", id: "a"), name: "balance", schemaVersion: 3, atOrBefore: 1)
        #expect(older.map { String(decoding: $0.state, as: UTF8.self) } == "510")
        // PostgreSQL delivers it once every transaction older than it has ended (other suites run
        // beside this one): wait for it rather than read once.
        try await eventually("the new event to follow the old ones in the category") {
            let rest = try await store.readCategory("accounts", after: page.next, limit: 100)
            return rest.events.map { String(decoding: $0.data, as: UTF8.self) } == ["7"]
        }
    }

    /// The view written by main: its checkpoint and parked events read back; once fixed, the
    /// parked events are applied in order and the view goes on with the new event.
    func checkView(_ store: EventStore, open: () throws -> any ViewStore, checkpoint: String) async throws {
        let views = try open()
        let fixed = StopFlag()
        let opening = try await views.open(Trails(fixed: fixed, policy: .park))
        #expect(opening.checkpoints["accounts"]?.description == checkpoint)
        #expect(opening.parked.map(\.key.stream.id) == ["a", "a"])
        #expect(opening.parked.map(\.key.version) == [1, 2])
        #expect(opening.parked.map(\.position.offset) == [checkpoint.contains("/") ? 3 : 2, checkpoint.contains("/") ? 5 : 4])
        let format = try await views.query(SQLStatement("SELECT format FROM stele_view_format"))
        #expect(format.first?["format"] == .integer(2))
        fixed.set()
        let runner = ProjectionRunner(projection: Trails(fixed: fixed, policy: .park), store: store, views: views)
        let task = Task { [runner] in try await runner.run() }
        try await eventually("the parked events and the new one to be folded") {
            let rows = try await views.query(SQLStatement("SELECT account, trail FROM trails ORDER BY account"))
            return rows.map { $0["trail"] } == [.text("10,500,20"), .text("1,2,4,7"), .text("3")] && runner.parked.isEmpty
        }
        task.cancel()
        _ = await task.result
        try await views.close()
        // Opened again, now in the current format.
        let again = try open()
        let reopened = try await again.open(Trails(fixed: fixed, policy: .park))
        #expect(reopened.parked.isEmpty)
        #expect(try await store.countEvents(in: "accounts", after: reopened.checkpoints["accounts"] ?? .start,
                                           upTo: try await store.endCheckpoint(of: "accounts")) == 0)
        // A format row lost (emptied by hand) reads as format 1, and the renames already done
        // are not attempted again: the store still opens, its checkpoint intact.
        try await again.apply(ViewBatch(statements: [SQLStatement("DELETE FROM stele_view_format")], checkpoints: [:]), of: "trails")
        try await again.close()
        let third = try open()
        #expect(try await third.open(Trails(fixed: fixed, policy: .park)).checkpoints == reopened.checkpoints)
        try await third.close()
    }

    @Test func aDataDirectoryAndViewFileWrittenByMainOpenAndReadUnchanged() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = try copyFixture("data")
        let viewFile = try copyFixture("trails.sqlite")
        let store = EventStore(try await EmbeddedEventStorage.open(path: data, flushPolicy: .always))
        try await checkEvents(store)
        try await checkView(store, open: { try SQLiteViewStore(path: viewFile, queryTimeout: .seconds(60)) }, checkpoint: "0:7")
        try await store.close()
    }

    @Test(.enabled(if: ViewBackend.postgresURL != nil))
    func aPostgreSQLStoreAndViewWrittenByMainOpenAndReadUnchanged() async throws {
        let id = UUID().uuidString.prefix(8).lowercased()
        let (storeSchema, viewSchema) = ("migrated_store_" + id, "migrated_view_" + id)
        try await restore(schemas: ["fixture_store": storeSchema, "fixture_view": viewSchema])
        let storage = try await PostgresEventStorage.connect(url: ViewBackend.postgresURL!, schema: storeSchema)
        let store = EventStore(storage)
        try await checkEvents(store)
        try await checkView(store, open: { try PostgresViewStore(url: ViewBackend.postgresURL!, schema: viewSchema, queryTimeout: .seconds(60)) },
                            checkpoint: "0:37/8")
        // A second open finds format 2 and changes nothing; one whose format row was lost finds
        // the columns already renamed and renames nothing.
        let again = try await PostgresEventStorage.connect(url: ViewBackend.postgresURL!, schema: storeSchema)
        #expect(try await EventStore(again).read(StreamName(category: "accounts", id: "b")).count == 4)
        try await again.close()
        try await restoreStatements(["DELETE FROM \(storeSchema).stele_store_format"])
        let third = try await PostgresEventStorage.connect(url: ViewBackend.postgresURL!, schema: storeSchema)
        #expect(try await EventStore(third).read(StreamName(category: "accounts", id: "b")).count == 4)
        try await third.close()
        try await storage.dropSchema()
        try await store.close()
    }

    @Test func aSnapshotKeyNamesOneStreamAndNameWhateverTheyHold() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        // Under the old key both were `accounts/x/y/z`.
        let first = StreamName(category: "accounts", id: "z")
        let second = StreamName(category: "accounts", id: "y/z")
        try await store.saveSnapshot(Snapshot(stream: first, name: "x/y", version: 0, state: [1]))
        try await store.saveSnapshot(Snapshot(stream: second, name: "x", version: 0, state: [2]))
        #expect(try await store.latestSnapshot(of: first, name: "x/y")?.state == [1])
        #expect(try await store.latestSnapshot(of: second, name: "x")?.state == [2])
        try await store.close()
    }

    /// Loads the fixture's dump under fresh schema names, statement by statement, on one
    /// connection (the dump empties its search_path).
    func restore(schemas: [String: String]) async throws {
        var sql = try String(contentsOfFile: Self.fixtures + "/postgres.sql", encoding: .utf8)
        for (old, new) in schemas { sql = sql.replacingOccurrences(of: old + ".", with: new + ".").replacingOccurrences(of: "SCHEMA " + old + ";", with: "SCHEMA " + new + ";") }
        let statements = sql.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
            .components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        try await restoreStatements(statements)
    }

    func restoreStatements(_ statements: [String]) async throws {
        try await withPostgresAdmin(url: ViewBackend.postgresURL!) { client in
            try await client.withConnection { connection in
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: Logger(label: "test"))
                }
            }
        }
    }
}
