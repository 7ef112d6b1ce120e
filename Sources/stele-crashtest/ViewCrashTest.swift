import ArgumentParser
import Foundation
import SteleCore
import SteleStore
import SteleViews
#if canImport(Glibc)
import Glibc
import SteleEmbedded
#endif

/// Views under SIGKILL: a child folds a category into a SQLite view and is killed at random
/// moments, mid-batch; after each kill the view must be consistent with its checkpoint (every
/// event before it applied once, none after), and at the end equal a fresh rebuild.
enum ViewCrashTest {
    struct Balances: Projection {
        var name = "balances"
        var categories = ["accounts"]
        var schema: [SQLStatement] {
            [SQLStatement("CREATE TABLE IF NOT EXISTS balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, events INTEGER NOT NULL)")]
        }

        func statements(for event: RecordedEvent) throws -> [SQLStatement] {
            let amount = Int64(String(decoding: event.data, as: UTF8.self)) ?? 0
            return [SQLStatement("""
                INSERT INTO balances (account, balance, events) VALUES (:account, :amount, 1)
                ON CONFLICT (account) DO UPDATE SET balance = balances.balance + :amount, events = balances.events + 1
                """, ["account": .text(event.stream.id), "amount": .integer(amount)])]
        }
    }

    static func runParent(path: String, cycles: Int, maxLifetimeMs: Int, seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        print("stele-crashtest --view: \(cycles) cycles, seed \(seed), directory \(path)")
        var appended = 0
        for cycle in 1...cycles {
            // More events for the view to catch up on in every cycle.
            let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
            for _ in 0..<60 {
                let events = (0..<100).map { index in EventData(type: "Deposited", data: Array(String((appended + index) % 1000 - 300).utf8)) }
                try await store.append(events, to: StreamName(category: "accounts", id: "account-\(Int(random.next() % 50))"))
                appended += 100
            }
            try await store.close()
            let lifetime = 30 + Int(random.next() % UInt64(maxLifetimeMs))
            try runChild(path: path, lifetimeMs: lifetime, clock: ChildProcess.clock(forCycle: cycle))
            let (applied, checkpoint) = try await inspect(path + "/views/balances.sqlite")
            guard applied == checkpoint else {
                throw ValidationError("cycle \(cycle): the view holds \(applied) events but its checkpoint says \(checkpoint): applied twice or skipped")
            }
            print("cycle \(cycle): killed after \(lifetime) ms, view at \(applied) of \(appended) events, consistent with its checkpoint")
        }
        // Let the view catch up, then compare it with a rebuild from scratch.
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        let survivor = try await catchUp(store: store, viewPath: path + "/views/balances.sqlite", events: appended)
        let rebuilt = try await catchUp(store: store, viewPath: path + "/views/rebuild.sqlite", events: appended)
        try await store.close()
        guard survivor == rebuilt else { throw ValidationError("the crashed view differs from a fresh rebuild:\n\(survivor)\n\(rebuilt)") }
        print("PASS: \(cycles) SIGKILL cycles of a projection, \(appended) events, the view equals a fresh rebuild (CRC32C of every row: \(String(format: "%08x", CRC32C.checksum(Array(survivor.utf8)))))")
    }

    /// Events applied (sum of per-account counts) and events before the checkpoint.
    static func inspect(_ viewPath: String) async throws -> (Int64, Int64) {
        let views = try SQLiteViewStore(path: viewPath)
        // A child killed before it opened the view left no tables (they are made in one transaction).
        let tables = try await views.query(SQLStatement("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('balances', 'stele_checkpoints')"))
        guard tables.first?["n"] == .integer(2) else {
            try await views.close()
            return (0, 0)
        }
        let applied = try await views.query(SQLStatement("SELECT coalesce(sum(events), 0) AS n FROM balances"))
        let checkpoint = try await views.query(SQLStatement("SELECT checkpoint FROM stele_checkpoints WHERE projection = 'balances'"))
        try await views.close()
        guard case let .integer(count)? = applied.first?["n"] else { return (0, 0) }
        guard case let .text(text)? = checkpoint.first?["checkpoint"], let parsed = CategoryCheckpoint(text) else { return (count, 0) }
        return (count, parsed.nextOffset(in: 0))
    }

    static func catchUp(store: EventStore, viewPath: String, events: Int) async throws -> String {
        let views = try SQLiteViewStore(path: viewPath)
        let runner = ProjectionRunner(projection: Balances(), store: store, views: views, batchSize: 500)
        let task = Task { try await runner.run() }
        // Waits while the view makes progress; a runner that failed or stalled fails the test.
        var applied: Int64 = -1
        var stalledSince = ContinuousClock.now
        while true {
            let now = try await inspect(viewPath).0
            if now >= Int64(events) { break }
            if now != applied { (applied, stalledSince) = (now, .now) }
            if task.isCancelled || ContinuousClock.now - stalledSince > .seconds(ChildProcess.stallSeconds) {
                task.cancel()
                if case let .failure(error) = await task.result { throw error }
                throw ChildError(message: "the view made no progress for \(ChildProcess.stallSeconds) s at \(applied) of \(events) events")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        task.cancel()
        _ = await task.result
        let rows = try await views.query(SQLStatement("SELECT account, balance, events FROM balances ORDER BY account"))
        try await views.close()
        return rows.map { "\($0["account"]!) \($0["balance"]!) \($0["events"]!)" }.joined(separator: "\n")
    }

    private static func runChild(path: String, lifetimeMs: Int, clock: ChildProcess.Clock) throws {
        _ = try ChildProcess.runAndKill(arguments: ["--child", "--view", "--directory", path], afterMilliseconds: lifetimeMs, clock: clock)
    }

    static func runChild(path: String) async throws {
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        let views = try SQLiteViewStore(path: path + "/views/balances.sqlite")
        printReady()
        try await ProjectionRunner(projection: Balances(), store: store, views: views, batchSize: 500).run()
    }
}
