import ArgumentParser
import Foundation
import GRDB
import Stele
import SteleLog
import StelePostgres
import SteleViews
import Synchronization
import SteleEmbedded
import StelePostgresViews

/// `stele bench views`: how fast a view catches up on the log and is rebuilt, and how long an
/// appended event takes to become visible in it. The reference, measured in the same run, is
/// the same upsert run straight into SQLite (one transaction per batch, no log, no parsing).
struct ViewBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "views",
        abstract: "View catch-up and rebuild rates over a log, and append-to-visible latency.")

    @Option(help: "Scratch directory (on the disk to measure); removed afterwards.")
    var directory = "./stele-bench"

    @Option(help: "Events in the log for the catch-up and rebuild runs.")
    var events = 1_000_000

    @Option(help: "Streams (rows of the view) the events are spread over.")
    var streams = 10_000

    @Option(help: "Events per view transaction.")
    var batchSize = 2000

    @Option(help: "Appends per second for the append-to-visible run.")
    var rate = 1000

    @Option(help: "Seconds of the append-to-visible run.")
    var seconds = 10.0

    @Option(help: "Also catch up a view in PostgreSQL at this URL (postgres://user@host:port/db).")
    var postgresURL: String?

    @Option(help: "Which parts to run: catchup,rebuild,latency.")
    var only = "catchup,rebuild,latency"

    static let definition = """
        -- @view totals
        -- @categories accounts
        CREATE TABLE totals (account TEXT PRIMARY KEY, total INTEGER NOT NULL, events INTEGER NOT NULL);
        -- @on Deposited (amount integer)
        INSERT INTO totals (account, total, events) VALUES (:stream_id, :data.amount, 1)
        ON CONFLICT (account) DO UPDATE SET total = totals.total + :data.amount, events = totals.events + 1;
        """

    func run() async throws {
        let parts = Set(only.split(separator: ",").map(String.init))
        let root = directory + "/views-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        print("stele bench views — \(ProcessInfo.processInfo.activeProcessorCount) cores, scratch \(root)")
        let definition = try ViewDefinition.parse(Self.definition, file: "totals.sql")
        let store = try await EventStore.open(.embedded(path: root + "/log", flush: .os))

        if parts.contains("catchup") || parts.contains("rebuild") {
            let started = ContinuousClock.now
            for chunk in stride(from: 0, to: events, by: 100) {
                let batch = (chunk..<min(events, chunk + 100)).map { EventData(type: "Deposited", data: Array(#"{"amount":\#($0 % 997),"note":"benchmark"}"#.utf8)) }
                try await store.append(batch, to: StreamName(category: "accounts", id: "acc-\(chunk / 100 % streams)"))
            }
            print("\nThe log: \(events) events (about 40-byte JSON payloads) over \(streams) streams, written in \(String(format: "%.1f", elapsedSeconds(since: started))) s")
            print("View: one upsert per event from a SQL definition file (payload parsed, field bound), \(batchSize) events per transaction\n")
            var table = Table(["run", "store", "events", "seconds", "events/s", "vs reference"])
            table.header()
            let reference = try referenceRate(path: root + "/reference.sqlite")
            table.add(["reference: the same upserts straight into SQLite", "sqlite", "\(events)", "", formatRate(reference), "1.00×"])
            let views = root + "/views"
            let view = MaterializedView(projection: definition, store: store, location: try SQLiteViewLocation(directory: views, name: "totals"), batchSize: batchSize)
            var start = ContinuousClock.now
            try await view.start()
            try await view.waitUntilCaughtUp()
            var elapsed = elapsedSeconds(since: start)
            table.add(["catch-up", "sqlite", "\(events)", String(format: "%.2f", elapsed), formatRate(Double(events) / elapsed),
                       String(format: "%.2f×", Double(events) / elapsed / reference)])
            if parts.contains("rebuild") {
                start = ContinuousClock.now
                try await view.rebuild()
                try await view.waitForRebuild()
                elapsed = elapsedSeconds(since: start)
                table.add(["rebuild (new tables, swap)", "sqlite", "\(events)", String(format: "%.2f", elapsed), formatRate(Double(events) / elapsed),
                           String(format: "%.2f×", Double(events) / elapsed / reference)])
            }
            await view.stop()
            if let postgresURL {
                let name = "stele_bench_\(getpid())"
                let location = try PostgresViewLocation(url: postgresURL, name: name)
                let postgresView = MaterializedView(projection: definition, store: store, location: location, batchSize: batchSize)
                start = ContinuousClock.now
                try await postgresView.start()
                try await postgresView.waitUntilCaughtUp()
                elapsed = elapsedSeconds(since: start)
                table.add(["catch-up", "postgres", "\(events)", String(format: "%.2f", elapsed), formatRate(Double(events) / elapsed),
                           String(format: "%.2f×", Double(events) / elapsed / reference)])
                await postgresView.stop()
                let cleanup = try PostgresViewStore(url: postgresURL, schema: name)
                try await cleanup.drop()
                try await cleanup.close()
            }
        }
        if parts.contains("latency") { try await latency(root: root) }
        try await store.close()
    }

    /// The ceiling a view store could reach: the view's upsert with its parameters already
    /// bound, in transactions of `batchSize`, through GRDB's cached statement.
    private func referenceRate(path: String) throws -> Double {
        // A pool in WAL mode, as the view store opens its files.
        let queue = try DatabasePool(path: path)
        try queue.write { db in try db.execute(sql: "CREATE TABLE totals (account TEXT PRIMARY KEY, total INTEGER NOT NULL, events INTEGER NOT NULL)") }
        let started = ContinuousClock.now
        for chunk in stride(from: 0, to: events, by: batchSize) {
            try queue.write { db in
                let statement = try db.cachedStatement(sql: """
                    INSERT INTO totals (account, total, events) VALUES (?, ?, 1)
                    ON CONFLICT (account) DO UPDATE SET total = totals.total + excluded.total, events = totals.events + 1
                    """)
                for index in chunk..<min(events, chunk + batchSize) {
                    try statement.execute(arguments: ["acc-\(index / 100 % streams)", index % 997])
                }
            }
        }
        return Double(events) / elapsedSeconds(since: started)
    }

    /// Appends at `rate` per second (one event, durable) and times each until the view
    /// announces it applied.
    private func latency(root: String) async throws {
        let store = try await EventStore.open(.embedded(path: root + "/latency-log", flush: .always))
        let definition = try ViewDefinition.parse(Self.definition, file: "totals.sql")
        let view = MaterializedView(projection: definition, store: store, location: try SQLiteViewLocation(directory: root + "/latency-views", name: "totals"), batchSize: batchSize)
        try await view.start()
        let sent = Mutex<[StreamName: ContinuousClock.Instant]>([:])
        let delays = Mutex<[Double]>([])
        let changes = view.changes(bufferSize: 100_000)
        let follower = Task {
            for try await change in changes {
                let now = ContinuousClock.now
                for event in change.events {
                    if event.version == 0, let start = sent.withLock({ $0.removeValue(forKey: event.stream) }) {
                        let delay = now - start
                        delays.withLock { $0.append(Double(delay.components.seconds) * 1000 + Double(delay.components.attoseconds) / 1e15) }
                    }
                }
            }
        }
        let total = Int(seconds * Double(rate))
        let interval = Duration.seconds(1) / rate
        let clock = ContinuousClock()
        var next = clock.now
        var appendTimes: [Double] = []
        for index in 0..<total {
            try await clock.sleep(until: next)
            next += interval
            // Each append goes to a new stream, so the follower knows it by its stream (version 0);
            // the clock starts before the append: visible means durable, applied and committed.
            let stream = StreamName(category: "accounts", id: "latency-\(index)")
            let start = clock.now
            sent.withLock { $0[stream] = start }
            try await store.append([EventData(type: "Deposited", data: Array(#"{"amount":\#(index % 997)}"#.utf8))], to: stream)
            let appended = clock.now - start
            appendTimes.append(Double(appended.components.seconds) * 1000 + Double(appended.components.attoseconds) / 1e15)
        }
        try await Task.sleep(for: .seconds(1))
        follower.cancel()
        await view.stop()
        try await store.close()
        let measured = delays.withLock { $0 }.sorted()
        let missed = sent.withLock { $0.count }
        appendTimes.sort()
        func percentile(_ values: [Double], _ p: Double) -> String {
            values.isEmpty ? "-" : String(format: "%.2f", values[min(values.count - 1, Int(Double(values.count) * p))])
        }
        print("\nAppend to visible: \(total) appends at \(rate)/s (one event, durable), timed from the append call to the view's change")
        var table = Table(["measured", "samples", "p50 ms", "p99 ms", "max ms"])
        table.header()
        table.add(["append acknowledged (durable)", "\(appendTimes.count)", percentile(appendTimes, 0.5), percentile(appendTimes, 0.99), percentile(appendTimes, 1)])
        table.add(["append → visible in the view", "\(measured.count)", percentile(measured, 0.5), percentile(measured, 0.99), percentile(measured, 1)])
        if missed > 0 { print("\(missed) appends were not seen in the view within a second of the last append") }
    }
}
