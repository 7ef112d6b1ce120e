import Foundation
import Testing
import SteleTestSupport
import SteleStore
import SteleViews
import StelePostgres
import SteleEmbedded
import StelePostgresViews

/// A view store to run the suite against; `open` may be called again to reopen the same view.
struct ViewBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let open: @Sendable (_ directory: String, _ id: String) throws -> any ViewStore
    var testDescription: String { name }

    static let postgresURL = ProcessInfo.processInfo.environment["STELE_TEST_POSTGRES_URL"]
    static var all: [ViewBackend] {
        [ViewBackend(name: "sqlite") { directory, id in try SQLiteViewStore(path: directory + "/views/\(id).sqlite", queryTimeout: .seconds(60)) }]
            + (postgresURL == nil ? [] : [ViewBackend(name: "postgres") { _, id in try PostgresViewStore(url: postgresURL!, schema: "view_" + id, queryTimeout: .seconds(60)) }])
    }
}

/// Balances per account: an upsert per event is the fold.
struct Balances: Projection {
    var name = "balances"
    var categories = ["accounts"]
    var schema: [SQLStatement] {
        [SQLStatement("CREATE TABLE IF NOT EXISTS balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, events INTEGER NOT NULL)")]
    }

    func statements(for event: RecordedEvent) throws -> [SQLStatement] {
        struct Amount: Decodable { var amount: Int64 }
        let amount = try JSONDecoder().decode(Amount.self, from: Data(event.data)).amount
        let signed = event.type == "Withdrawn" ? -amount : amount
        return [SQLStatement("""
            INSERT INTO balances (account, balance, events) VALUES (:account, :amount, 1)
            ON CONFLICT (account) DO UPDATE SET balance = balances.balance + :amount, events = balances.events + 1
            """, ["account": .text(event.stream.id), "amount": .integer(signed)])]
    }
}

struct ProjectionRunnerTests {
    let directory = NSTemporaryDirectory() + "stele-views-" + UUID().uuidString
    let id = UUID().uuidString.prefix(8).lowercased()

