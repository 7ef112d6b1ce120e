import ArgumentParser
import Foundation
import Stele
import SteleLog
import StelePostgres
import SteleEmbedded

/// `stele bench store`: the event store's durable append rate with exact expected versions,
/// and the time to load a stream with and without snapshots. `scripts/bench-store` runs it
/// next to the PostgreSQL event-table baseline in the same run.
struct StoreBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Event-store appends (exact expected version, durable) and stream load times with and without snapshots.")

    @Option(help: "Scratch directory (on the disk to measure); removed afterwards.")
    var directory = "./stele-bench"

    @Option(help: "Seconds of appending.")
    var seconds = 10.0

    @Option(help: "Concurrent writers.")
    var writers = 32

    @Option(help: "Streams the writers append to (each writer owns streams of its own, as pgbench clients do).")
    var streams = 10_000

    @Option(help: "Stream lengths for the load benchmark, comma separated.")
    var loadSizes = "100,10000,1000000"

    @Option(help: "Which parts to run: append,load.")
    var only = "append,load"

    @Option(help: "Also measure appends into Stele's PostgreSQL backend at this URL (postgres://user@host:port/db).")
    var postgresURL: String?

    func run() async throws {
        let parts = Set(only.split(separator: ",").map(String.init))
        let root = directory + "/store-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        print("stele bench store — \(ProcessInfo.processInfo.activeProcessorCount) cores, scratch \(root)")
        if parts.contains("append") {
            print("\nAppends: one event per append, exact expected version, acknowledged once durable (fdatasync / synchronous_commit)")
            var table = Table(["store", "writers", "streams", "appends/s", "p50 ms", "p99 ms"])
            table.header()
            try await appends(EventStore.open(.embedded(path: root + "/append", flush: .always)), name: "embedded", table: &table)
            if let postgresURL {
                let schema = "stele_bench_\(getpid())"
                let storage = try await PostgresEventStorage.connect(url: postgresURL, schema: schema)
                try await appends(EventStore(storage), name: "postgres", table: &table, close: false)
                try await storage.dropSchema()
                try await storage.close()
            }
        }
        if parts.contains("load") { try await loads(root: root + "/load", sizes: loadSizes.split(separator: ",").compactMap { Int($0) }) }
    }

    /// A payload of about 100 bytes, like the PostgreSQL baseline's.
    static func payload(_ index: Int) -> [UInt8] {
        Array(#"{"account":"acc-\#(index % 10_000)","amount":\#(index % 997),"currency":"EUR","note":"benchmark event payload"}"#.utf8)
    }

    private func appends(_ store: EventStore, name: String, table: inout Table, close: Bool = true) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let start = ContinuousClock.now
        let perWriter = try await withThrowingTaskGroup(of: [Double].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    let mine = Array(stride(from: writer, to: streams, by: writers))
                    var versions = [Int64](repeating: -1, count: mine.count)
                    var latencies: [Double] = []
                    var turn = 0
                    while ContinuousClock.now < deadline {
                        let slot = turn % mine.count
                        let stream = StreamName(category: "bench", id: "stream-\(mine[slot])")
                        let began = ContinuousClock.now
                        let expected: ExpectedVersion = versions[slot] == -1 ? .noStream : .exact(versions[slot])
                        let outcome = try await store.append([EventData(type: "Deposited", data: Self.payload(turn))], to: stream, expected: expected)
                        latencies.append(elapsedSeconds(since: began))
                        versions[slot] = outcome.lastVersion
                        turn += 1
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: [[Double]]()) { $0.append($1) }
        }
        let elapsed = elapsedSeconds(since: start)
        if close { try await store.close() }
        let all = perWriter.flatMap { $0 }.sorted()
        let rate = Double(all.count) / elapsed
        table.add([name, "\(writers)", "\(streams)", formatRate(rate),
                   String(format: "%.2f", all[all.count / 2] * 1000), String(format: "%.2f", all[min(all.count - 1, all.count * 99 / 100)] * 1000)])
        print("RESULT stele-\(name)|append_1evt_exact_c\(writers)|\(Int(rate))|events/s")
    }

    struct Tick: Stele.Event {
        var amount: Int
    }

    struct Counter: Decider {
        var initialState: Int { 0 }
        func decide(_ command: Int, state: Int) throws -> [Tick] { [Tick(amount: command)] }
        func evolve(_ state: Int, _ event: Tick) -> Int { state + event.amount }
    }

    private func loads(root: String, sizes: [Int]) async throws {
        let store = try await EventStore.open(.embedded(path: root, flush: .os))
        var registry = EventRegistry<Tick>()
        registry.registerFamily()
        let snapshotEvery: Int64 = 100
        let plain = Repository(store: store, category: "loads", decider: Counter(), events: registry)
        let snapshotted = Repository(store: store, category: "loads", decider: Counter(), events: registry, snapshots: .every(snapshotEvery))
        let policy = SnapshotPolicy<Int>.every(snapshotEvery)
        print("\nStream load: read + decode + fold the whole stream (median of 5); snapshots every \(snapshotEvery) events")
        var table = Table(["events", "no snapshot ms", "(read ms", "decode ms)", "with snapshots ms", "events folded with snapshot"])
        table.header()
        for size in sizes {
            let id = "stream-\(size)"
            let stream = StreamName(category: "loads", id: id)
            var written = 0
            var state = 0
            while written < size {
                let count = min(1000, size - written)
                let events = try (0..<count).map { offset in try registry.encode(Tick(amount: (written + offset) % 7)) }
                try await store.append(events, to: stream)
                for offset in 0..<count {
                    state += (written + offset) % 7
                    let version = Int64(written + offset)
                    if (version + 1) % snapshotEvery == 0 {
                        try await store.saveSnapshot(Snapshot(stream: stream, name: policy.name, version: version, state: Array("\(state)".utf8)))
                    }
                }
                written += count
            }
            func median(_ repository: Repository<Counter>) async throws -> Double {
                var times: [Double] = []
                for _ in 0..<5 {
                    let began = ContinuousClock.now
                    let loaded = try await repository.load(id)
                    times.append(elapsedSeconds(since: began))
                    guard loaded.state == state else { throw ValidationError("load of \(id) folded \(loaded.state), expected \(state)") }
                }
                return times.sorted()[2]
            }
            var readTimes: [Double] = []
            var decodeTimes: [Double] = []
            for _ in 0..<5 {
                let began = ContinuousClock.now
                let events = try await store.read(stream)
                readTimes.append(elapsedSeconds(since: began))
                let decodeStart = ContinuousClock.now
                _ = try events.reduce(0) { $0 + (try registry.decode($1)).amount }
                decodeTimes.append(elapsedSeconds(since: decodeStart))
            }
            let readOnly = readTimes.sorted()[2], decodeOnly = decodeTimes.sorted()[2]
            let without = try await median(plain)
            let with = try await median(snapshotted)
            table.add(["\(size)", String(format: "%.3f", without * 1000), String(format: "%.3f", readOnly * 1000), String(format: "%.3f", decodeOnly * 1000), String(format: "%.3f", with * 1000), "\(Int64(size) % snapshotEvery)"])
            print("RESULT stele|load_\(size)|\(String(format: "%.3f", without * 1000))|\(String(format: "%.3f", with * 1000))|ms")
        }
        try await store.close()
    }
}
