import ArgumentParser
import Foundation
import Stele
import SteleCore
#if canImport(Glibc)
import Glibc
#endif

/// A windowed processor under SIGKILL: a child runs `WindowProcessor` over a category and is
/// killed at random moments; after each kill every window it wrote must be written once and equal
/// what a GROUP BY of the events gives, every late event recorded once. At the end a last run
/// processes everything and every window is there, exactly once. With `--session`, session
/// windows (gap 1.5 s): the oracle is the window engine fed every event once, in order, so a
/// replay that rebuilt part of a closed session (other bounds, another id) fails it. With
/// `--pattern`, a row pattern; with `--join`, an interval join of the category with itself (each
/// payment with the larger ones of its account within the next second), both against their
/// engine fed every event once.
enum ProcessorCrashTest {
    struct Payment: Codable { var amount: Int64; var at: Int64 }

    /// What the child runs: tumbling windows, session windows, or a row pattern.
    enum Mode: String {
        case tumbling, session, pattern, join
        var flags: [String] { self == .tumbling ? [] : ["--" + rawValue] }
    }

    static func window(session: Bool) -> WindowSpec { session ? .session(gap: 1_500) : .tumbling(size: 1_000) }

    /// `PATTERN (A B* C) WITHIN 3 s`: a payment of 50 or more, falling ones, then one above the first.
    static let pattern = PatternSpec(terms: [.init(["A"]), .init(["B"], .zeroOrMore), .init(["C"])], within: 3_000)

    static func takes(_ variable: String, _ amount: Int64, _ first: Int64?, _ last: Int64?) -> Bool {
        switch variable {
        case "A": amount >= 50
        case "B": last.map { amount < $0 } ?? false
        case "C": first.map { amount > $0 } ?? false
        default: true
        }
    }

