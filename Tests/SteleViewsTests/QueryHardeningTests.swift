import Foundation
import Testing
import SteleTestSupport
import SteleStore
import SteleViews
import SteleEmbedded

/// The "read-only" query route under hostile SQL: nothing a request sends may write, attach
/// another database, leave an object behind for later requests, change the session, read a
/// server file, run a program or read outside the view — on SQLite and on PostgreSQL.
struct QueryHardeningTests {
    let directory = NSTemporaryDirectory() + "stele-queryguard-" + UUID().uuidString
    let id = UUID().uuidString.prefix(8).lowercased()

    func refused(_ view: MaterializedView, _ sql: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            let rows = try await view.query(SQLStatement(sql))
            Issue.record("ran: \(sql) → \(rows.prefix(3))", sourceLocation: sourceLocation)
        } catch let error as ViewError {
            guard case .readOnly = error else { Issue.record("\(sql): not refused as a write but \(error)", sourceLocation: sourceLocation); return }
        } catch {
            Issue.record("\(sql): \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: LocationBackend.all)
    func hostileQueriesAreRefusedAndLeaveNothingBehind(backend: LocationBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let view = MaterializedView(projection: VersionedBalances(), store: store, location: try backend.location(directory, "ledger", id))
        try await view.start()
        try await store.append([EventData(type: "Deposited", data: Array("42".utf8))], to: StreamName(category: "accounts", id: "acc-1"))
        try await view.caughtUp()
        let secret = directory + "/secret.sqlite"
        FileManager.default.createFile(atPath: secret, contents: nil)
        let marker = directory + "/pwned"

        // Statements that are not one query.
        for sql in [
            "ATTACH DATABASE '\(secret)' AS secret", "DETACH DATABASE main", "PRAGMA writable_schema = 1", "VACUUM",
            "CREATE TEMP TABLE balances (account TEXT, balance INTEGER)", "CREATE TEMP VIEW v AS SELECT 1",
            "DELETE FROM balances", "UPDATE totals SET total = 0", "INSERT INTO info VALUES (9, 9)", "DROP TABLE balances",
            "BEGIN", "COMMIT", "SET ROLE postgres", "RESET ROLE", "SET statement_timeout = 0",
            "COPY (SELECT 1) TO PROGRAM 'touch \(marker)'", "COPY balances TO '\(marker)'", "DO $$ BEGIN PERFORM 1; END $$",
            "SELECT 1; DELETE FROM balances", "  -- a comment first\n  DELETE FROM balances", "/* hidden */ ATTACH '\(secret)' AS s",
            "",
        ] { await refused(view, sql) }
        // Functions that reach outside the view, however they are spelled.
        for sql in [
            "SELECT load_extension('/tmp/x')", "SELECT pg_read_file('/etc/passwd')", #"SELECT "pg_read_file"('/etc/passwd')"#,
            "SELECT pg_catalog.set_config('role', 'postgres', false)", "SELECT set_config('statement_timeout', '0', false)",
            "SELECT lo_export(0, '\(marker)')", "SELECT pg_ls_dir('/')", "SELECT dblink_exec('host=x', 'DROP TABLE y')",
            "SELECT * FROM (SELECT set_config('role','postgres',true)) AS escalate",
            // Quotes that used to hide a "comment" from the guard (found by review).
            "SELECT $$--$$ AS a, set_config('role','none',true) AS r, query_to_xml('select pg_read_file(''/etc/hostname'') as f', false, false, '') AS f",
            "SELECT 1 /* /* nested */ pg_read_file('/etc/hostname')",
            #"SELECT U&"set\005fconfig"('role', 'postgres', false)"#, "SELECT database_to_xml(true, true, '')",
        ] { await refused(view, sql) }
        if backend.isPostgres {
            // PostgreSQL's own quotes (on SQLite these are mere syntax errors).
            await refused(view, "SELECT E'\\'--' AS a, pg_read_file('/etc/hostname')")
            await refused(view, "SELECT $x$ unterminated")
            // Under the reader role: other schemas and the catalog's secrets are out of reach.
            #expect(try await view.query(SQLStatement("SELECT current_user AS u")).first?["u"] == .text("stele_view_reader"))
            await refused(view, "SELECT rolpassword FROM pg_authid")
            await refused(view, "WITH x AS (SELECT 1) SELECT * FROM pg_catalog.pg_authid")
            // numeric of any size reads as text (postgres-nio's Decimal decoding traps past
            // Decimal's range: one query stopped the server).
            let numbers = try await view.query(SQLStatement("""
                SELECT 1e200 AS big, 12.50 AS price, -0.00120 AS small, 'NaN'::numeric AS nan, 0.0 AS zero,
                       123456789012345678901234567890.5 AS wide, -1e-130 AS tiny, 10000::numeric AS round, 'infinity'::numeric AS inf
                """)).first
            #expect(numbers?["big"] == .text("1" + String(repeating: "0", count: 200)))
            #expect(numbers?["price"] == .text("12.5") && numbers?["small"] == .text("-0.0012") && numbers?["nan"] == .text("NaN"))
            #expect(numbers?["zero"] == .text("0") && numbers?["wide"] == .text("123456789012345678901234567890.5"))
            #expect(numbers?["tiny"] == .text("-0." + String(repeating: "0", count: 129) + "1") && numbers?["round"] == .text("10000"))
            #expect(numbers?["inf"] == .text("Infinity"))
        }

        // Nothing was written, attached or planted: later queries see the view's own tables.
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try await view.query(SQLStatement("SELECT account, balance FROM balances")) == [["account": .text("acc-1"), "balance": .integer(42)]])
        #expect(try await view.row(in: "balances", key: .text("acc-1"))?["balance"] == .integer(42))
        // Queries themselves still work: WITH, VALUES, parameters, a string that looks like a write.
        #expect(try await view.query(SQLStatement("WITH t AS (SELECT balance FROM balances) SELECT sum(balance) AS s FROM t")).first?["s"] == .integer(42))
        #expect(try await view.query(SQLStatement("SELECT 'DELETE FROM balances; ATTACH x' AS text")).first?["text"] == .text("DELETE FROM balances; ATTACH x"))
        #expect(try await view.query(SQLStatement("SELECT balance FROM balances WHERE account = :a", ["a": .text("acc-1")])).count == 1)
        await view.stop()
        try await store.close()
    }

    @Test(arguments: LocationBackend.all)
    func resultsAreBoundedInRows(backend: LocationBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let view = MaterializedView(projection: VersionedBalances(), store: store, location: try backend.location(directory, "ledger", id))
        try await view.start()
        let many = backend.isPostgres ? "SELECT g FROM generate_series(1, \(QueryLimits.maxRows + 1)) AS g"
            : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x <= \(QueryLimits.maxRows)) SELECT x FROM c"
        await #expect(throws: ViewError.self) {
            do { _ = try await view.query(SQLStatement(many)) } catch let error as ViewError {
                guard case .resultTooLarge = error else { Issue.record("\(error)"); throw error }
                throw error
            }
        }
        #expect(try await view.query(SQLStatement(many + " LIMIT 10")).count == 10)
        await view.stop()
        try await store.close()
    }

    /// Behind the guard, SQLite's authorizer: whatever reaches it may only read and call pure
    /// functions, and nothing it builds may take more memory than a result may.
    @Test func theSQLiteAuthorizerLetsThroughOnlyReading() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let view = MaterializedView(projection: VersionedBalances(), store: store, location: try LocationBackend.all[0].location(directory, "ledger", id))
        try await view.start()
        try await store.append([EventData(type: "Deposited", data: Array("42".utf8))], to: StreamName(category: "accounts", id: "acc-1"))
        try await view.caughtUp()
        // Each passes the guard (no forbidden word) and is stopped by the authorizer.
        for sql in ["SELECT * FROM pragma_table_info('balances')", "SELECT sqlite_version() AS v", "SELECT randomblob(1000000000) AS b",
                    "SELECT zeroblob(1000000000) AS b", "SELECT changes() AS c", "SELECT total_changes() AS c"] {
            #expect(throws: Never.self, "\(sql) passes the guard") { try QueryGuard.check(sql, dialect: .sqlite) }
            await refused(view, sql)
        }
        // A value asked past the result cap is cut or refused, never a gigabyte.
        for sql in ["SELECT printf('%.*c', 1000000000, 'x') AS big", "SELECT replace(printf('%.*c', 30000000, 'x'), 'x', 'xxxx') AS big"] {
            do {
                let rows = try await view.query(SQLStatement(sql))
                let size = rows.first.flatMap { if case let .text(text)? = $0["big"] { text.utf8.count } else { nil } } ?? 0
                #expect(size <= QueryLimits.maxBytes, "\(sql): \(size) bytes")
            } catch let error as ViewError {
                guard case .resultTooLarge = error else { Issue.record("\(sql): \(error)"); continue }
            }
        }
        // Reading stays whole: recursive queries, JSON, dates, windows, parameters.
        #expect(try await view.query(SQLStatement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) SELECT sum(x) AS s FROM c"))
                == [["s": .integer(55)]])
        #expect(try await view.query(SQLStatement(#"SELECT json_extract('{"a":7}', '$.a') AS a, date('2026-12-05') AS d"#))
                == [["a": .integer(7), "d": .text("2026-12-05")]])
        #expect(try await view.query(SQLStatement("SELECT account, row_number() OVER (ORDER BY account) AS n FROM balances WHERE balance >= :min",
                                                  ["min": .integer(1)])) == [["account": .text("acc-1"), "n": .integer(1)]])
        await view.stop()
        try await store.close()
    }

    @Test func theGuardReadsPastStringsCommentsAndQuotes() throws {
        // Ordinary queries pass in both dialects, words starting with e included (found by review).
        for allowed in ["SELECT 1", "select * from balances -- DELETE", "WITH a AS (SELECT 1) SELECT * FROM a", "VALUES (1)",
                        "SELECT 'pg_read_file(' AS x", "SELECT 1;", "SELECT \"pg_read_file\" FROM t",
                        "select case when 1=1 then 2 else 3 end as x", "SELECT 1 AS events", "SELECT e1.a FROM t e1 WHERE exists (SELECT 1)",
                        "SELECT 'a' AS accounts_status", "SELECT 'tu&''x' AS x"] {
            for dialect in [QueryGuard.Dialect.sqlite, .postgres] {
                #expect(throws: Never.self, "\(allowed)") { try QueryGuard.check(allowed, dialect: dialect) }
            }
        }
        for allowed in ["SELECT $$a -- b$$ AS x", "SELECT E'it\\'s' AS x", "SELECT $tag$ '; $tag$ AS x", "SELECT 1 /* a /* b */ c */",
                        "SELECT $ab$ x$a$ab$ AS x", "SELECT $ab$ $xab$ $$ $ab$ AS x", "SELECT $a$ $$a$ AS x",
                        "SELECT (ARRAY[1,2])[1] AS x"] {
            #expect(throws: Never.self, "\(allowed)") { try QueryGuard.check(allowed, dialect: .postgres) }
        }
        for refused in ["EXPLAIN SELECT 1", "PRAGMA table_info(x)", "SELECT 1; SELECT 2", "SELECT `lo_export`(1, 'x')", "SELECT [set_config]('a','b',false)",
                        // In SQLite $$ is no quote, and a word starting with e hides nothing.
                        "SELECT $$ AS a, load_extension('x') AS b --$$", "SELECT exp(0) AS x, load_extension('/tmp/x') --'",
                        "SELECT exp(0) AS x; DELETE FROM balances --'"] {
            #expect(throws: ViewError.self, "\(refused)") { try QueryGuard.check(refused, dialect: .sqlite) }
        }
        // A body of many `$` after a long tag is read in one pass (it took minutes, found by review).
        let long = "SELECT $" + String(repeating: "a", count: 200_000) + "$" + String(repeating: "$", count: 600_000)
        #expect(throws: ViewError.self) { try QueryGuard.check(long, dialect: .postgres) }
        for refused in ["SELECT $ab$ $xab$ AS x, pg_read_file('/etc/passwd') --", "SELECT $ab$ $a$b$ AS x",
                        "SELECT (ARRAY[1])[pg_advisory_lock(1)::int]", "SELECT exp(0) AS x, pg_read_file('/etc/passwd') --'",
                        "SELECT E'\\'' AS a, pg_ls_dir('/')"] {
            #expect(throws: ViewError.self, "\(refused)") { try QueryGuard.check(refused, dialect: .postgres) }
        }
    }
}
