import Foundation
import Testing
import Stele
import SteleExamples
import SteleStore
import SteleViews
import SteleEmbedded
import SteleWire

struct ViewDefinitionTests {
    let directory = NSTemporaryDirectory() + "stele-viewdefs-" + UUID().uuidString
    let id = UUID().uuidString.prefix(8).lowercased()

    @Test(arguments: LocationBackend.all)
    func theExampleViewsFoldTheExamples(backend: LocationBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await Stele.EventStore.open(.embedded(path: directory + "/data"))
        try await Demos.bank(store: store, account: "ada", print: { _ in })
        try await Demos.cart(store: store, cart: "cart-1", print: { _ in })
        _ = try await Demos.inventory(store: store, sku: "trousers", print: { _ in })

        let loaded = try ViewDirectory.load(exampleViews)
        #expect(loaded.problems.isEmpty, "\(loaded.problems)")
        #expect(Set(loaded.definitions.map(\.name)) == ["balances", "cart_lines", "fraud_alerts", "stock"])
        var views: [String: MaterializedView] = [:]
        // cart_lines uses SQLite's json_each; the other two are portable SQL.
        for definition in loaded.definitions where !(backend.isPostgres && definition.name == "cart_lines") {
            let view = MaterializedView(projection: definition, store: store, location: try backend.location(directory, definition.name, id))
            try await view.start()
            try await view.caughtUp()
            views[definition.name] = view
        }

        let ada = try await views["balances"]!.row(in: "balances", key: .text("ada"))
        #expect(ada?["owner"] == .text("Ada"))
        #expect(ada?["balance"] == .integer(130), "open 100, deposit 50, withdraw 20")
        #expect(ada?["deposits"] == .integer(1) && ada?["withdrawals"] == .integer(1))

        let stock = try await views["stock"]!.row(in: "stock", key: .text("trousers"))
        #expect(stock?["available"] == .integer(25))
        #expect(stock?["received"] == .integer(70) && stock?["shipped"] == .integer(52) && stock?["returned"] == .integer(7))
        let orders = try await views["stock"]!.query(SQLStatement("SELECT order_id, shipped, returned FROM orders WHERE item = :item ORDER BY order_id", ["item": .text("trousers")]))
        #expect(orders.map { $0["order_id"] } == [.text("order-1"), .text("order-2"), .text("order-3")])
        #expect(orders.map { $0["returned"] } == [.integer(2), .integer(0), .integer(5)])

        if let carts = views["cart_lines"] {
            let lines = try await carts.query(SQLStatement("SELECT sku, quantity FROM cart_lines WHERE cart = 'cart-1'"))
            #expect(lines == [["sku": .text("trousers"), "quantity": .integer(1)]], "3 added, 2 removed")
            let cart = try await carts.row(in: "carts", key: .text("cart-1"))
            #expect(cart?["status"] == .text("checked out") && cart?["steps"] == .integer(3))
            let checkedOut = try await carts.query(SQLStatement("SELECT sku, quantity FROM checkout_lines WHERE cart = 'cart-1'"))
            #expect(checkedOut == [["sku": .text("trousers"), "quantity": .integer(1)]])
        }
        for view in views.values { await view.stop() }
        try await store.close()
    }

