import Foundation
import Synchronization
import Testing
import SteleTestSupport
import SteleStore
import SteleViews
import SteleEmbedded

/// Balances plus a running total and the projection's version in the same transaction, so a
/// query can tell which build it reads and whether its tables agree.
struct VersionedBalances: Projection {
    var name = "ledger"
    var categories = ["accounts"]
    var version: Int64 = 1
    var fingerprint: String { "v\(version)" }

    var schema: [SQLStatement] {
        [
            SQLStatement("CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL)"),
            SQLStatement("CREATE TABLE totals (id INTEGER PRIMARY KEY, total INTEGER NOT NULL, events INTEGER NOT NULL)"),
            SQLStatement("CREATE TABLE info (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)"),
            SQLStatement("INSERT INTO totals VALUES (1, 0, 0)"),
            SQLStatement("INSERT INTO info VALUES (1, \(version))"),
        ]
    }

    func statements(for event: RecordedEvent) throws -> [SQLStatement] {
        // Version 2 counts in cents.
        let amount = (Int64(String(decoding: event.data, as: UTF8.self)) ?? 0) * (version == 2 ? 100 : 1)
        return [
            SQLStatement("""
                INSERT INTO balances (account, balance) VALUES (:account, :amount)
                ON CONFLICT (account) DO UPDATE SET balance = balances.balance + :amount
                """, ["account": .text(event.stream.id), "amount": .integer(amount)]),
            SQLStatement("UPDATE totals SET total = total + :amount, events = events + 1 WHERE id = 1", ["amount": .integer(amount)]),
        ]
    }
}

