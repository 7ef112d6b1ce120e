import Foundation
import Synchronization
import Testing
import Stele
@testable import SteleProcessors
import SteleCore
import SteleWire

/// Interval joins in processor files: the SQL, its refusals with the line, and runs over a real
/// embedded store — stopped and restarted at random points — compared with every pair computed
/// here by plain loops.
struct JoinDefinitionTests {
    static let shipments = """
        -- Orders shipped within four hours, with the carrier.
        -- @processor shipped_orders
        -- @output shipped
        -- @event-type OrderShipped
        -- @out-of-order 10 minutes
        SELECT o.stream_id AS order_id, o.data.amount AS amount, s.data.carrier AS carrier,
               s.data.at - o.data.at AS waited
        FROM orders AS o
        JOIN shipments s ON s.data.order = o.stream_id
         AND s.data.at BETWEEN o.data.at AND o.data.at + INTERVAL '4' HOURS
        WHERE o.type = 'OrderPlaced' AND s.type = 'OrderShipped' AND s.data.weight <= o.data.amount
        """

    @Test func readsAnIntervalJoin() throws {
        let definition = try ProcessorDefinition.parse(Self.shipments, file: "j.sql")
        #expect(definition.isJoin && definition.window == nil && definition.pattern == nil)
        #expect(definition.sources == ["orders", "shipments"])
        #expect(definition.resultNames == ["order_id", "amount", "carrier", "waited"])
        guard case let .join(query) = definition.statement else { Issue.record("not a join"); return }
        #expect(query.left.alias == "o" && query.right.alias == "s")
        #expect(query.left.key == .attribute(.streamId) && query.right.key == .field(["order"]))
        #expect(query.left.time == .field(["at"]) && query.right.time == .field(["at"]))
        #expect(query.lower == 0 && query.upper == 4 * 3_600_000)
        #expect(query.left.filter != nil && query.right.filter != nil && query.condition != nil)
        // Written the other way round, the bounds are the same.
        let swapped = try ProcessorDefinition.parse("""
            -- @processor p
            SELECT o.stream_id AS id FROM orders o JOIN shipments s ON o.stream_id = s.data.order
            AND o.data.at BETWEEN s.data.at - INTERVAL '4' HOURS AND s.data.at
            """, file: "p.sql")
        guard case let .join(other) = swapped.statement else { Issue.record("not a join"); return }
        #expect(other.lower == 0 && other.upper == 4 * 3_600_000)
    }