    @Test(arguments: [
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A (x integer)\nINSERT INTO t VALUES (:data.y);\n", 4, "unknown event field :data.y: @on A declares x"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A (x money)\nINSERT INTO t VALUES (:data.x);\n", 3, "unknown type 'money'"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A\nINSERT INTO t VALUES (:streamid);\n", 4, "unknown parameter :streamid"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT)\n-- @on A\nINSERT INTO t VALUES (:stream_id);\n", 3, "is a ';' missing after the statement on line 2"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A\nINSERT INTO t VALUES ('unclosed);\n", 4, "string not closed"),
        ("-- @categories __internal\nCREATE TABLE t (a TEXT);\n", 1, "reserved"),
        ("-- @categories accounts\n-- @on-error retry\n", 2, "@on-error is stop or park"),
        ("-- @categories accounts\n-- @frobnicate\n", 2, "unknown directive @frobnicate"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n", 1, "folds no event"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A\n-- @on B\nINSERT INTO t VALUES (1);\n", 3, "@on A has no statement"),
        ("-- @view bad-name\n-- @categories accounts\n", 1, "may hold only letters"),
        // A view's bookkeeping tables are out of its reach, however they are spelt.
        ("-- @categories accounts\nCREATE TABLE stele_checkpoints (a TEXT);\n", 2, "'stele_checkpoints': names beginning with stele_"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A\nDELETE FROM \"STELE_parked\";\n", 4, "'STELE_parked'"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A\nUPDATE main.Stele_View_Format SET format = 9;\n", 4, "'Stele_View_Format'"),
        ("-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A\nDELETE FROM 'stele_parked';\n", 4, "'stele_parked'"),
    ] as [(String, Int, String)])
    func aBrokenDefinitionNamesFileLineAndReason(text: String, line: Int, reason: String) throws {
        do {
            _ = try ViewDefinition.parse(text, file: "broken.sql", defaultName: "broken")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.file == "broken.sql")
            #expect(error.line == line, "\(error)")
            #expect(error.description.contains(reason), "\(error)")
        }
    }

    @Test(arguments: LocationBackend.all)
    func aStatementMistakeIsFoundWhenTheViewOpens(backend: LocationBackend) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        let cases = [
            ("syntax", "-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A\nINSRT INTO t VALUES (:stream_id);\n", "syntax.sql:4:"),
            ("column", "-- @categories accounts\nCREATE TABLE t (a TEXT);\n-- @on A\nINSERT INTO t (b) VALUES (:stream_id);\n", "column.sql:4:"),
            ("tables", "-- @categories accounts\nCREATE TABLE t (a TEXT;\n-- @on A\nINSERT INTO t VALUES (:stream_id);\n", "tables.sql:2:"),
        ]
        for (name, text, origin) in cases {
            let definition = try ViewDefinition.parse(text, file: name + ".sql", defaultName: name)
            let view = MaterializedView(projection: definition, store: store, location: try backend.location(directory, name, id))
            do {
                try await view.start()
                Issue.record("\(name): the view started")
            } catch {
                #expect("\(error)".hasPrefix(origin), "\(error)")
                guard case let .failed(reason) = await view.status().state else { Issue.record("\(name): not failed"); continue }
                #expect(reason.hasPrefix(origin))
            }
            await view.stop()
        }
        try await store.close()
    }

