import Foundation
import Testing
import Stele
@testable import SteleProcessors
import SteleCore
import SteleWire

/// Processor files: what the SQL says, what it refuses (with the line), and what it computes
/// over a real embedded store compared with the same aggregation computed here by hand.
struct ProcessorDefinitionTests {
    static let bursts = """
        -- Withdrawal bursts: per account and 10 minutes.
        -- @processor withdrawal_bursts
        -- @output bursts
        -- @event-type WithdrawalBurst
        -- @out-of-order 30 seconds
        SELECT stream_id, window_start, window_end, COUNT(*) AS withdrawals, SUM(data.amount) AS total
        FROM TABLE(TUMBLE(TABLE accounts, DESCRIPTOR(occurred_at), INTERVAL '10' MINUTES))
        WHERE type = 'MoneyWithdrawn'
        GROUP BY stream_id, window_start, window_end
        HAVING SUM(data.amount) > 1000;
        """

    @Test func readsTheWindowTheKeyAndTheAggregates() throws {
        let definition = try ProcessorDefinition.parse(Self.bursts, file: "bursts.sql")
        #expect(definition.name == "withdrawal_bursts")
        #expect(definition.source == "accounts")
        #expect(definition.output == "bursts")
        #expect(definition.deadLetters == "withdrawal_bursts-dead-letters")
        #expect(definition.eventType == "WithdrawalBurst")
        #expect(definition.window == .tumbling(size: 600_000))
        #expect(definition.outOfOrderness == 30_000)
        #expect(definition.resultNames == ["stream_id", "window_start", "window_end", "withdrawals", "total"])
        #expect(definition.aggregates == [.countAll, .sum(field: "data.amount")])
        #expect(definition.query.key == .attribute(.streamId))
        #expect(definition.query.time == .attribute(.occurredAt))
        #expect(ProcessorDefinition.declaresProcessor(Self.bursts))
        #expect(!ProcessorDefinition.declaresProcessor("-- @view balances\nCREATE TABLE t (a INT);"))
    }

    @Test func hopWindowsTakeTheSlideThenTheSize() throws {
        let definition = try ProcessorDefinition.parse("""
            -- @processor revenue
            SELECT data.product AS product, window_start, SUM(data.total) AS revenue
            FROM TABLE(HOP(TABLE carts, DESCRIPTOR(data.at), INTERVAL '1' MINUTE, INTERVAL '5 minutes'))
            GROUP BY data.product, window_start, window_end
            """, file: "revenue.sql")
        #expect(definition.window == .hopping(size: 300_000, slide: 60_000))
        #expect(definition.query.key == .field(["product"]))
        #expect(definition.query.time == .field(["at"]))
        #expect(definition.eventType == "Revenue")
    }