    /// The pattern's processor; its outputs have the windows' shape (`start` and `end` the
    /// match's first and last times, `count` its rows, `sum` their amounts).
    static func patternProcessor(store: EventStore, path: String) throws -> PatternProcessor {
        @Sendable func amount(_ row: PatternRow) -> Int64 { if case let .integer(value)? = row.field(["amount"]) { value } else { 0 } }
        @Sendable func at(_ row: PatternRow) -> Int64 { if case let .integer(value)? = row.field(["at"]) { value } else { 0 } }
        var processor = PatternProcessor(
            name: "totals", sources: ["payments"], output: "payment-totals", deadLetters: "late-payments", store: store,
            checkpoints: try FileCheckpointStore(directory: path + "/checkpoints"), pattern: pattern,
            input: { row in row.event.type == "Paid" ? .event(key: row.event.stream.id, time: at(row)) : .skip },
            condition: { variable, event, rows in
                takes(variable, amount(event.value), rows.first.map { amount($0.event.value) }, rows.last.map { amount($0.event.value) })
            },
            emit: { match in
                let sum = match.rows.reduce(Int64(0)) { $0 + amount($1.event.value) }
                return ("PatternFound", Array(#"{"start":\#(match.rows.first!.event.time),"end":\#(match.rows.last!.event.time),"count":\#(match.rows.count),"sum":\#(sum)}"#.utf8))
            })
        processor.outOfOrderness = 500
        processor.checkpointEvery = 5
        return processor
    }

    /// The join's processor: a payment with each larger one of its account at most a second
    /// after it. Its outputs have the windows' shape: `start` and `end` the two payments'
    /// versions in the account's stream, `count` and `sum` their amounts.
    static func joinProcessor(store: EventStore, path: String) throws -> JoinProcessor {
        @Sendable func amount(_ row: PatternRow) -> Int64 { if case let .integer(value)? = row.field(["amount"]) { value } else { 0 } }
        @Sendable func at(_ row: PatternRow) -> Int64 { if case let .integer(value)? = row.field(["at"]) { value } else { 0 } }
        var processor = JoinProcessor(
            name: "totals", sources: ["payments"], output: "payment-totals", deadLetters: "late-payments", store: store,
            checkpoints: try FileCheckpointStore(directory: path + "/checkpoints"), left: "A", right: "B", kind: .interval(lower: 0, upper: 1_000),
            input: { row in row.event.type == "Paid" ? .event(time: at(row), leftKey: row.event.stream.id, rightKey: row.event.stream.id) : .skip },
            condition: { left, right in amount(right.value) > amount(left.value) },
            emit: { pair in
                let (left, right) = (pair.rows[0].event.value, pair.rows[1].event.value)
                return ("PairFound", Array(#"{"start":\#(left.event.version),"end":\#(right.event.version),"count":\#(amount(left)),"sum":\#(amount(right))}"#.utf8))
            })
        processor.outOfOrderness = 500
        processor.checkpointEvery = 5
        return processor
    }

    static func processor(store: EventStore, path: String, session: Bool) throws -> WindowProcessor {
        var processor = WindowProcessor(
            name: "totals", source: "payments", output: "payment-totals", deadLetters: "late-payments", store: store,
            checkpoints: try FileCheckpointStore(directory: path + "/checkpoints"),
            window: window(session: session), aggregates: [.countAll, .sum(field: "amount")],
            select: { event in
                guard event.type == "Paid", let payment = try? JSONDecoder().decode(Payment.self, from: Data(event.data)) else { return nil }
                return WindowEvent(key: event.stream.id, time: payment.at, values: [.integer(payment.amount)])
            },
            emit: { result in
                guard case let .integer(count) = result.values[0], case let .integer(sum) = result.values[1] else { return nil }
                return ("WindowTotal", Array(#"{"start":\#(result.window.start),"end":\#(result.window.end),"count":\#(count),"sum":\#(sum)}"#.utf8))
            })
        processor.outOfOrderness = 500
        processor.checkpointEvery = 5
        return processor
    }

    /// What the processor must write: each window's totals, from the events in append order
    /// with the watermark it applies (an event is late when its window closed before it came).
    /// Tumbling windows by hand, as a GROUP BY; sessions by the engine, fed each event once.
    struct Oracle {
        var windows: [String: (count: Int64, sum: Int64)] = [:]
        var late = 0
        var newest = Int64.min
        var engine: WindowAggregator?
        var matcher: PatternMatcher<Int64>?
        /// The join's engine, fed (version, amount) per event, and each account's next version.
        var joiner: IntervalJoiner<[Int64]>?
        var versions: [String: Int64] = [:]

        init(mode: Mode) {
            if mode == .session { engine = WindowAggregator(spec: ProcessorCrashTest.window(session: true), aggregates: [.countAll, .sum(field: "amount")], outOfOrderness: 500) }
            if mode == .join {
                joiner = IntervalJoiner(leftName: "A", rightName: "B", lower: 0, upper: 1_000) { left, right in right.value[1] > left.value[1] }
            }
            if mode == .pattern {
                matcher = PatternMatcher(spec: ProcessorCrashTest.pattern, outOfOrderness: 500) { variable, event, rows in
                    ProcessorCrashTest.takes(variable, event.value, rows.first?.event.value, rows.last?.event.value)
                }
            }
        }

        mutating func add(key: String, at: Int64, amount: Int64) {
            if var joiner {
                let version = versions[key, default: 0]
                versions[key] = version + 1
                var outputs = joiner.insert(PatternEvent(key: key, time: at, value: [version, amount]), leftKey: key, rightKey: key)
                if !outputs.contains(where: { if case .late = $0 { true } else { false } }) {
                    newest = max(newest, at)
                    outputs += joiner.advance(to: newest - 500)
                }
                for output in outputs {
                    switch output {
                    case let .match(pair):
                        let (left, right) = (pair.rows[0].event.value, pair.rows[1].event.value)
                        windows["\(key) \(left[0]) \(right[0])"] = (left[1], right[1])
                    case .late: late += 1
                    }
                }
                self.joiner = joiner
                return
            }
            if var matcher {
                for output in matcher.insert(PatternEvent(key: key, time: at, value: amount)) {
                    switch output {
                    case let .match(match):
                        windows["\(match.key) \(match.rows.first!.event.time) \(match.rows.last!.event.time)"] = (Int64(match.rows.count), match.rows.reduce(0) { $0 + $1.event.value })
                    case .late: late += 1
                    }
                }
                self.matcher = matcher
                return
            }
            if var engine {
                for output in engine.insert(WindowEvent(key: key, time: at, values: [.integer(amount)])) {
                    switch output {
                    case let .closed(result):
                        guard case let .integer(count) = result.values[0], case let .integer(sum) = result.values[1] else { continue }
                        windows["\(result.key) \(result.window.start) \(result.window.end)"] = (count, sum)
                    case .late: late += 1
                    }
                }
                self.engine = engine
                return
            }
            let start = at / 1_000 * 1_000
            if newest != .min && start + 1_000 <= newest - 500 { late += 1; return }
            newest = max(newest, at)
            windows["\(key) \(start) \(start + 1_000)", default: (0, 0)].count += 1
            windows["\(key) \(start) \(start + 1_000)", default: (0, 0)].sum += amount
        }
    }

    static let keys = (0..<8).map { "acct-\($0)" }

    static func runParent(path: String, cycles: Int, maxLifetimeMs: Int, seed: UInt64, mode: Mode) async throws {
        var random = SplitMix64(seed: seed)
        print("stele-crashtest --processor \(mode.flags.joined(separator: " ")): \(cycles) cycles, seed \(seed), directory \(path)")
        var oracle = Oracle(mode: mode)
        var index = 0
        for cycle in 1...cycles {
            let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
            for _ in 0..<150 {
                // Patterns: fewer keys and more disorder, so events fed in time order often were
                // given in another (what a replay point must account for).
                let key = keys[Int(random.next() % UInt64(mode == .pattern || mode == .join ? 3 : keys.count))]
                // Mostly within the allowed disorder (500 ms); one in forty far behind: late.
                let behind = random.next() % 40 == 0 ? Int64(3_000) : Int64(random.next() % (mode == .pattern || mode == .join ? 490 : 400))
                let at = max(0, Int64(index) * 100 - behind)
                let amount = Int64(random.next() % 100)
                try await store.append([EventData(type: "Paid", data: Array(#"{"amount":\#(amount),"at":\#(at)}"#.utf8))],
                                       to: StreamName(category: "payments", id: key))
                oracle.add(key: key, at: at, amount: amount)
                index += 1
            }
            try await store.close()
            let lifetime = 20 + Int(random.next() % UInt64(maxLifetimeMs))
            _ = try ChildProcess.runAndKill(arguments: ["--child", "--processor", "--directory", path] + mode.flags, afterMilliseconds: lifetime,
                                            clock: ChildProcess.clock(forCycle: cycle))
            let (written, late) = try await inspect(path: path, oracle: oracle, final: false)
            print("cycle \(cycle): killed after \(lifetime) ms, \(written) of \(oracle.windows.count) windows written once and right, \(late) late events recorded once")
        }
        // A last event far ahead closes every window; a last run processes everything.
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        try await store.append([EventData(type: "Paid", data: Array(#"{"amount":0,"at":1000000000}"#.utf8))], to: StreamName(category: "payments", id: "flush"))
        if mode != .tumbling && mode != .join { oracle.add(key: "flush", at: 1_000_000_000, amount: 0) }   // the engine closes what it passes
        try await store.close()
        try runToEnd(path: path, mode: mode)
        let (written, late) = try await inspect(path: path, oracle: oracle, final: true)
        let what = switch mode {
        case .tumbling: "windows written exactly once and equal to a GROUP BY"
        case .session: "session windows written exactly once and equal to the engine's run over every event once"
        case .pattern: "pattern matches written exactly once and equal to the matcher's run over every event once"
        case .join: "join pairs written exactly once and equal to the join engine's run over every event once"
        }
        print("PASS: \(cycles) SIGKILL cycles of a processor, \(index) events: all \(written) \(what), \(late) late events recorded once")
    }

    /// Checks the outputs: each window at most once (every one at the end) and equal to the
    /// oracle; each late event at most once (every one at the end). Returns the counts.
    static func inspect(path: String, oracle: Oracle, final: Bool) async throws -> (Int, Int) {
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        defer { Task { try? await store.close() } }
        var seen: Set<String> = []
        for key in keys {
            for event in try await store.read(StreamName(category: "payment-totals", id: key)) {
                let value = try JSONDecoder().decode([String: Int64].self, from: Data(event.data))
                let name = "\(key) \(value["start"]!) \(value["end"]!)"
                guard seen.insert(name).inserted else { throw ValidationError("window \(name) written twice") }
                guard let expected = oracle.windows[name], expected.count == value["count"], expected.sum == value["sum"] else {
                    throw ValidationError("window \(name) written as \(value), the oracle gives \(String(describing: oracle.windows[name]))")
                }
            }
        }
        let late = try await store.read(StreamName(category: "late-payments", id: "totals"))
        guard Set(late.compactMap(\.id)).count == late.count else { throw ValidationError("a late event recorded twice") }
        guard late.count <= oracle.late else { throw ValidationError("\(late.count) late events recorded, only \(oracle.late) are late") }
        try await store.close()
        if final {
            guard seen.count == oracle.windows.count else { throw ValidationError("\(seen.count) windows written, \(oracle.windows.count) expected") }
            guard late.count == oracle.late else { throw ValidationError("\(late.count) late events recorded, \(oracle.late) expected") }
        }
        return (seen.count, late.count)
    }

    /// Runs the child to the end of the category; fails if it stops making progress (its
    /// checkpoint file unchanged for the stall interval) or exits with an error.
    static func runToEnd(path: String, mode: Mode) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--child", "--processor", "--final", "--directory", path] + mode.flags
        try process.run()
        var last: Data?
        var since = ContinuousClock.now
        while process.isRunning {
            // Progress: any checkpoint file changing (a pattern processor keeps one per source).
            let files = (try? FileManager.default.contentsOfDirectory(atPath: path + "/checkpoints"))?.sorted() ?? []
            let now = files.reduce(into: Data()) { $0 += FileManager.default.contents(atPath: path + "/checkpoints/" + $1) ?? Data() }
            if now != last { (last, since) = (now, .now) }
            if ContinuousClock.now - since > .seconds(ChildProcess.stallSeconds) {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw ValidationError("the last run made no progress for \(ChildProcess.stallSeconds) s")
            }
            usleep(20_000)
        }
        guard process.terminationStatus == 0 else { throw ValidationError("the last run exited with \(process.terminationStatus)") }
    }

    static func runChild(path: String, final: Bool, mode: Mode) async throws {
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        if mode == .join {
            let processor = try joinProcessor(store: store, path: path)
            printReady()
            if final { try await processor.runUntilCaughtUp() } else { try await processor.run() }
        } else if mode == .pattern {
            let processor = try patternProcessor(store: store, path: path)
            printReady()
            if final { try await processor.runUntilCaughtUp() } else { try await processor.run() }
        } else {
            let processor = try processor(store: store, path: path, session: mode == .session)
            printReady()
            if final { try await processor.runUntilCaughtUp() } else { try await processor.run() }
        }
        if final { try await store.close() }
    }
}
