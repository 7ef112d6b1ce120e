import ArgumentParser
import Foundation
import GRDB
import SteleCore
import SteleProcessing

/// `stele bench windows`: the window engine alone (no log, no I/O) counting and summing events
/// per key and tumbling window, against the batch ceiling measured in the same run: the same
/// rows aggregated by one SQLite `GROUP BY`.
struct WindowBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "windows",
        abstract: "Tumbling-window COUNT and SUM per key in the window engine, against one SQLite GROUP BY of the same rows.")

    @Option(help: "Events.")
    var events = 10_000_000

    @Option(help: "Keys the events are spread over.")
    var keys = 100_000

    @Option(help: "Window size in milliseconds (events are 1 ms apart in event time, up to 1 s out of order).")
    var windowMs: Int64 = 60_000

    func run() async throws {
        print("stele bench windows — \(ProcessInfo.processInfo.activeProcessorCount) cores, \(events) events over \(keys) keys, tumbling windows of \(windowMs) ms, COUNT(*) and SUM")
        let names = (0..<keys).map { "key-\($0)" }
        // The same events for both: key, event time (1 ms apart, jittered up to 1 s), value.
        let keys = keys
        @Sendable func event(_ index: Int, _ random: inout SplitMix64) -> (key: Int, time: Int64, value: Int64) {
            (Int(random.next() % UInt64(keys)), Int64(index) + Int64(random.next() % 1_000), Int64(random.next() % 1_000))
        }

        let database = try DatabaseQueue()
        let count = events
        try await database.write { db in
            try db.execute(sql: "CREATE TABLE events (key TEXT NOT NULL, time INTEGER NOT NULL, value INTEGER NOT NULL)")
            var random = SplitMix64(seed: 42)
            let insert = try db.makeStatement(sql: "INSERT INTO events VALUES (?, ?, ?)")
            for index in 0..<count {
                let (key, time, value) = event(index, &random)
                try insert.execute(arguments: [names[key], time, value])
            }
        }
        var started = ContinuousClock.now
        let groups = try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT key, time / ? AS w, count(*), sum(value) FROM events GROUP BY key, w)", arguments: [windowMs]) ?? 0
        }
        let reference = Double(events) / elapsedSeconds(since: started)

        var aggregator = WindowAggregator(spec: .tumbling(size: windowMs), aggregates: [.countAll, .sum(field: "value")], outOfOrderness: 1_000)
        var random = SplitMix64(seed: 42)
        var closed = 0, late = 0
        started = ContinuousClock.now
        for index in 0..<events {
            let (key, time, value) = event(index, &random)
            for output in aggregator.insert(WindowEvent(key: names[key], time: time, values: [.integer(value)])) {
                if case .closed = output { closed += 1 } else { late += 1 }
            }
        }
        for output in aggregator.advance(to: .max) { if case .closed = output { closed += 1 } }
        let engine = Double(events) / elapsedSeconds(since: started)
        guard closed == groups, late == 0 else {
            throw ValidationError("the engine closed \(closed) windows (\(late) events late), SQLite grouped \(groups)")
        }

        var table = Table(["run", "events/s", "windows", "vs reference"])
        table.header()
        table.add(["reference: SQLite GROUP BY of the same rows (in memory)", formatRate(reference), "\(groups)", "1.00×"])
        table.add(["WindowAggregator (event generation included)", formatRate(engine), "\(closed)", String(format: "%.2f×", engine / reference)])
    }
}