    /// Sessions per key, in SQL, run over a store: each burst of activity one result.
    @Test func sessionWindowsPerKey() async throws {
        try await withProcessorStore { store in
            let definition = try ProcessorDefinition.parse("""
                -- @processor visits
                SELECT stream_id, window_start, window_end, COUNT(*) AS clicks
                FROM TABLE(SESSION(TABLE clicks PARTITION BY stream_id, DESCRIPTOR(data.at), INTERVAL '10' SECONDS))
                GROUP BY stream_id, window_start, window_end
                """, file: "visits.sql")
            #expect(definition.window == .session(gap: 10_000))
            // Three clicks, a pause, two clicks; then far ahead, to close both.
            for at in [0, 4_000, 9_000, 40_000, 45_000, 1_000_000] {
                try await store.append([EventData(type: "Click", data: Array(#"{"at":\#(at)}"#.utf8))], to: StreamName(category: "clicks", id: "u1"))
            }
            try await definition.makeProcessor(store: store, checkpoints: InMemoryCheckpointStore()).runUntilCaughtUp()
            let results = try await store.read(StreamName(category: "visits", id: "u1")).compactMap { JSONValue.parse($0.data) }
            #expect(results.map { $0.member("clicks") } == [.integer(3), .integer(2)])
            #expect(results.map { $0.member("window_end") } == [.string("1970-01-01T00:00:19.000Z"), .string("1970-01-01T00:00:55.000Z")])
        }
    }

    /// Every refusal names the line at fault and says what to write instead.
    @Test(arguments: [
        ("SELECT stream_id, window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY stream_id, window_start", 4, "window_start and window_end"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nWHERE amount > 3\nGROUP BY window_start, window_end", 4, "unknown column amount: payload fields are data.amount"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nWHERE COUNT(*) > 3\nGROUP BY window_start, window_end", 4, "belongs in SELECT or HAVING"),
        ("SELECT window_start, COUNT(*)\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY window_start, window_end", 2, "name this result with AS"),
        ("SELECT window_start, type, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY window_start, window_end", 2, "type is neither grouped nor in an aggregate"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY stream_id, type, window_start, window_end", 4, "at most one key"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(HOP(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '7' SECONDS, INTERVAL '1' MINUTE))\nGROUP BY window_start, window_end", 3, "multiple of its slide"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL 'ten' MINUTES))\nGROUP BY window_start, window_end", 3, "not an interval"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(version), INTERVAL '1' MINUTE))\nGROUP BY window_start, window_end", 3, "the event time is occurred_at"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY window_start, window_end\nHAVING 'oops", 5, "quote is not closed"),
        ("SELECT window_start, MEDIAN(data.x) AS m\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY window_start, window_end", 2, "unknown function MEDIAN"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(SESSION(TABLE a PARTITION BY stream_id, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY type, window_start, window_end", 4, "PARTITION BY (stream_id) must be the GROUP BY key (type)"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE __consumer_offsets, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY window_start, window_end", 3, "reserved"),
        ("SELECT window_start, COUNT(*) AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nWHERE window_start > '2026'\nGROUP BY window_start, window_end", 4, "window_start belongs in HAVING"),
        ("SELECT window_start, SUM(data.\"a.b\") AS n\nFROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\nGROUP BY window_start, window_end", 2, "may not be empty or hold '.'"),
    ] as [(String, Int, String)])
    func refusesWithTheLine(sql: String, line: Int, reason: String) {
        do {
            _ = try ProcessorDefinition.parse("-- @processor p\n" + sql, file: "p.sql")
            Issue.record("accepted: \(sql)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
            #expect(error.description.hasPrefix("p.sql:\(line): "))
        }
    }

    @Test func refusesDirectivesItDoesNotKnowAndOutputsOverTheSource() {
        let select = "\nSELECT window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end"
        #expect(throws: ProcessorDefinitionError.self) { try ProcessorDefinition.parse("-- @processor p\n-- @outptu b" + select, file: "p.sql") }
        #expect(throws: ProcessorDefinitionError.self) { try ProcessorDefinition.parse("-- @processor p\n-- @output a" + select, file: "p.sql") }
        #expect(throws: ProcessorDefinitionError.self) { try ProcessorDefinition.parse("-- @processor 9p" + select, file: "p.sql") }
        #expect(throws: ProcessorDefinitionError.self) { try ProcessorDefinition.parse("-- @processor p\n-- @out-of-order soon" + select, file: "p.sql") }
        #expect(throws: ProcessorDefinitionError.self) { try ProcessorDefinition.parse(select, file: "p.sql") }
        // Defaults that would fail every append are refused up front.
        #expect(throws: ProcessorDefinitionError.self) { try ProcessorDefinition.parse("-- @processor __stats" + select, file: "p.sql") }
        #expect(throws: ProcessorDefinitionError.self) { try ProcessorDefinition.parse("-- @processor _" + select, file: "p.sql") }
        #expect(throws: ProcessorDefinitionError.self) { try ProcessorDefinition.parse("-- @processor p\n-- @output x\n-- @dead-letters x" + select, file: "p.sql") }
    }

    /// Files written on Windows, directives with tabs, and the view loader agreeing on which
    /// files are processors'.
    @Test func readsCRLFFilesAndTabs() throws {
        let text = "-- @processor\tcrlf\r\n--\t@out-of-order 5 seconds\r\nSELECT window_start, COUNT(*) AS n\r\n"
            + "FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))\r\nGROUP BY window_start, window_end\r\n"
        let definition = try ProcessorDefinition.parse(text, file: "crlf.sql")
        #expect(definition.name == "crlf")
        #expect(definition.outOfOrderness == 5_000)
        #expect(ProcessorDefinition.declaresProcessor(text))
        #expect(!ProcessorDefinition.declaresProcessor("-- see @processor files\n-- @processors x"))
    }

    /// The fingerprint is of what decides results: comments and layout do not start a rebuild.
    @Test func commentsAndLayoutKeepTheFingerprint() throws {
        let first = try ProcessorDefinition.parse(Self.bursts, file: "a.sql")
        let reindented = try ProcessorDefinition.parse("-- another comment\n" + Self.bursts.replacingOccurrences(of: "\n", with: "\n   "), file: "b.sql")
        let changed = try ProcessorDefinition.parse(Self.bursts.replacingOccurrences(of: "> 1000", with: "> 1001"), file: "c.sql")
        let redirected = try ProcessorDefinition.parse(Self.bursts.replacingOccurrences(of: "@output bursts", with: "@output big"), file: "d.sql")
        #expect(first.fingerprint == reindented.fingerprint)
        #expect(first.fingerprint != changed.fingerprint)
        #expect(first.fingerprint != redirected.fingerprint)
    }

    /// An event time far outside any calendar is refused with the reason, never trapped on.
    @Test func extremeEventTimesAreDeadLettered() {
        var aggregator = WindowAggregator(spec: .tumbling(size: 1000), aggregates: [.countAll])
        for time in [Int64.max, Int64.min, WindowSpec.maxTime + 1] {
            guard case let .late(_, reason)? = aggregator.insert(WindowEvent(key: "k", time: time)).first else {
                Issue.record("time \(time) was taken"); continue
            }
            #expect(reason.contains("outside"))
        }
        #expect(aggregator.insert(WindowEvent(key: "k", time: WindowSpec.maxTime)).isEmpty)
        #expect(WindowSpec.tumbling(size: .max).problem != nil)
    }

    /// SQL's three-valued logic and SQLite's arithmetic, which conditions are evaluated with.
    @Test func expressionsFollowSQL() throws {
        func value(_ text: String) throws -> AggregateValue {
            var parser = WindowQueryParser(tokens: try SQLLexer.tokens(text))
            return try parser.expression(aggregates: false).evaluate(column: { column in
                column == .field(["amount"]) ? .integer(1500) : (column == .attribute(.type) ? .text("MoneyWithdrawn") : .null)
            }, aggregate: { _ in .null })
        }
        #expect(try value("data.amount > 1000 AND type = 'MoneyWithdrawn'") == .integer(1))
        #expect(try value("data.missing > 1") == .null)
        #expect(try value("data.missing > 1 OR data.amount = 1500") == .integer(1))
        #expect(try value("data.missing > 1 AND data.amount = 0") == .integer(0))
        #expect(try value("NOT (data.missing = 1)") == .null)
        #expect(try value("data.missing IS NULL AND data.amount IS NOT NULL") == .integer(1))
        #expect(try value("type LIKE 'money%' AND type NOT LIKE '%deposit%'") == .integer(1))
        #expect(try value("type IN ('A', 'MoneyWithdrawn')") == .integer(1))
        #expect(try value("data.amount NOT IN (1, NULL)") == .null)
        #expect(try value("data.amount BETWEEN 1000 AND 2000") == .integer(1))
        #expect(try value("7 / 2") == .integer(3))
        #expect(try value("7.0 / 2") == .real(3.5))
        #expect(try value("1 / 0") == .null)
        #expect(try value("9223372036854775807 + 1") == .real(9.223372036854776e18))
        #expect(try value("-data.amount") == .integer(-1500))
        #expect(try value("'a' || 1") == .text("a1"))
        #expect(try value("'a' || 2 * 3") == .null)          // || binds tighter than *, as in SQLite: ('a' || 2) * 3
        #expect(try value("'É' LIKE 'é'") == .integer(0))   // LIKE folds ASCII letters only, as SQLite's
        #expect(try value("COALESCE(data.missing, 3)") == .integer(3))
        #expect(try value("UPPER(type) = 'MONEYWITHDRAWN'") == .integer(1))
        #expect(try value("'10' > 9") == .integer(1))   // text sorts after numbers, as in SQLite
    }

    @Test func likeIsLinearAndExact() {
        func like(_ text: String, _ pattern: String) -> Bool { SQLExpression.like(Array(text.unicodeScalars), Array(pattern.unicodeScalars)) }
        #expect(like("abc", "a%c"))
        #expect(like("abc", "a_c"))
        #expect(!like("abc", "a_"))
        #expect(like("", "%"))
        #expect(!like("ab", "a%c"))
        // A pattern that backtracks exponentially in a naive matcher returns at once.
        #expect(!like(String(repeating: "a", count: 5_000), String(repeating: "%a", count: 50) + "b"))
    }

    struct Movement: Codable { var amount: Int64?; var at: Int64? }

    /// The definition run over a real store: every result equals the aggregation computed here
    /// from the events, events with no time or no JSON go to the dead letters with the reason,
    /// and nothing else does.
    @Test func computesWhatAGroupByComputes() async throws {
        try await withProcessorStore { store in
            let definition = try ProcessorDefinition.parse("""
                -- @processor big_spenders
                -- @output spenders
                SELECT stream_id AS account, window_start, COUNT(*) AS n, SUM(data.amount) AS total, MAX(data.amount) AS biggest,
                       SUM(data.amount) * 1.0 / COUNT(*) AS mean, COUNT(DISTINCT data.amount) AS distinct_amounts
                FROM TABLE(TUMBLE(TABLE moves, DESCRIPTOR(data.at), INTERVAL '1' SECOND))
                WHERE type = 'Withdrawn' AND data.amount > 0
                GROUP BY stream_id, window_start, window_end
                HAVING COUNT(*) >= 2
                """, file: "spenders.sql")
            var random = SplitMix64(seed: 7)
            var expected: [String: [Int64]] = [:]   // "account start" → amounts
            for index in 0..<500 {
                let account = "acct-\(random.next() % 5)"
                let amount = Int64(random.next() % 50)
                let type = random.next() % 4 == 0 ? "Deposited" : "Withdrawn"
                let at = Int64(index) * 37
                try await store.append([EventData(type: type, data: Array(try JSONEncoder().encode(Movement(amount: amount, at: at))))],
                                       to: StreamName(category: "moves", id: account))
                if type == "Withdrawn", amount > 0 { expected["\(account) \(at / 1000 * 1000)", default: []].append(amount) }
            }
            try await store.append([EventData(type: "Withdrawn", data: Array(#"{"amount":5}"#.utf8))], to: StreamName(category: "moves", id: "acct-1"))
            try await store.append([EventData(type: "Withdrawn", data: Array("not json".utf8))], to: StreamName(category: "moves", id: "acct-2"))
            // Left out by WHERE: never refused for its payload.
            try await store.append([EventData(type: "Deposited", data: Array("not json either".utf8))], to: StreamName(category: "moves", id: "acct-2"))
            try await store.append([EventData(type: "Withdrawn", data: Array(#"{"amount":5,"at":9223372036854775807}"#.utf8))], to: StreamName(category: "moves", id: "acct-3"))
            // Far ahead: closes every window before it.
            try await store.append([EventData(type: "Withdrawn", data: Array(#"{"amount":1,"at":99000000}"#.utf8))], to: StreamName(category: "moves", id: "flush"))

            let processor = definition.makeProcessor(store: store, checkpoints: InMemoryCheckpointStore())
            try await processor.runUntilCaughtUp()

            var written: [String: [String: JSONValue]] = [:]
            var next = CategoryCheckpoint.start
            while true {
                let page = try await store.readCategory("spenders", after: next)
                for event in page.events {
                    #expect(event.type == "BigSpenders")
                    guard case let .object(members)? = JSONValue.parse(event.data), case let .string(start)? = members["window_start"] else {
                        Issue.record("not a result: \(String(decoding: event.data, as: UTF8.self))"); continue
                    }
                    let key = "\(event.stream.id) \(ISO8601Milliseconds.parse(start).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } ?? -1)"
                    #expect(written[key] == nil, "\(key) written twice")
                    written[key] = members
                }
                if page.events.isEmpty { break }
                next = page.next
            }
            let kept = expected.filter { $0.value.count >= 2 }
            #expect(Set(written.keys) == Set(kept.keys))
            for (key, amounts) in kept {
                let result = try #require(written[key])
                #expect(result["account"] == .string(String(key.split(separator: " ")[0])))
                #expect(result["n"] == .integer(Int64(amounts.count)))
                #expect(result["total"] == .integer(amounts.reduce(0, +)))
                #expect(result["biggest"] == .integer(amounts.max()!))
                #expect(result["mean"] == .number(Double(amounts.reduce(0, +)) / Double(amounts.count)))
                #expect(result["distinct_amounts"] == .integer(Int64(Set(amounts).count)))
            }
            let dead = try await store.read(StreamName(category: "big_spenders-dead-letters", id: "big_spenders"))
            let reasons = dead.compactMap { event -> String? in
                guard case let .object(members)? = JSONValue.parse(event.data), case let .string(reason)? = members["reason"] else { return nil }
                return reason
            }
            #expect(reasons.count == 3, "\(reasons)")
            #expect(reasons.contains { $0.contains("event time data.at is missing") })
            #expect(reasons.contains { $0.contains("not JSON") })
            #expect(reasons.contains { $0.contains("outside") })
        }
    }

    /// A processor service keeps a generation per processor: a rebuild, or a changed definition
    /// found at start, writes every result again under new ids; the same definition restarted
    /// goes on from its checkpoint and writes nothing twice.
    @Test func rebuildsStartANewGeneration() async throws {
        try await withProcessorStore { store in
            let stateDirectory = NSTemporaryDirectory() + "stele-processors-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
            let text = """
                -- @processor per_second
                SELECT stream_id, window_start, COUNT(*) AS n
                FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(data.at), INTERVAL '1' SECOND))
                GROUP BY stream_id, window_start, window_end
                """
            for index in 0..<30 {
                try await store.append([EventData(type: "Tick", data: Array(#"{"at":\#(index * 100)}"#.utf8))], to: StreamName(category: "ticks", id: "t"))
            }
            func results() async throws -> Int {
                try await store.read(StreamName(category: "per_second", id: "t")).count
            }
            // Progress-based, no deadline: until the processor has read everything (lag 0 in
            // the given generation) and written at least `count`; then exactly `count`.
            func waitFor(_ count: Int, _ service: ProcessorService, generation: Int64) async throws {
                while true {
                    let status = await service.processor(named: "per_second")!.statusJSON()
                    if status.member("lag") == .integer(0), status.member("generation") == .integer(generation), try await results() >= count { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(try await results() == count)
            }
            let service = ProcessorService(store: store, stateDirectory: stateDirectory)
            try service.start(try ProcessorDefinition.parse(text, file: "p.sql"))
            try await waitFor(2, service, generation: 1)   // windows 0 and 1 closed; 2 still open
            try await service.processor(named: "per_second")!.rebuild()
            try await waitFor(4, service, generation: 2)
            await service.stop()

            let again = ProcessorService(store: store, stateDirectory: stateDirectory)
            try again.start(try ProcessorDefinition.parse(text, file: "p.sql"))
            try await store.append([EventData(type: "Tick", data: Array(#"{"at":5000}"#.utf8))], to: StreamName(category: "ticks", id: "t"))
            try await waitFor(5, again, generation: 2)   // window 2 closes once, in generation 2
            #expect(await again.processor(named: "per_second")!.statusJSON().member("generation") == .integer(2))
            await again.stop()

            let changed = ProcessorService(store: store, stateDirectory: stateDirectory)
            try changed.start(try ProcessorDefinition.parse(text + "\nHAVING COUNT(*) > 0", file: "p.sql"))
            try await waitFor(8, changed, generation: 3)   // the changed definition writes windows 0, 1 and 2 again
            let status = await changed.processor(named: "per_second")!.statusJSON()
            #expect(status.member("generation") == .integer(3))
            #expect(status.member("rebuiltBecause") == .string("the definition changed"))
            await changed.stop()
        }
    }
}

extension ProcessorDefinitionTests {
    /// Files under the state directory that vanish or are damaged: the processor stops with the
    /// reason and writes nothing (a run from the start would write every output again, and the
    /// store recognises an output by id only among its stream's last events); a rebuild goes on
    /// under a generation above every one on disk.
    @Test func aVanishedOrDamagedFileStopsTheProcessorUntilRebuilt() async throws {
        try await withProcessorStore { store in
            let directory = NSTemporaryDirectory() + "stele-processors-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let definition = try ProcessorDefinition.parse("""
                -- @processor per_second
                SELECT stream_id, window_start, COUNT(*) AS n
                FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(data.at), INTERVAL '1' SECOND))
                GROUP BY stream_id, window_start, window_end
                """, file: "p.sql")
            for index in 0..<30 {
                try await store.append([EventData(type: "Tick", data: Array(#"{"at":\#(index * 100)}"#.utf8))], to: StreamName(category: "ticks", id: "t"))
            }
            func results() async throws -> Int { try await store.read(StreamName(category: "per_second", id: "t")).count }
            func state() throws -> [String: JSONValue] {
                guard case let .object(members)? = JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/per_second.state")))) else { return [:] }
                return members
            }
            /// Until the generation has read everything, written `count` results and marked its
            /// checkpoint saved: progress, no deadline.
            func runUntil(_ count: Int, _ service: ProcessorService, generation: Int64) async throws {
                while true {
                    let status = await service.processor(named: "per_second")!.statusJSON()
                    if status.member("lag") == .integer(0), status.member("generation") == .integer(generation),
                       try await results() >= count, try state()["checkpointed"] == .bool(true) { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(try await results() == count)
            }
            func refused(_ file: String, saying words: String, generation: Int64) async throws -> ProcessorService {
                let service = ProcessorService(store: store, stateDirectory: directory)
                #expect(throws: ProcessorServiceError.self) { try service.start(definition) }
                let status = await service.processor(named: "per_second")!.statusJSON()
                #expect(status.member("state") == .string("failed"))
                guard case let .string(error)? = status.member("lastError") else { Issue.record("no error shown"); return service }
                #expect(error.contains(words) && error.contains("stele processors rebuild per_second"), "\(error)")
                #expect(try await results() == Int(generation) * 2, "nothing written after \(file) vanished")
                return service
            }

            let first = ProcessorService(store: store, stateDirectory: directory)
            try first.start(definition)
            try await runUntil(2, first, generation: 1)
            await first.stop()

            // The checkpoint vanishes: refused; a rebuild writes the results again as generation 2.
            try FileManager.default.removeItem(atPath: directory + "/per_second_g1.checkpoint")
            let second = try await refused("the checkpoint", saying: "checkpoint of generation 1", generation: 1)
            try await second.processor(named: "per_second")!.rebuild()
            try await runUntil(4, second, generation: 2)
            await second.stop()

            // The state file vanishes: refused, though generation 2's checkpoint is there; the
            // rebuild goes above every generation on disk.
            try FileManager.default.removeItem(atPath: directory + "/per_second.state")
            let third = try await refused("the state file", saying: "state file", generation: 2)
            try await third.processor(named: "per_second")!.rebuild()
            try await runUntil(6, third, generation: 3)
            await third.stop()

            // A damaged checkpoint: the processor starts, fails on reading it, says why, and
            // writes nothing while it retries.
            try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: directory + "/per_second_g3.checkpoint"))
            let fourth = ProcessorService(store: store, stateDirectory: directory)
            try fourth.start(definition)
            while true {
                let status = await fourth.processor(named: "per_second")!.statusJSON()
                if case let .string(error)? = status.member("lastError"), status.member("state") == .string("failed") {
                    #expect(error.contains("does not hold a checkpoint"), "\(error)")
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await results() == 6)
            try await fourth.processor(named: "per_second")!.rebuild()
            try await runUntil(8, fourth, generation: 4)
            await fourth.stop()
        }
    }

    /// The same for a pattern processor, whose run goes on from its replay slot: the slot
    /// vanishing stops it at start, and an older state file put back is refused too.
    @Test func aVanishedReplaySlotStopsAPatternProcessor() async throws {
        try await withProcessorStore { store in
            let directory = NSTemporaryDirectory() + "stele-processors-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let definition = try ProcessorDefinition.parse("""
                -- @processor pairs
                -- @output pairs
                SELECT * FROM ticks MATCH_RECOGNIZE (PARTITION BY stream_id ORDER BY data.at
                    MEASURES A.data.at AS first, B.data.at AS second ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW
                    PATTERN (A B) WITHIN INTERVAL '1' HOUR
                    DEFINE A AS A.type = 'Tick', B AS B.type = 'Tick')
                """, file: "pairs.sql")
            for index in 0..<20 {
                try await store.append([EventData(type: "Tick", data: Array(#"{"at":\#(index * 1000)}"#.utf8))], to: StreamName(category: "ticks", id: "t"))
            }
            func results() async throws -> Int { try await store.read(StreamName(category: "pairs", id: "t")).count }
            func checkpointed() -> Bool {
                (try? String(contentsOfFile: directory + "/pairs.state", encoding: .utf8))?.contains(#""checkpointed":true"#) == true
            }
            let first = ProcessorService(store: store, stateDirectory: directory)
            try first.start(definition)
            while true {
                let status = await first.processor(named: "pairs")!.statusJSON()
                // The last pair waits for a watermark past it: nine are written.
                if status.member("lag") == .integer(0), try await results() >= 9, checkpointed() { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            await first.stop()
            let written = try await results()
            #expect(written == 9)
            let state = try Data(contentsOf: URL(fileURLWithPath: directory + "/pairs.state"))

            try FileManager.default.removeItem(atPath: directory + "/pairs_g1_slot.checkpoint")
            let second = ProcessorService(store: store, stateDirectory: directory)
            #expect(throws: ProcessorServiceError.self) { try second.start(definition) }
            #expect(await second.processor(named: "pairs")!.statusJSON().member("state") == .string("failed"))
            try await second.processor(named: "pairs")!.rebuild()
            while try await results() < 2 * written { try await Task.sleep(for: .milliseconds(20)) }
            await second.stop()

            // Generation 1's state file put back over generation 2's: refused.
            try state.write(to: URL(fileURLWithPath: directory + "/pairs.state"))
            let third = ProcessorService(store: store, stateDirectory: directory)
            do {
                try third.start(definition)
                Issue.record("an older state file was taken")
            } catch {
                #expect("\(error)".contains("stele processors rebuild pairs"), "\(error)")
            }
            #expect(try await results() == 2 * written)
            await third.stop()
        }
    }

    /// A file whose expressions nest or chain without end is refused with its line, not a stack
    /// overflow when it is read or when each event is evaluated.
    @Test func expressionsTooDeepOrTooLongAreRefused() throws {
        func definition(_ condition: String) -> String {
            """
            -- @processor deep
            SELECT stream_id, window_start, COUNT(*) AS n
            FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(data.at), INTERVAL '1' SECOND))
            WHERE \(condition)
            GROUP BY stream_id, window_start, window_end
            """
        }
        for condition in [String(repeating: "(", count: 100_000) + "1", String(repeating: "NOT ", count: 100_000) + "1 = 1",
                          String(repeating: "- ", count: 100_000) + "1 = 1", Array(repeating: "1", count: 5_000).joined(separator: " + ") + " = 1"] {
            do {
                _ = try ProcessorDefinition.parse(definition(condition), file: "deep.sql")
                Issue.record("accepted: \(condition.prefix(20))…")
            } catch let error as ProcessorDefinitionError {
                #expect(error.line == 4 && (error.reason.contains("nested more than") || error.reason.contains("operators in one statement")), "\(error)")
            }
        }
        let fine = "(" + Array(repeating: "data.at", count: 50).joined(separator: " + ") + ") > 0 AND NOT (NOT (-(-1) = 1))"
        #expect(throws: Never.self) { try ProcessorDefinition.parse(definition(fine), file: "fine.sql") }
    }

    static let pattern = """
        -- @processor new_country_transfers
        -- @output alerts
        -- @out-of-order 1 minute
        SELECT *
        FROM (SELECT * FROM logins UNION ALL SELECT * FROM transfers)
        MATCH_RECOGNIZE (
            PARTITION BY stream_id
            ORDER BY occurred_at
            MEASURES L.data.country AS country, LAST(T.data.amount) AS amount, COUNT(X.stream_id) AS between, SUM(T.data.amount) AS total
            ONE ROW PER MATCH
            AFTER MATCH SKIP PAST LAST ROW
            PATTERN (L (X | U){0,} T) WITHIN INTERVAL '5' MINUTES
            DEFINE L AS L.type = 'LoginSucceeded' AND L.data.country <> L.data.homeCountry,
                   T AS T.type = 'MoneyTransferred' AND T.data.amount > 1000,
                   U AS type = 'Other'
        )
        """

    @Test func readsMatchRecognize() throws {
        let definition = try ProcessorDefinition.parse(Self.pattern, file: "p.sql")
        #expect(definition.sources == ["logins", "transfers"])
        #expect(definition.window == nil)
        #expect(definition.pattern == PatternSpec(terms: [.init(["L"]), .init(["X", "U"], .between(min: 0, max: nil)), .init(["T"])], within: 300_000))
        #expect(definition.resultNames == ["stream_id", "country", "amount", "between", "total"])
        let absence = try ProcessorDefinition.parse("""
            -- @processor unsettled
            SELECT stream_id, authorization FROM cards MATCH_RECOGNIZE (PARTITION BY stream_id ORDER BY data.at
                MEASURES A.data.authorization AS authorization PATTERN (A !S) WITHIN INTERVAL '15' MINUTES
                DEFINE A AS A.type = 'CardAuthorized', S AS S.data.authorization = A.data.authorization)
            """, file: "a.sql")
        #expect(absence.pattern == PatternSpec(terms: [.init(["A"])], absent: "S", within: 900_000))
        #expect(absence.resultNames == ["stream_id", "authorization"])
    }

    @Test(arguments: [
        ("PATTERN (A B) WITHIN INTERVAL '1' MINUTE DEFINE C AS C.type = 'x'", "the pattern has no variable C"),
        ("PATTERN (A B) DEFINE A AS type = 'x'", "needs WITHIN"),
        ("MEASURES SUM(A.window_start) AS x PATTERN (A B) WITHIN INTERVAL '1' MINUTE", "a window's column"),
        ("PATTERN (A B*?) DEFINE A AS type = 'x'", "reluctant quantifiers"),
        ("PATTERN (A !B) DEFINE B AS type = 'x'", "needs WITHIN"),
        ("PATTERN (A !B) WITHIN INTERVAL '1' MINUTE", "needs a DEFINE"),
        ("PATTERN (A B+) WITHIN INTERVAL '1' MINUTE", "ends with a single variable"),
        ("AFTER MATCH SKIP TO NEXT ROW PATTERN (A B)", "SKIP PAST LAST ROW"),
        ("PATTERN (A B) WITHIN INTERVAL '1' MINUTE DEFINE A AS Z.type = 'x'", "Z is not a variable of the pattern"),
    ] as [(String, String)])
    func refusesPatternsWithTheReason(clause: String, reason: String) {
        let text = "-- @processor p\nSELECT * FROM a MATCH_RECOGNIZE (PARTITION BY stream_id ORDER BY occurred_at\n" + clause + ")"
        do {
            _ = try ProcessorDefinition.parse(text, file: "p.sql")
            Issue.record("accepted: \(clause)")
        } catch {
            #expect(error.reason.contains(reason), "\(error)")
        }
    }

    /// MEASURES over a match: a variable's last row, an aggregate over its rows.
    @Test func measuresReadTheMatch() async throws {
        try await withProcessorStore { store in
            let definition = try ProcessorDefinition.parse(Self.pattern, file: "p.sql")
            func append(_ category: String, _ type: String, _ data: String, at: Int64) async throws {
                try await store.append([EventData(type: type, data: Array(data.utf8), metadata: EventMetadata(occurredAt: Date(timeIntervalSince1970: Double(at) / 1000)))],
                                       to: StreamName(category: category, id: "acct-1"))
            }
            try await append("logins", "LoginSucceeded", #"{"country":"DE","homeCountry":"FR"}"#, at: 1_000)
            try await append("logins", "LoginSucceeded", #"{"country":"FR","homeCountry":"FR"}"#, at: 2_000)
            try await append("transfers", "MoneyTransferred", #"{"amount":1500}"#, at: 3_000)
            try await append("transfers", "MoneyTransferred", #"{"amount":2500}"#, at: 4_000)
            try await append("transfers", "Tick", "{}", at: 10_000_000)
            try await append("logins", "Tick", "{}", at: 10_000_000)
            try await definition.makePatternProcessor(store: store, checkpoints: InMemoryCheckpointStore()).runUntilCaughtUp()
            let alerts = try await store.read(StreamName(category: "alerts", id: "acct-1")).compactMap { JSONValue.parse($0.data) }
            // X (no DEFINE: any row) takes the home login; the first large transfer completes the
            // match, and the second starts nothing (no foreign login after the match).
            #expect(alerts.count == 1)
            #expect(alerts.first?.member("country") == .string("DE"))
            #expect(alerts.first?.member("amount") == .integer(1500))
            #expect(alerts.first?.member("total") == .integer(1500))
            #expect(alerts.first?.member("between") == .integer(1))
        }
    }

    /// An event time outside any calendar is a dead letter, and moves no watermark: the events
    /// after it still match.
    @Test func anExtremeTimeDoesNotStopAPattern() async throws {
        try await withProcessorStore { store in
            let definition = try ProcessorDefinition.parse("""
                -- @processor pairs
                SELECT * FROM ticks MATCH_RECOGNIZE (PARTITION BY stream_id ORDER BY data.at
                    MEASURES A.data.at AS first, B.data.at AS second
                    PATTERN (A B) WITHIN INTERVAL '1' MINUTE
                    DEFINE A AS A.type = 'A', B AS B.type = 'B')
                """, file: "pairs.sql")
            for (type, at) in [("A", "9223372036854775807"), ("A", "1000"), ("B", "2000"), ("Tick", "100000000")] {
                try await store.append([EventData(type: type, data: Array(#"{"at":\#(at)}"#.utf8))], to: StreamName(category: "ticks", id: "t"))
            }
            try await definition.makePatternProcessor(store: store, checkpoints: InMemoryCheckpointStore()).runUntilCaughtUp()
            let pairs = try await store.read(StreamName(category: "pairs", id: "t")).compactMap { JSONValue.parse($0.data) }
            #expect(pairs.map { $0.member("first") } == [.integer(1000)])
            let dead = try await store.read(StreamName(category: "pairs-dead-letters", id: "pairs"))
            #expect(dead.count == 1)
        }
    }

    /// A key from a numeric payload field stays a number: HAVING compares numbers, and the result
    /// holds one.
    @Test func numericKeysStayNumbers() async throws {
        try await withProcessorStore { store in
            let definition = try ProcessorDefinition.parse("""
                -- @processor buckets
                SELECT data.bucket, window_start, data.bucket * 10 AS tenfold, COUNT(*) AS n
                FROM TABLE(TUMBLE(TABLE items, DESCRIPTOR(data.at), INTERVAL '1' SECOND))
                GROUP BY data.bucket, window_start, window_end
                HAVING data.bucket > 5
                """, file: "buckets.sql")
            for (bucket, at) in [(3, 0), (42, 10), (42, 20), (7, 30), (1, 5000)] {
                try await store.append([EventData(type: "Item", data: Array(#"{"bucket":\#(bucket),"at":\#(at)}"#.utf8))], to: StreamName(category: "items", id: "i"))
            }
            try await definition.makeProcessor(store: store, checkpoints: InMemoryCheckpointStore()).runUntilCaughtUp()
            var results: [String: JSONValue] = [:]
            for id in ["3", "42", "7"] {
                for event in try await store.read(StreamName(category: "buckets", id: id)) { results[id] = JSONValue.parse(event.data) }
            }
            #expect(results["3"] == nil)
            #expect(results["42"]?.member("bucket") == .integer(42))
            #expect(results["42"]?.member("tenfold") == .integer(420))
            #expect(results["42"]?.member("n") == .integer(2))
            #expect(results["7"]?.member("bucket") == .integer(7))
        }
    }

    /// Two rebuilds asked for at once: one starts, the other is refused; one task runs after.
    @Test func oneRebuildAtATime() async throws {
        try await withProcessorStore { store in
            let stateDirectory = NSTemporaryDirectory() + "stele-processors-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
            let service = ProcessorService(store: store, stateDirectory: stateDirectory)
            try service.start(try ProcessorDefinition.parse(Self.bursts, file: "bursts.sql"))
            let processor = try #require(service.processor(named: "withdrawal_bursts"))
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<2 { group.addTask { (try? await processor.rebuild()) != nil } }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count >= 1)
            let generation = await processor.statusJSON().member("generation")
            #expect(generation == .integer(Int64(1 + outcomes.filter { $0 }.count)))
            await service.stop()
            await #expect(throws: ProcessorServiceError.self) { try await processor.rebuild() }
            #expect(await processor.statusJSON().member("state") == .string("stopped"))
        }
    }
}

extension JSONValue {
    func member(_ name: String) -> JSONValue? {
        if case let .object(members) = self { return members[name] }
        return nil
    }
}

func withProcessorStore(_ body: (EventStore) async throws -> Void) async throws {
    let path = NSTemporaryDirectory() + "stele-processor-test-" + UUID().uuidString
    let store = try await EventStore.open(.embedded(path: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    do { try await body(store) } catch {
        try? await store.close()
        throw error
    }
    try await store.close()
}
