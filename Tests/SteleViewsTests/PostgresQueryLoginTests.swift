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

/// View queries over a login of their own (`--views-postgres-query-url`): the session that runs
/// them is no superuser and holds only the reader role, so even a query the guard let through
/// could not do more than read the view; a superuser query login is refused at open.
@Suite(.enabled(if: ViewBackend.postgresURL != nil, "needs STELE_TEST_POSTGRES_URL (scripts/test starts a cluster)"))
struct PostgresQueryLoginTests {
    let directory = NSTemporaryDirectory() + "stele-querylogin-" + UUID().uuidString
    let id = UUID().uuidString.prefix(8).lowercased()

    /// `base` with another user name.
    static func url(as user: String) -> String {
        var components = URLComponents(string: ViewBackend.postgresURL!)!
        components.user = user
        return components.string!
    }

    func createLogin(_ name: String) async throws {
        try await withPostgresAdmin(url: ViewBackend.postgresURL!) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE ROLE \(name) LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB"), logger: Logger(label: "test"))
        }
    }

    @Test func queriesRunAsTheirOwnLoginWithOnlyTheReaderRole() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let login = "stele_query_\(id)"
        try await createLogin(login)
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let location = try PostgresViewLocation(url: ViewBackend.postgresURL!, name: "vq\(id)_ledger", queryURL: Self.url(as: login), queryTimeout: .seconds(60))
        let view = MaterializedView(projection: VersionedBalances(), store: store, location: location)
        try await view.start()
        try await store.append([EventData(type: "Deposited", data: Array("42".utf8))], to: StreamName(category: "accounts", id: "acc-1"))
        try await view.caughtUp()
        let who = try await view.query(SQLStatement("""
            SELECT session_user AS login, current_user AS role,
                   (SELECT count(*) FROM pg_roles WHERE rolname = session_user AND rolsuper) AS superusers
            """))
        #expect(who == [["login": .text(login), "role": .text("stele_view_reader"), "superusers": .integer(0)]])
        #expect(try await view.query(SQLStatement("SELECT balance FROM balances")) == [["balance": .integer(42)]])
        await view.stop()
        try await store.close()
    }

    @Test func aSuperuserQueryLoginIsRefusedAtOpen() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let location = try PostgresViewLocation(url: ViewBackend.postgresURL!, name: "vq\(id)_super", queryURL: ViewBackend.postgresURL!, queryTimeout: .seconds(60))
        let view = MaterializedView(projection: VersionedBalances(), store: store, location: location)
        do { try await view.start() } catch {
            #expect("\(error)".contains("is a superuser"), "\(error)")
            try await store.close()
            return
        }
        try await waitUntil("the view to fail on the superuser query login") {
            if case let .failed(reason) = await view.status().state { return reason.contains("is a superuser") }
            return false
        }
        await view.stop()
        try await store.close()
    }
}