final class StopFlag: Sendable {
    private let flag = Atomic(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// Four tasks querying a view without pause: each checks that its tables agree and that it never
/// goes back from a new build to an old one.
struct Readers {
    let stop = StopFlag()
    let tasks: [Task<(Int, [String]), Never>]

    init(_ view: MaterializedView) {
        let stop = stop
        tasks = (0..<4).map { _ in
            Task {
                var reads = 0
                var newest: Int64 = 0
                var failures: [String] = []
                while !stop.isSet, failures.count < 20 {
                    do {
                        let row = try await view.query(MaterializedViewTests.consistentRead).first ?? [:]
                        guard case let .integer(version)? = row["version"] else { failures.append("no version: \(row)"); continue }
                        if row["summed"] != row["total"] { failures.append("tables disagree: \(row)") }
                        if version < newest { failures.append("went back from version \(newest) to \(version)") }
                        newest = version
                        reads += 1
                    } catch {
                        failures.append("\(error)")
                    }
                }
                return (reads, failures)
            }
        }
    }

    func finish() async {
        stop.set()
        var reads = 0
        for task in tasks {
            let (count, failures) = await task.value
            reads += count
            #expect(failures.isEmpty, "\(failures.prefix(5))")
        }
        #expect(reads > 0)
    }
}

struct MaterializedViewTests {
    let directory = NSTemporaryDirectory() + "stele-mview-" + UUID().uuidString
    let id = UUID().uuidString.prefix(8).lowercased()
    static let consistentRead = SQLStatement("""
        SELECT (SELECT coalesce(sum(balance), 0) FROM balances) AS summed, (SELECT total FROM totals) AS total,
               (SELECT events FROM totals) AS events, (SELECT version FROM info) AS version
        """)

    func append(_ store: EventStore, count: Int, from start: Int = 0) async throws {
        for chunk in stride(from: start, to: start + count, by: 100) {
            let events = (chunk..<min(start + count, chunk + 100)).map { EventData(type: "Deposited", data: Array(String($0 % 10 + 1).utf8)) }
            try await store.append(events, to: StreamName(category: "accounts", id: "acc-\(chunk / 100 % 13)"))
        }
    }

    @Test(arguments: LocationBackend.all)
    func queriesDuringARebuildSeeTheOldViewOrTheNewNeverAMix(backend: LocationBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        // PostgreSQL applies a statement per round trip: fewer events keep the test short.
        let events = backend.isPostgres ? 4_000 : 20_000
        try await append(store, count: events)
        var view = MaterializedView(projection: VersionedBalances(), store: store, location: try backend.location(directory, "ledger", id), batchSize: 200)
        try await view.start()
        try await view.caughtUp()

        // 1. A rebuild of the same projection while appends go on.
        var readers = Readers(view)
        try await view.rebuild()
        try await append(store, count: 2_000, from: events)
        try await view.waitForRebuild()
        try await view.caughtUp()
        let rebuilt = try await view.query(Self.consistentRead).first
        #expect(rebuilt?["events"] == .integer(Int64(events + 2_000)), "every event once after the swap: \(String(describing: rebuilt))")
        await readers.finish()
        await view.stop()

        // 2. A new version of the projection: the old tables answer until the rebuild replaces them.
        view = MaterializedView(projection: VersionedBalances(version: 2), store: store, location: try backend.location(directory, "ledger", id), batchSize: 200)
        try await view.start()
        readers = Readers(view)
        let during = await view.status()
        #expect(during.rebuild != nil, "a changed definition starts a rebuild: \(during)")
        let old = try await view.query(Self.consistentRead).first
        #expect(old?["version"] == .integer(1), "queries read the old build during the rebuild")
        try await view.waitForRebuild()
        try await view.caughtUp()
        let new = try await view.query(Self.consistentRead).first
        #expect(new?["version"] == .integer(2) && new?["events"] == .integer(Int64(events + 2_000)))
        #expect(new?["total"] == old.flatMap { if case let .integer(total)? = $0["total"] { .integer(total * 100) } else { nil } })
        await readers.finish()
        await view.stop()
        try await store.close()
    }

    @Test(arguments: LocationBackend.all)
    func anInterruptedRebuildResumesWhereItStopped(backend: LocationBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let events = backend.isPostgres ? 6_000 : 30_000
        try await append(store, count: events)
        var view = MaterializedView(projection: VersionedBalances(), store: store, location: try backend.location(directory, "ledger", id), batchSize: 50)
        try await view.start()
        try await view.caughtUp()
        try await view.rebuild()
        var interruptedAt: Int64 = 0
        try await eventually("the rebuild to make progress", progress: { "\(await view.status().rebuild?.applied ?? 0)" }) {
            interruptedAt = await view.status().rebuild?.applied ?? 0
            return interruptedAt >= Int64(events / 10)
        }
        await view.stop()

        view = MaterializedView(projection: VersionedBalances(), store: store, location: try backend.location(directory, "ledger", id), batchSize: 50)
        try await view.start()
        let resumed = await view.status().rebuild
        #expect(resumed != nil, "the unfinished rebuild goes on at start")
        #expect((resumed?.applied ?? 0) >= interruptedAt, "resumed at \(resumed?.applied ?? 0), not from zero (was at \(interruptedAt))")
        #expect(resumed?.total == Int64(events))
        try await view.waitForRebuild()
        try await view.caughtUp()
        #expect(try await view.query(Self.consistentRead).first?["events"] == .integer(Int64(events)))
        await view.stop()
        try await store.close()
    }

    @Test(arguments: LocationBackend.all)
    func changesQueriesByKeyAndQueryLimits(backend: LocationBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        // Ordinary queries get a minute (a busy machine must not fail them); the slow query below
        // runs on the same tables through a location with a 200 ms limit.
        let view = MaterializedView(projection: VersionedBalances(), store: store,
                                    location: try backend.location(directory, "ledger", id, timeout: .seconds(60)))
        try await view.start()
        var changes = view.changes().makeAsyncIterator()
        let outcome = try await store.append([EventData(type: "Deposited", data: Array("42".utf8))], to: StreamName(category: "accounts", id: "acc-x"))
        let change = try await changes.next()
        #expect(change?.events.map(\.stream) == [StreamName(category: "accounts", id: "acc-x")])
        #expect(change?.events.first?.position == outcome.firstPosition)
        // Visible by the time the change is announced.
        #expect(try await view.row(in: "balances", key: .text("acc-x"))?["balance"] == .integer(42))
        #expect(try await view.row(in: "balances", key: .text("nobody")) == nil)
        await #expect(throws: ViewError.self) { try await view.row(in: "no_such_table", key: .text("x")) }
        await #expect(throws: ViewError.self) { try await view.row(in: "stele_checkpoints", key: .text("x")) }
        await #expect(throws: ViewError.readOnly("")) {
            do { _ = try await view.query(SQLStatement("UPDATE balances SET balance = 0")) } catch let ViewError.readOnly(reason) {
                #expect(!reason.isEmpty)
                throw ViewError.readOnly("")
            }
        }
        // Without the limit neither ends for minutes (PostgreSQL) or ever (SQLite).
        let slow = backend.isPostgres ? "SELECT pg_sleep(600)" : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
        await view.stop()
        let limited = MaterializedView(projection: VersionedBalances(), store: store,
                                       location: try backend.location(directory, "ledger", id, timeout: .milliseconds(200)))
        try await limited.start()
        let started = ContinuousClock.now
        await #expect(throws: ViewError.self) {
            do { _ = try await limited.query(SQLStatement(slow)) } catch let error as ViewError {
                guard case .timedOut = error else { Issue.record("not a time-out: \(error)"); throw error }
                throw error
            }
        }
        // Far below the ten minutes the statement would take: it was cancelled at its limit. (A
        // generous bound: a loaded machine may answer the cancellation late, never 600 s late.)
        #expect(ContinuousClock.now - started < .seconds(120), "cancelled at its 200 ms limit")
        await limited.stop()
        try await store.close()
    }
}

/// A definition whose tables cannot be made: any rebuild of it fails.
struct UnbuildableBalances: Projection {
    var name = "ledger"
    var categories = ["accounts"]
    var fingerprint: String { "unbuildable" }
    var schema: [SQLStatement] { [SQLStatement("CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL")] }
    func statements(for event: RecordedEvent) throws -> [SQLStatement] { [] }
}

extension MaterializedViewTests {
    /// Waiting for a view to catch up ends with an error when nothing ever would: the view was
    /// stopped, or its definition changed and the rebuild that must replace its tables failed.
    @Test func waitingForAViewThatCannotCatchUpThrows() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        try await append(store, count: 10)
        let location = { try SQLiteViewLocation(directory: directory + "/views", name: "ledger", queryTimeout: .seconds(60)) }
        let view = MaterializedView(projection: VersionedBalances(), store: store, location: try location())
        try await view.start()
        try await view.waitUntilCaughtUp()
        await view.stop()
        await #expect(throws: ViewError.self) { try await withHangLimit("a stopped view's wait") { try await view.waitUntilCaughtUp() } }

        let changed = MaterializedView(projection: UnbuildableBalances(), store: store, location: try location())
        try? await changed.start()
        await #expect(throws: ViewError.self) { try await withHangLimit("an unrebuildable view's wait") { try await changed.waitUntilCaughtUp() } }
        await changed.stop()
        try await store.close()
    }
}
