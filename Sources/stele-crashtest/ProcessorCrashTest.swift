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
/// replay that rebuilt part of a closed session (other bounds, another id) fails it.
enum ProcessorCrashTest {
    struct Payment: Codable { var amount: Int64; var at: Int64 }

    static func window(session: Bool) -> WindowSpec { session ? .session(gap: 1_500) : .tumbling(size: 1_000) }

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

        init(session: Bool) {
            if session { engine = WindowAggregator(spec: ProcessorCrashTest.window(session: true), aggregates: [.countAll, .sum(field: "amount")], outOfOrderness: 500) }
        }

        mutating func add(key: String, at: Int64, amount: Int64) {
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

    static func runParent(path: String, cycles: Int, maxLifetimeMs: Int, seed: UInt64, session: Bool) async throws {
        var random = SplitMix64(seed: seed)
        print("stele-crashtest --processor\(session ? " --session" : ""): \(cycles) cycles, seed \(seed), directory \(path)")
        var oracle = Oracle(session: session)
        var index = 0
        for cycle in 1...cycles {
            let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
            for _ in 0..<150 {
                let key = keys[Int(random.next() % UInt64(keys.count))]
                // Mostly within the allowed disorder (500 ms); one in forty far behind: late.
                let behind = random.next() % 40 == 0 ? Int64(3_000) : Int64(random.next() % 400)
                let at = max(0, Int64(index) * 100 - behind)
                let amount = Int64(random.next() % 100)
                try await store.append([EventData(type: "Paid", data: Array(#"{"amount":\#(amount),"at":\#(at)}"#.utf8))],
                                       to: StreamName(category: "payments", id: key))
                oracle.add(key: key, at: at, amount: amount)
                index += 1
            }
            try await store.close()
            let lifetime = 20 + Int(random.next() % UInt64(maxLifetimeMs))
            _ = try ChildProcess.runAndKill(arguments: ["--child", "--processor", "--directory", path] + (session ? ["--session"] : []), afterMilliseconds: lifetime,
                                            clock: ChildProcess.clock(forCycle: cycle))
            let (written, late) = try await inspect(path: path, oracle: oracle, final: false)
            print("cycle \(cycle): killed after \(lifetime) ms, \(written) of \(oracle.windows.count) windows written once and right, \(late) late events recorded once")
        }
        // A last event far ahead closes every window; a last run processes everything.
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        try await store.append([EventData(type: "Paid", data: Array(#"{"amount":0,"at":1000000000}"#.utf8))], to: StreamName(category: "payments", id: "flush"))
        if session { oracle.add(key: "flush", at: 1_000_000_000, amount: 0) }   // the engine closes the sessions it passes
        try await store.close()
        try runToEnd(path: path, session: session)
        let (written, late) = try await inspect(path: path, oracle: oracle, final: true)
        print("PASS: \(cycles) SIGKILL cycles of a windowed processor\(session ? " (session windows)" : ""), \(index) events: all \(written) windows written exactly once and equal to \(session ? "the engine's run over every event once" : "a GROUP BY"), \(late) late events recorded once")
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
    static func runToEnd(path: String, session: Bool) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--child", "--processor", "--final", "--directory", path] + (session ? ["--session"] : [])
        try process.run()
        var last: Data?
        var since = ContinuousClock.now
        while process.isRunning {
            let now = FileManager.default.contents(atPath: path + "/checkpoints/totals.checkpoint")
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

    static func runChild(path: String, final: Bool, session: Bool) async throws {
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        let processor = try processor(store: store, path: path, session: session)
        printReady()
        if final {
            try await processor.runUntilCaughtUp()
            try await store.close()
        } else {
            try await processor.run()
        }
    }
}