    @Test(arguments: [
        ("SELECT o.stream_id AS id\nFROM orders o JOIN shipments s\nON s.data.at BETWEEN o.data.at AND o.data.at + INTERVAL '1' HOUR", 2, "a join is keyed"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id", 2, "bounds its time"),
        ("SELECT stream_id AS id\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id AND s.data.at BETWEEN o.data.at AND o.data.at + INTERVAL '1' HOUR", 1, "stream_id needs its side"),
        ("SELECT x.stream_id AS id\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id AND s.data.at BETWEEN o.data.at AND o.data.at + INTERVAL '1' HOUR", 1, "x is not a side"),
        ("SELECT o.stream_id AS id\nFROM orders o LEFT JOIN shipments s\nON s.data.order = o.stream_id", 2, "LEFT JOIN is run for temporal joins"),
        ("SELECT o.stream_id AS id\nFROM orders o RIGHT JOIN shipments s\nON s.data.order = o.stream_id", 2, "RIGHT and FULL joins are not run"),
        ("SELECT o.stream_id AS id\nFROM orders o LEFT JOIN rates FOR SYSTEM_TIME AS OF o.occurred_at r\nON r.stream_id = o.data.currency AND r.data.rate > o.data.amount", 2, "read one side each"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN orders FOR SYSTEM_TIME AS OF o.occurred_at r\nON r.stream_id = o.data.currency", 2, "another category"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN rates FOR SYSTEM_TIME AS OF r.occurred_at AS r\nON r.stream_id = o.data.currency", 2, "the left side's event time"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN rates FOR SYSTEM_TIME AS OF o.version AS r\nON r.stream_id = o.data.currency", 2, "takes an event time"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN rates FOR SYSTEM_TIME AS OF o.occurred_at AS r\nON r.stream_id = o.data.currency\nAND r.occurred_at BETWEEN o.occurred_at AND o.occurred_at", 2, "no time bound"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN shipments o\nON o.data.order = o.stream_id", 2, "two aliases"),
        ("SELECT *\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id", 1, "names its results"),
        ("SELECT a.stream_id AS id\nFROM cards a JOIN cards b\nON a.stream_id = b.stream_id AND b.occurred_at BETWEEN a.appended_at AND a.appended_at + INTERVAL '1' HOUR", 2, "one event time"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id AND s.data.at BETWEEN o.data.at + INTERVAL '1' HOUR AND o.data.at", 3, "low end is after its high end"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id AND s.version BETWEEN o.version AND o.version", 3, "compares event times"),
        ("SELECT o.stream_id AS id\nFROM orders JOIN shipments s\nON s.data.order = o.stream_id", 2, "alias"),
        ("SELECT data.stream_id AS id\nFROM orders data JOIN shipments s\nON s.data.order = data.stream_id", 2, "data is a column's name"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN prices FOR SYSTEM_TIME AS OF o.occurred_at AS p\nON p.data.sku = o.data.sku AND p.data.store = o.data.store", 2, "keyed by one equality"),
        ("SELECT o.stream_id AS id\nFROM orders o INNER LEFT JOIN rates FOR SYSTEM_TIME AS OF o.occurred_at AS r\nON r.stream_id = o.data.currency", 2, "expected JOIN"),
        ("SELECT stream_id, window_start, COUNT(*) AS n\nFROM TABLE(SESSION(TABLE (SELECT * FROM a UNION ALL SELECT * FROM b) PARTITION BY stream_id, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY stream_id, window_start, window_end", 2, "a SESSION window reads one category"),
        ("SELECT COUNT(*) AS n\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id", 1, "is an aggregate"),
        ("SELECT o.stream_id AS id, s.data.x AS id\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id AND s.data.at BETWEEN o.data.at AND o.data.at + INTERVAL '1' HOUR", 1, "two results are named id"),
        ("SELECT o.stream_id AS id\nFROM orders o JOIN shipments s\nON s.data.order = o.stream_id AND s.data.at BETWEEN o.data.at AND o.data.at + INTERVAL '1' HOUR\nAND s.data.at BETWEEN o.data.at AND o.data.at + INTERVAL '2' HOUR", 4, "two time bounds"),
    ] as [(String, Int, String)])
    func refusesWithTheLine(sql: String, line: Int, reason: String) {
        do {
            _ = try ProcessorDefinition.parse("-- @processor p\n" + sql, file: "p.sql")
            Issue.record("accepted: \(sql)")
        } catch {
            #expect(error.line == line + 1, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
        }
    }

    static let rates = """
        -- Orders in euros at the rate current when each was placed.
        -- @processor orders_in_euros
        -- @output orders-eur
        -- @out-of-order 10 minutes
        SELECT o.stream_id AS order_id, o.data.amount * r.data.rate AS euros, r.data.rate AS rate
        FROM orders o
        JOIN_KIND rates FOR SYSTEM_TIME AS OF o.data.at AS r ON r.stream_id = o.data.currency
        WHERE o.type = 'OrderPlaced' AND r.type = 'RateSet'
        """

    @Test func readsATemporalJoin() throws {
        let definition = try ProcessorDefinition.parse(Self.rates.replacingOccurrences(of: "JOIN_KIND", with: "LEFT OUTER JOIN"), file: "r.sql")
        #expect(definition.isJoin && definition.sources == ["orders", "rates"])
        guard case let .join(query) = definition.statement else { Issue.record("not a join"); return }
        #expect(query.temporal && query.outer)
        #expect(query.left.time == .field(["at"]) && query.right.time == .field(["at"]))
        #expect(query.left.key == .field(["currency"]) && query.right.key == .attribute(.streamId))
        #expect(query.right.filter != nil && query.condition == nil)
        #expect(RunningProcessor.describe(definition).contains("LEFT JOIN rates r AS OF o.data.at"))
    }

    /// Orders in several currencies and rate changes; each order placed at a time no rate change
    /// shares. Expected by loops: the latest rate of its currency before it.
    static func ratesTraffic(seed: UInt64) -> (orders: [(id: String, currency: String, amount: Int64, at: Int64)], rates: [(currency: String, rate: Int64, at: Int64)]) {
        var random = SplitMix64(seed: seed)
        var orders: [(id: String, currency: String, amount: Int64, at: Int64)] = []
        var rates: [(currency: String, rate: Int64, at: Int64)] = []
        var time: Int64 = 1_800_000_000_000
        for index in 0..<600 {
            time += 2 * Int64(1 + random.next() % 30_000)
            let currency = ["usd", "gbp", "chf", "yen"][Int(random.next() % 4)]
            if random.next() % 4 == 0 && currency != "yen" {
                rates.append((currency, Int64(1 + random.next() % 9), time + 1))
            } else {
                orders.append(("order-\(index)", currency, Int64(1 + random.next() % 100), time))
            }
        }
        return (orders, rates)
    }

    static func appendRates(_ traffic: (orders: [(id: String, currency: String, amount: Int64, at: Int64)], rates: [(currency: String, rate: Int64, at: Int64)]),
                            to store: EventStore) async throws {
        for order in traffic.orders {
            try await store.append([EventData(type: "OrderPlaced", data: Array(#"{"currency":"\#(order.currency)","amount":\#(order.amount),"at":\#(order.at)}"#.utf8))],
                                   to: StreamName(category: "orders", id: order.id))
        }
        for rate in traffic.rates {
            try await store.append([EventData(type: "RateSet", data: Array(#"{"rate":\#(rate.rate),"at":\#(rate.at)}"#.utf8)),
                                    EventData(type: "RateNoted", data: Array(#"{"rate":0,"at":\#(rate.at)}"#.utf8))],
                                   to: StreamName(category: "rates", id: rate.currency))
        }
    }

    static func expectedEuros(_ traffic: (orders: [(id: String, currency: String, amount: Int64, at: Int64)], rates: [(currency: String, rate: Int64, at: Int64)]),
                              outer: Bool) -> Set<String> {
        var expected: Set<String> = []
        for order in traffic.orders {
            if let rate = traffic.rates.last(where: { $0.currency == order.currency && $0.at <= order.at }) {
                expected.insert("\(order.id) \(order.amount * rate.rate) \(rate.rate)")
            } else if outer {
                expected.insert("\(order.id) null null")
            }
        }
        return expected
    }

    static func euros(in store: EventStore) async throws -> [String] {
        var results: [String] = []
        var after = CategoryCheckpoint.start
        while true {
            let page = try await store.readCategory("orders-eur", after: after, limit: 1_000)
            if page.events.isEmpty { break }
            for event in page.events {
                guard let value = JSONValue.parse(event.data), case let .string(id)? = value.member("order_id") else { Issue.record("unexpected output"); continue }
                func text(_ member: JSONValue?) -> String { if case let .integer(number)? = member { "\(number)" } else { "null" } }
                results.append("\(id) \(text(value.member("euros"))) \(text(value.member("rate")))")
            }
            after = page.next
        }
        return results
    }

    @Test(arguments: [false, true])
    func joinsEachOrderWithTheRateOfItsTime(outer: Bool) async throws {
        try await withProcessorStore { store in
            let traffic = Self.ratesTraffic(seed: outer ? 3 : 4)
            try await Self.appendRates(traffic, to: store)
            let definition = try ProcessorDefinition.parse(Self.rates.replacingOccurrences(of: "JOIN_KIND", with: outer ? "LEFT JOIN" : "JOIN"), file: "r.sql")
            let checkpoints = InMemoryCheckpointStore()
            try await Self.runStoppedAndRestarted(definition, store: store, checkpoints: checkpoints, times: 5, seed: outer ? 5 : 6, within: 300)
            // The last orders wait for a later time: rows far ahead on both sides move the
            // watermark (rows the conditions leave out do not: they are not the join's).
            try await store.append([EventData(type: "OrderPlaced", data: Array(#"{"currency":"none","amount":0,"at":9000000000000}"#.utf8))],
                                   to: StreamName(category: "orders", id: "clock"))
            try await store.append([EventData(type: "RateSet", data: Array(#"{"rate":1,"at":9000000000000}"#.utf8))], to: StreamName(category: "rates", id: "clock"))
            try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
            let results = try await Self.euros(in: store)
            let expected = Self.expectedEuros(traffic, outer: outer)
            #expect(results.count == Set(results).count, "an order written twice")
            #expect(Set(results) == expected, "missing \(expected.subtracting(results).sorted().prefix(8)), extra \(Set(results).subtracting(expected).sorted().prefix(8))")
            #expect(expected.count > 300)
            if outer { #expect(expected.contains { $0.hasSuffix("null null") }) }
        }
    }

    /// A key with more outputs than the store's id window (its stream's last 1,000 events): a
    /// second run over the same events, from the checkpoints, writes none of them again (a
    /// reviewer's find: the replay from the oldest row held wrote 1,081 pairs twice).
    @Test func aRunAgainWritesNoPairTwicePastTheStoresWindow() async throws {
        try await withProcessorStore { store in
            for second in 0..<46 {
                try await store.append([EventData(type: "Swiped", data: Array(#"{"at":\#(1_800_000_000_000 + Int64(second) * 1_000)}"#.utf8))],
                                       to: StreamName(category: "cards", id: "c1"))
            }
            let definition = try ProcessorDefinition.parse("""
                -- @processor swipes
                SELECT a.stream_id AS card, a.data.at AS first, b.data.at AS second FROM cards a JOIN cards b
                ON a.stream_id = b.stream_id AND b.data.at BETWEEN a.data.at AND a.data.at + INTERVAL '15' MINUTES
                """, file: "s.sql")
            let checkpoints = InMemoryCheckpointStore()
            try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
            try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
            let outputs = try await store.read(StreamName(category: "swipes", id: "c1"))
            #expect(outputs.count == 46 * 47 / 2)
            #expect(Set(outputs.compactMap(\.id)).count == outputs.count)
        }
    }

    /// A replay judges each row late or not as the first run did: the sources' newest times
    /// before the replay point are kept with it (a reviewer's find: a4, late in the first run,
    /// was taken by the replay and paired with b5).
    @Test func aReplayJudgesLatenessAsTheFirstRun() async throws {
        try await withProcessorStore { store in
            func append(_ category: String, _ key: Int, _ time: Int64) async throws {
                try await store.append([EventData(type: "Row", data: Array(#"{"k":\#(key),"t":\#(time)}"#.utf8))], to: StreamName(category: category, id: "s\(time)"))
            }
            try await append("lefts", 8, 101)
            try await append("lefts", 1, 103)
            try await append("lefts", 1, 99)
            try await append("rights", 9, 100)
            try await append("rights", 1, 106)
            let definition = try ProcessorDefinition.parse("""
                -- @processor pairs
                SELECT a.data.t AS left, b.data.t AS right FROM lefts a JOIN rights b
                ON b.data.k = a.data.k AND b.data.t BETWEEN a.data.t + INTERVAL '5' MS AND a.data.t + INTERVAL '10' MS
                """, file: "p.sql")
            let checkpoints = InMemoryCheckpointStore()
            try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
            try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
            let pairs = try await store.readCategory("pairs", after: .start, limit: 100).events
            let dead = try await store.readCategory("pairs-dead-letters", after: .start, limit: 100).events
            #expect(pairs.isEmpty, "\(pairs.map { String(decoding: $0.data, as: UTF8.self) })")
            #expect(dead.count == 1)
        }
    }

    /// In a category joined with itself, a row one side cannot key is still the other side's.
    @Test func aRowOneSideCannotKeyIsTheOthers() async throws {
        try await withProcessorStore { store in
            try await store.append([EventData(type: "Paid", data: Array(#"{"payment":"p1","at":1000}"#.utf8))], to: StreamName(category: "payments", id: "p1"))
            try await store.append([EventData(type: "Refunded", data: Array(#"{"payment":"r1","refund_of":"p1","at":2000}"#.utf8))], to: StreamName(category: "payments", id: "r1"))
            let definition = try ProcessorDefinition.parse("""
                -- @processor refunds
                SELECT x.data.payment AS payment, y.data.payment AS refund FROM payments x JOIN payments y
                ON y.data.refund_of = x.data.payment AND y.data.at BETWEEN x.data.at AND x.data.at + INTERVAL '30' DAYS
                """, file: "r.sql")
            try await definition.makeRunnable(store: store, checkpoints: InMemoryCheckpointStore()).runUntilCaughtUp()
            let refunds = try await store.read(StreamName(category: "refunds", id: "p1"))
            #expect(refunds.count == 1)
            #expect(try await store.readCategory("refunds-dead-letters", after: .start, limit: 10).events.isEmpty)
        }
    }

    /// Two categories merged by time meet in another order once more events are stored: a row
    /// read before the checkpoint may pair on the next run with one appended since, with an
    /// earlier time — that pair is new, and written (a reviewer's find: it was skipped as if the
    /// first run had written it).
    @Test func aPairWithARowAppendedSinceIsWritten() async throws {
        try await withProcessorStore { store in
            let definition = try ProcessorDefinition.parse("""
                -- @processor pairs
                -- @out-of-order 1 minute
                SELECT a.data.t AS left, b.data.t AS right FROM lefts a JOIN rights b
                ON b.data.k = a.data.k AND b.data.t BETWEEN a.data.t - INTERVAL '1' MINUTE AND a.data.t + INTERVAL '1' MINUTE
                """, file: "p.sql")
            let checkpoints = InMemoryCheckpointStore()
            try await store.append([EventData(type: "Row", data: Array(#"{"k":1,"t":100000}"#.utf8))], to: StreamName(category: "lefts", id: "a"))
            try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
            try await store.append([EventData(type: "Row", data: Array(#"{"k":1,"t":90000}"#.utf8))], to: StreamName(category: "rights", id: "x"))
            try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
            let pairs = try await store.readCategory("pairs", after: .start, limit: 10).events
            #expect(pairs.count == 1)
            #expect(try await store.readCategory("pairs-dead-letters", after: .start, limit: 10).events.isEmpty)
        }
    }

    /// A table row whose time is outside any calendar is a dead letter and moves no watermark:
    /// the stream's rows after it still meet their versions.
    @Test func aTableRowOutOfRangeIsADeadLetter() async throws {
        try await withProcessorStore { store in
            let definition = try ProcessorDefinition.parse(Self.rates.replacingOccurrences(of: "JOIN_KIND", with: "JOIN"), file: "r.sql")
            func rate(_ rate: Int, at: String) async throws {
                try await store.append([EventData(type: "RateSet", data: Array(#"{"rate":\#(rate),"at":\#(at)}"#.utf8))], to: StreamName(category: "rates", id: "usd"))
            }
            try await rate(2, at: "1000")
            try await rate(3, at: "9000000000000000000")
            for (index, at) in [2_000, 3_000, 4_000].enumerated() {
                try await store.append([EventData(type: "OrderPlaced", data: Array(#"{"currency":"usd","amount":10,"at":\#(at)}"#.utf8))],
                                       to: StreamName(category: "orders", id: "order-\(index)"))
            }
            try await store.append([EventData(type: "OrderPlaced", data: Array(#"{"currency":"none","amount":0,"at":9000000000000}"#.utf8))], to: StreamName(category: "orders", id: "clock"))
            try await rate(1, at: "9000000000000")
            try await definition.makeRunnable(store: store, checkpoints: InMemoryCheckpointStore()).runUntilCaughtUp()
            #expect(try await Self.euros(in: store).sorted() == ["order-0 20 2", "order-1 20 2", "order-2 20 2"])
            #expect(try await store.readCategory("orders_in_euros-dead-letters", after: .start, limit: 10).events.count == 1)
        }
    }

    /// Windows over two categories (a UNION ALL), crashed at random checkpoint writes (a save
    /// that throws, the points of the two categories torn apart included) and restarted: every
    /// window once, equal to a GROUP BY over both computed here.
    @Test func windowsOverSeveralSources() async throws {
        try await withProcessorStore { store in
            let definition = try ProcessorDefinition.parse("""
                -- @processor spent
                -- @out-of-order 1 minute
                SELECT stream_id AS account, window_start, COUNT(*) AS n, SUM(data.amount) AS total
                FROM TABLE(TUMBLE(TABLE (SELECT * FROM atm UNION ALL SELECT * FROM card), DESCRIPTOR(data.at), INTERVAL '10' MINUTES))
                WHERE type = 'Spent'
                GROUP BY stream_id, window_start, window_end
                """, file: "s.sql")
            #expect(definition.sources == ["atm", "card"])
            var random = SplitMix64(seed: 12)
            var expected: [String: (Int64, Int64)] = [:]
            var time: Int64 = 1_800_000_000_000
            for _ in 0..<600 {
                time += Int64(random.next() % 20_000)
                let (category, account, amount) = (random.next() % 2 == 0 ? "atm" : "card", "acct-\(random.next() % 4)", Int64(random.next() % 500))
                let at = time - Int64(random.next() % 30_000)
                try await store.append([EventData(type: "Spent", data: Array(#"{"amount":\#(amount),"at":\#(at)}"#.utf8))], to: StreamName(category: category, id: account))
                let start = at / 600_000 * 600_000
                let (n, total) = expected["\(account) \(ISO8601Milliseconds.format(start))"] ?? (0, 0)
                expected["\(account) \(ISO8601Milliseconds.format(start))"] = (n + 1, total + amount)
            }
            // Far ahead in both: every window of the traffic closes.
            for category in ["atm", "card"] {
                try await store.append([EventData(type: "Spent", data: Array(#"{"amount":0,"at":9000000000000}"#.utf8))], to: StreamName(category: category, id: "clock"))
            }
            // A checkpoint every 5 events: crashes all along the 1,202 events.
            let crashes = try await Self.runCrashingAtSaves(seed: 13) { checkpoints in
                var processor = definition.makeProcessor(store: store, checkpoints: checkpoints)
                processor.checkpointEvery = 5
                return processor
            }
            #expect(crashes > 5)
            var found: [String: (Int64, Int64)] = [:]
            var count = 0
            for event in try await store.readCategory("spent", after: .start, limit: 10_000).events {
                guard let value = JSONValue.parse(event.data), case let .string(account)? = value.member("account"), case let .string(start)? = value.member("window_start"),
                      case let .integer(n)? = value.member("n"), case let .integer(total)? = value.member("total") else { Issue.record("unexpected output"); continue }
                found["\(account) \(start)"] = (n, total)
                count += 1
            }
            #expect(count == found.count, "a window written twice")
            #expect(found.count == expected.count)
            #expect(found.allSatisfy { key, value in expected[key].map { $0 == value } ?? false })
            #expect(try await store.readCategory("spent-dead-letters", after: .start, limit: 10).events.isEmpty)
        }
    }

    @Test func latenessIsForWindows() {
        #expect(throws: ProcessorDefinitionError.self) {
            try ProcessorDefinition.parse("-- @lateness 1 minute\n" + Self.shipments, file: "j.sql")
        }
    }

    /// Generated orders and shipments: some shipped in time, some late or too heavy, some never,
    /// some for orders that do not exist; times out of order by up to a minute.
    struct Traffic {
        var orders: [(id: String, amount: Int64, at: Int64)] = []
        var shipments: [(order: String, carrier: String, weight: Int64, at: Int64)] = []
        var noise = 0
    }

    static func traffic(seed: UInt64, orders count: Int) -> Traffic {
        var random = SplitMix64(seed: seed)
        var traffic = Traffic()
        var time: Int64 = 1_800_000_000_000
        for index in 0..<count {
            time += Int64(random.next() % 120_000)
            let id = "order-\(index)"
            traffic.orders.append((id, Int64(10 + random.next() % 90), time - Int64(random.next() % 60_000)))
            for _ in 0..<(random.next() % 3) {
                // Up to six hours later (so some are past the four allowed), a few before the order.
                let delay = Int64(random.next() % (6 * 3_600_000)) - 600_000
                traffic.shipments.append((id, ["dhl", "ups", "la-poste"][Int(random.next() % 3)], Int64(random.next() % 120), time + delay))
            }
            if random.next() % 10 == 0 { traffic.shipments.append(("ghost-\(index)", "dhl", 1, time)) }
        }
        traffic.shipments.sort { $0.at < $1.at }
        return traffic
    }

    /// Every pair by definition: same order, shipped within [0, 4 h] of it, no heavier than its amount.
    static func expected(_ traffic: Traffic) -> Set<String> {
        var pairs: Set<String> = []
        for order in traffic.orders {
            for shipment in traffic.shipments where shipment.order == order.id {
                let waited = shipment.at - order.at
                guard waited >= 0, waited <= 4 * 3_600_000, shipment.weight <= order.amount else { continue }
                pairs.insert("\(order.id) \(order.amount) \(shipment.carrier) \(waited)")
            }
        }
        return pairs
    }

    static func append(_ traffic: Traffic, to store: EventStore) async throws {
        for order in traffic.orders {
            try await store.append([EventData(type: "OrderPlaced", data: Array(#"{"amount":\#(order.amount),"at":\#(order.at)}"#.utf8))],
                                   to: StreamName(category: "orders", id: order.id))
            // Other events of the category, which the join's filter leaves out.
            try await store.append([EventData(type: "OrderNoted", data: Array(#"{"at":\#(order.at)}"#.utf8))], to: StreamName(category: "orders", id: order.id))
        }
        for shipment in traffic.shipments {
            let data = #"{"order":"\#(shipment.order)","carrier":"\#(shipment.carrier)","weight":\#(shipment.weight),"at":\#(shipment.at)}"#
            try await store.append([EventData(type: "OrderShipped", data: Array(data.utf8))], to: StreamName(category: "shipments", id: "s-\(shipment.order)"))
        }
    }

    static func results(in store: EventStore) async throws -> [String] {
        var results: [String] = []
        var after = CategoryCheckpoint.start
        while true {
            let page = try await store.readCategory("shipped", after: after, limit: 1_000)
            if page.events.isEmpty { break }
            for event in page.events {
                guard let value = JSONValue.parse(event.data), case let .string(id)? = value.member("order_id"), event.stream.id == id,
                      case let .integer(amount)? = value.member("amount"), case let .string(carrier)? = value.member("carrier"),
                      case let .integer(waited)? = value.member("waited") else { Issue.record("unexpected output \(event)"); continue }
                #expect(event.type == "OrderShipped")
                results.append("\(id) \(amount) \(carrier) \(waited)")
            }
            after = page.next
        }
        return results
    }

    @Test func writesEveryPairOnce() async throws {
        try await withProcessorStore { store in
            let traffic = Self.traffic(seed: 7, orders: 400)
            try await Self.append(traffic, to: store)
            let definition = try ProcessorDefinition.parse(Self.shipments, file: "j.sql")
            try await definition.makeRunnable(store: store, checkpoints: InMemoryCheckpointStore()).runUntilCaughtUp()
            let results = try await Self.results(in: store)
            let expected = Self.expected(traffic)
            #expect(expected.count > 100)
            #expect(results.count == Set(results).count, "a pair written twice")
            #expect(Set(results) == expected)
        }
    }

    /// Stopped after a random number of events, ten times, each restart from the checkpoints:
    /// the same pairs, each once.
    @Test func stoppedAndRestartedWritesTheSamePairs() async throws {
        try await withProcessorStore { store in
            let traffic = Self.traffic(seed: 8, orders: 400)
            try await Self.append(traffic, to: store)
            let definition = try ProcessorDefinition.parse(Self.shipments, file: "j.sql")
            let checkpoints = InMemoryCheckpointStore()
            try await Self.runStoppedAndRestarted(definition, store: store, checkpoints: checkpoints, times: 10, seed: 8, within: 200)
            let results = try await Self.results(in: store)
            #expect(results.count == Set(results).count, "a pair written twice")
            #expect(Set(results) == Self.expected(traffic))
        }
    }

    /// Runs a processor stopped after a random number of events read (or when caught up),
    /// `times` times, each restart from the checkpoints, then once to the end.
    static func runStoppedAndRestarted(_ definition: ProcessorDefinition, store: EventStore, checkpoints: any CheckpointStore,
                                       times: Int, seed: UInt64, within: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        for _ in 0..<times {
            let stopAfter = Int64(20 + random.next() % within)
            let stopped = Mutex(false)
            var processor = definition.makeRunnable(store: store, checkpoints: checkpoints)
            processor.onProgress = { progress in if progress.eventsRead >= stopAfter { stopped.withLock { $0 = true } } }
            let running = Task { [processor] in
                defer { stopped.withLock { $0 = true } }
                try await processor.runUntilCaughtUp()
            }
            while !stopped.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(2)) }
            running.cancel()
            _ = await running.result
        }
        try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
    }

    /// Runs a processor that crashes at a random checkpoint write (after 1 to 200 of them: the
    /// outputs before it written, the checkpoint torn or not taken) until a run completes.
    /// Returns how many crashes it took.
    static func runCrashingAtSaves(seed: UInt64, _ make: (any CheckpointStore) -> any RunnableProcessor) async throws -> Int {
        let checkpoints = InMemoryCheckpointStore()
        var random = SplitMix64(seed: seed)
        var crashes = 0
        for _ in 0..<10_000 {
            let crashing = CrashingCheckpointStore(inner: checkpoints, budget: Int(1 + random.next() % 200))
            do {
                try await make(crashing).runUntilCaughtUp()
                return crashes
            } catch is SimulatedCrash {
                crashes += 1
                continue
            } catch is SimulatedCrash {
                continue
            }
        }
        Issue.record("the processor never finished between crashes")
        return crashes
    }
}

struct SimulatedCrash: Error {}

/// A checkpoint store whose writes fail once a budget of them is spent: a crash at that write.
final class CrashingCheckpointStore: CheckpointStore {
    let inner: any CheckpointStore
    let budget: Mutex<Int>

    init(inner: any CheckpointStore, budget: Int) {
        self.inner = inner
        self.budget = Mutex(budget)
    }

    func load(_ name: String) async throws -> CategoryCheckpoint? { try await inner.load(name) }

    func save(_ checkpoint: CategoryCheckpoint, for name: String) async throws {
        let spent = budget.withLock { left -> Bool in
            left -= 1
            return left < 0
        }
        if spent { throw SimulatedCrash() }
        try await inner.save(checkpoint, for: name)
    }
}