    /// One file per kind of mistake beside a good one: the good view runs, each broken one says
    /// what is wrong and where.
    @Test func brokenViewsHurtNoOtherView() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = directory + "/defs"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        let table = "CREATE TABLE totals (account TEXT PRIMARY KEY, total INTEGER NOT NULL);\n"
        let upsert = "INSERT INTO totals VALUES (:stream_id, :data.amount) ON CONFLICT (account) DO UPDATE SET total = totals.total + :data.amount;\n"
        let sources = [
            "good": "-- @categories accounts\n\(table)-- @on Deposited (amount integer)\n\(upsert)",
            "syntax": "-- @categories accounts\n\(table)-- @on Deposited (amount integer)\nINSERT INTO totals VALUES (:stream_id, :data.amount\n",
            "unknown_field": "-- @categories accounts\n\(table)-- @on Deposited (amount integer)\nINSERT INTO totals VALUES (:stream_id, :data.amuont);\n",
            "mismatch": "-- @categories accounts\n\(table)-- @on Deposited (amount text)\n\(upsert)",
        ]
        for (name, text) in sources { try text.write(toFile: files + "/\(name).sql", atomically: true, encoding: .utf8) }
        let loaded = try ViewDirectory.load(files)
        #expect(loaded.definitions.map(\.name) == ["good", "mismatch"])
        #expect(loaded.problems.map(\.description).sorted() == [
            files + "/syntax.sql:4: the last statement does not end with ';'",
            files + "/unknown_field.sql:4: unknown event field :data.amuont: @on Deposited declares amount",
        ])

        let store = EventStore(try await EmbeddedEventStorage.open(path: directory + "/data", flushPolicy: .os))
        for amount in [5, 7] {
            try await store.append([EventData(type: "Deposited", data: Array(#"{"amount":\#(amount)}"#.utf8))], to: StreamName(category: "accounts", id: "a"))
        }
        var views: [MaterializedView] = []
        for definition in loaded.definitions {
            let view = MaterializedView(projection: definition, store: store, location: try SQLiteViewLocation(directory: directory + "/views", name: definition.name, queryTimeout: .seconds(60)))
            try await view.start()
            views.append(view)
        }
        try await views[0].caughtUp()
        #expect(try await views[0].row(in: "totals", key: .text("a"))?["total"] == .integer(12))
        try await eventually("the mismatched view to stop") {
            if case .failed = await views[1].status().state { true } else { false }
        }
        guard case let .failed(reason) = await views[1].status().state else { return }
        #expect(reason.contains("stopped at event 0 of accounts/a"), "\(reason)")
        #expect(reason.contains("mismatch.sql:4: the Deposited event's field amount is a number, declared text"), "\(reason)")
        // The good view keeps following the log.
        try await store.append([EventData(type: "Deposited", data: Array(#"{"amount":1}"#.utf8))], to: StreamName(category: "accounts", id: "a"))
        try await views[0].caughtUp()
        #expect(try await views[0].row(in: "totals", key: .text("a"))?["total"] == .integer(13))
        for view in views { await view.stop() }
        try await store.close()
    }

    /// The prefix is refused in names only: text, comments and longer words are not names.
    @Test func stelePrefixInLiteralsCommentsAndOtherWordsIsAccepted() throws {
        let text = """
            -- @categories accounts
            -- stele_checkpoints is mentioned in a comment only
            CREATE TABLE notes (text TEXT, my_stele_count INTEGER);
            -- @on A
            INSERT INTO notes VALUES ('stele_parked is just text', 1); /* stele_x */
            """
        #expect(throws: Never.self) { _ = try ViewDefinition.parse(text, file: "fine.sql", defaultName: "fine") }
    }

    @Test func parametersAreRenamedOutsideQuotesAndComments() throws {
        let definition = try ViewDefinition.parse("""
            -- @categories accounts
            CREATE TABLE t (a TEXT, b TEXT);
            -- @on A (x.y text, z integer?)
            INSERT INTO t VALUES (:data.x.y, ':data.x.y /* */ -- :version') /* :stream */; -- :data.z
            """, file: "t.sql", defaultName: "t")
        let check = definition.checks[0]
        #expect(check.sql == "INSERT INTO t VALUES (:p1, ':data.x.y /* */ -- :version')", "block comments dropped, quotes kept")
        let event = RecordedEvent(stream: StreamName(category: "accounts", id: "s"), version: 0, position: EventPosition(partition: 0, offset: 0),
                                  id: nil, type: "A", schemaVersion: 1, data: Array(#"{"x":{"y":"deep"}}"#.utf8), appendedAt: Date(), metadata: EventMetadata())
        #expect(try definition.statements(for: event).map(\.parameters) == [["p1": .text("deep")]])
    }

    @Test func jsonValuesParseAsRFC8259Says() {
        #expect(JSONValue.parse(Array(#"{"a":[1,-2.5e1,true,null,"\u00e9\ud83d\ude00\n"]}"#.utf8))
            == .object(["a": .array([.integer(1), .number(-25), .bool(true), .null, .string("é😀\n")])]))
        #expect(JSONValue.parse(Array("9223372036854775807".utf8)) == .integer(.max))
        #expect(JSONValue.parse(Array("9223372036854775808".utf8)) == .number(9_223_372_036_854_775_808))
        for bad in ["", "{", "[1,]", "01", "1.", "\"\\x\"", "\"\u{01}\"", "tru", "{\"a\" 1}", "1 2", "\"\\ud800\""] {
            #expect(JSONValue.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
        #expect(JSONValue.parse(Array(String(repeating: "[", count: 100_000).utf8)) == nil, "deep nesting is refused, not a crash")
        // Beyond a Double's range: refused, never turned into infinity and written back as null.
        for huge in ["1e400", "-1.5e30078", "[0, 1E309]"] {
            #expect(JSONValue.parse(Array(huge.utf8)) == nil, "\(huge)")
        }
        #expect(JSONValue.parse(Array("1e-400".utf8)) == .number(0), "underflow to zero is a value JSON can write back")
    }
}