    func deposit(_ store: EventStore, _ account: String, _ amount: Int, type: String = "Deposited") async throws {
        try await store.append([EventData(type: type, data: Array(#"{"amount":\#(amount)}"#.utf8))],
                               to: StreamName(category: "accounts", id: account))
    }

    /// Waits until the view has applied `count` events in all, failing only when the count
    /// stops moving for the stall limit.
    func waitForEvents(_ views: any ViewStore, _ count: Int64) async throws {
        var watch = StallWatch("the view to reach \(count) events")
        while true {
            // (Fails until the runner has created the table.)
            let rows = try? await views.query(SQLStatement("SELECT coalesce(sum(events), 0) AS n FROM balances"))
            let applied = rows?.first?["n"]
            if applied == .integer(count) { return }
            try watch.check(String(describing: applied))
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A retry asked of a runner whose loop has ended (stopped for a rebuild's swap, say) fails
    /// at once: it used to wait for a loop that never came back (an HTTP retry hung).
    @Test(.timeLimit(.minutes(5)))
    func aRetryAskedOfAStoppedRunnerFailsAtOnce() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        try await deposit(store, "a", 1)
        let views = try ViewBackend.all[0].open(directory, id)
        let runner = ProjectionRunner(projection: Balances(), store: store, views: views)
        let task = Task { try await runner.run() }
        try await eventually("the runner to open") { runner.hasOpened }
        task.cancel()
        _ = await task.result
        await #expect(throws: ViewError.self) { try await runner.retryParked() }
        try await views.close()
        try await store.close()
    }

    @Test(arguments: ViewBackend.all)
    func theViewFollowsTheLogAndResumesFromItsCheckpoint(backend: ViewBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        for index in 0..<300 { try await deposit(store, "acc-\(index % 7)", index) }
        var views = try backend.open(directory, id)
        let first = ProjectionRunner(projection: Balances(), store: store, views: views, batchSize: 64)
        var task = Task { try await first.run() }
        try await waitForEvents(views, 300)
        try await deposit(store, "acc-1", 1000, type: "Withdrawn")
        try await waitForEvents(views, 301)
        task.cancel()
        _ = await task.result
        try await views.close()

        // Appended while the view was down: picked up from the checkpoint, nothing applied twice.
        for index in 0..<50 { try await deposit(store, "acc-\(index % 7)", 1) }
        views = try backend.open(directory, id)
        let second = ProjectionRunner(projection: Balances(), store: store, views: views, batchSize: 64)
        task = Task { try await second.run() }
        try await waitForEvents(views, 351)
        // The runner notes its checkpoint just after the store commits the rows the wait above
        // saw: its lag reaches 0 a moment later (seen in CI on a busy machine).
        try await eventually("the runner's lag to reach 0", progress: { "\(try await second.lag().events)" }) { try await second.lag().events == 0 }
        let rows = try await views.query(SQLStatement("SELECT account, balance FROM balances ORDER BY account"))
        var expected: [String: Int64] = [:]
        for index in 0..<300 { expected["acc-\(index % 7)", default: 0] += Int64(index) }
        expected["acc-1", default: 0] -= 1000
        for index in 0..<50 { expected["acc-\(index % 7)", default: 0] += 1 }
        #expect(rows.map { $0["account"]! } == expected.keys.sorted().map { .text($0) })
        #expect(rows.map { $0["balance"]! } == expected.keys.sorted().map { .integer(expected[$0]!) })
        await #expect(throws: ViewError.self) { try await views.query(SQLStatement("DELETE FROM balances")) }
        task.cancel()
        _ = await task.result
        try await views.close()
        try await store.close()
    }

    @Test(arguments: ViewBackend.all)
    func aPoisonEventStopsTheViewAndSaysWhich(backend: ViewBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        try await deposit(store, "acc-1", 5)
        try await store.append([EventData(type: "Deposited", data: Array("not json".utf8))], to: StreamName(category: "accounts", id: "acc-2"))
        try await deposit(store, "acc-1", 7)
        let views = try backend.open(directory, id)
        let runner = ProjectionRunner(projection: Balances(), store: store, views: views, batchSize: 1)
        await #expect(throws: ViewError.self) { try await runner.run() }
        #expect(try await runner.lag().events == 2, "the poison event and the one after it are still to apply")
        guard case let .failed(message) = runner.status else { Issue.record("status \(runner.status)"); return }
        #expect(message.contains("accounts/acc-2") && message.contains("event 0"))
        let rows = try await views.query(SQLStatement("SELECT balance FROM balances WHERE account = 'acc-1'"))
        #expect(rows.first?["balance"] == .integer(5), "stopped at the poison event: the event after it is not applied")
        try await views.close()
        try await store.close()
    }
}

struct NamedParameterTests {
    @Test func namesBecomeNumbersOutsideQuotesAndCasts() throws {
        let sql = "INSERT INTO t (a, b) VALUES (:a, ':a is text') ON CONFLICT (a) DO UPDATE SET b = :b || :a::text -- :c"
        let translated = try PostgresViewStore.translateForTesting(sql)
        #expect(translated.sql == "INSERT INTO t (a, b) VALUES ($1, ':a is text') ON CONFLICT (a) DO UPDATE SET b = $2 || $1::text -- :c")
        #expect(translated.names == ["a", "b"])
    }
}

/// A projection whose SQL fails for one event (a negative amount breaks a CHECK constraint).
struct CheckedBalances: Projection {
    var name = "checked"
    var categories = ["accounts"]
    var schema: [SQLStatement] {
        [SQLStatement("CREATE TABLE IF NOT EXISTS deposits (account TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount >= 0))")]
    }

    func statements(for event: RecordedEvent) throws -> [SQLStatement] {
        [SQLStatement("INSERT INTO deposits (account, amount) VALUES (:account, :amount)",
                      ["account": .text(event.stream.id), "amount": .integer(Int64(String(decoding: event.data, as: UTF8.self)) ?? 0)])]
    }
}

extension ProjectionRunnerTests {
    @Test(arguments: ViewBackend.all)
    func aStatementFailingInABatchStopsTheViewAtItsEvent(backend: ViewBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        for amount in [1, 2, 3, -4, 5] {
            try await store.append([EventData(type: "Deposited", data: Array(String(amount).utf8))], to: StreamName(category: "accounts", id: "acc-\(amount)"))
        }
        let views = try backend.open(directory, id + "c")
        let runner = ProjectionRunner(projection: CheckedBalances(), store: store, views: views, batchSize: 100)
        await #expect(throws: ViewError.self) { try await runner.run() }
        guard case let .failed(message) = runner.status else { Issue.record("status \(runner.status)"); return }
        #expect(message.contains("accounts/acc--4"), "names the failing event: \(message)")
        let rows = try await views.query(SQLStatement("SELECT amount FROM deposits ORDER BY amount"))
        #expect(rows.map { $0["amount"] } == [.integer(1), .integer(2), .integer(3)], "the events before it are applied, none after")
        #expect(try await runner.lag().events == 2)
        try await views.close()
        try await store.close()
    }
}

/// Folds amounts into a trail per account (`10,500,20`: the order they were applied in); amounts
/// over the limit fail until the projection is "fixed".
struct Trails: Projection {
    let fixed: StopFlag
    var policy: PoisonPolicy
    var name = "trails"
    var categories = ["accounts"]
    var poisonPolicy: PoisonPolicy { policy }
    var schema: [SQLStatement] { [SQLStatement("CREATE TABLE trails (account TEXT PRIMARY KEY, trail TEXT NOT NULL)")] }

    func statements(for event: RecordedEvent) throws -> [SQLStatement] {
        let amount = String(decoding: event.data, as: UTF8.self)
        if (Int(amount) ?? 0) > 100, !fixed.isSet { throw ViewError.store("amount \(amount) over the limit") }
        return [SQLStatement("""
            INSERT INTO trails (account, trail) VALUES (:account, :amount)
            ON CONFLICT (account) DO UPDATE SET trail = trails.trail || ',' || :amount
            """, ["account": .text(event.stream.id), "amount": .text(amount)])]
    }
}

extension ProjectionRunnerTests {
    func trails(_ views: any ViewStore) async throws -> [String: String] {
        var trails: [String: String] = [:]
        for row in try await views.query(SQLStatement("SELECT account, trail FROM trails")) {
            if case let (.text(account)?, .text(trail)?) = (row["account"], row["trail"]) { trails[account] = trail }
        }
        return trails
    }

    @Test(arguments: ViewBackend.all)
    func parkModeSetsAPoisonEventAsideKeepsItsStreamInOrderAndRetriesAfterAFix(backend: ViewBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        for (account, amount) in [("a", 10), ("b", 1), ("a", 500), ("b", 2), ("a", 20), ("b", 3)] {
            try await store.append([EventData(type: "Deposited", data: Array(String(amount).utf8))], to: StreamName(category: "accounts", id: account))
        }
        let fixed = StopFlag()

        // Stop mode: the view stops at a's 500, b's events after it wait too.
        let stopViews = try backend.open(directory, id + "s")
        let stopping = ProjectionRunner(projection: Trails(fixed: fixed, policy: .stop, name: "stopping"), store: store, views: stopViews)
        await #expect(throws: ViewError.self) { try await stopping.run() }
        #expect(try await trails(stopViews) == ["a": "10", "b": "1"])
        try await stopViews.close()

        // Park mode: 500 and the 20 behind it are parked, b goes on.
        var views = try backend.open(directory, id + "p")
        var runner = ProjectionRunner(projection: Trails(fixed: fixed, policy: .park), store: store, views: views, batchSize: 4)
        var task = Task { [runner] in try await runner.run() }
        try await eventually("b to be folded") { try await trails(views)["b"] == "1,2,3" }
        #expect(try await trails(views)["a"] == "10")
        #expect(runner.parked.map(\.key.version) == [1, 2])
        #expect(runner.parked.first?.error.contains("amount 500 over the limit") == true)
        #expect(runner.parked.last?.error == "waits behind parked event 1 of its stream")
        // Later events of a parked stream park too; other streams' do not.
        try await store.append([EventData(type: "Deposited", data: Array("7".utf8))], to: StreamName(category: "accounts", id: "a"))
        try await eventually("the new event of a to be parked") { runner.parked.count == 3 }

        // A retry before the fix changes nothing; after it, the stream is folded in order.
        #expect(try await runner.retryParked() == RetryOutcome(applied: 0, stillParked: 3))
        fixed.set()
        #expect(try await runner.retryParked() == RetryOutcome(applied: 3, stillParked: 0))
        #expect(try await trails(views)["a"] == "10,500,20,7")
        try await store.append([EventData(type: "Deposited", data: Array("8".utf8))], to: StreamName(category: "accounts", id: "a"))
        try await eventually("a to go on after the retry") { try await trails(views)["a"] == "10,500,20,7,8" }
        task.cancel()
        _ = await task.result
        try await views.close()

        // Parked events survive a restart, and a restart retries them.
        let unfixed = StopFlag()
        try await store.append([EventData(type: "Deposited", data: Array("900".utf8))], to: StreamName(category: "accounts", id: "c"))
        views = try backend.open(directory, id + "p")
        runner = ProjectionRunner(projection: Trails(fixed: unfixed, policy: .park), store: store, views: views)
        task = Task { [runner] in try await runner.run() }
        try await eventually("c's event to be parked") { runner.parked.map(\.key.stream.id) == ["c"] }
        task.cancel()
        _ = await task.result
        try await views.close()
        views = try backend.open(directory, id + "p")
        runner = ProjectionRunner(projection: Trails(fixed: fixed, policy: .park), store: store, views: views)
        task = Task { [runner] in try await runner.run() }
        // The parked list is updated just after the commit that applied the event: wait for both.
        try await eventually("the restart to apply c's event") { try await trails(views)["c"] == "900" && runner.parked.isEmpty }
        task.cancel()
        _ = await task.result
        try await views.close()
        try await store.close()
    }
}
