import ArgumentParser
import Foundation
import SteleProcessors
import SteleStore

/// `stele bench processor-latency`: from the append of the event that decides a result — the one
/// that moves the watermark past a window's end or a match's last event, or the second row of a
/// join — to that result read by a subscriber of the output category, for a window, a pattern and
/// a join processor running live over an embedded store (durable appends, checkpoints on disk).
/// The reference, measured in the same run on the same store: an event appended to being read by a
/// subscriber of its category — the floor, since a result is itself such an append.
struct ProcessorLatencyBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "processor-latency",
        abstract: "Appended → window result, alert or join pair read by a subscriber, p50/p99, against an append read by a subscriber.")

    @Option(help: "Samples per case.")
    var samples = 1_000

    @Option(help: "Scratch directory (on the disk to measure); removed afterwards.")
    var directory = "./stele-bench"

    static let window = """
        -- @processor latency_window
        -- @output latency-window-out
        SELECT stream_id, window_start, COUNT(*) AS n
        FROM TABLE(TUMBLE(TABLE latency_window, DESCRIPTOR(data.at), INTERVAL '1' SECOND))
        GROUP BY stream_id, window_start, window_end
        """

    static let pattern = """
        -- @processor latency_pattern
        -- @output latency-pattern-out
        SELECT * FROM latency_pattern MATCH_RECOGNIZE (PARTITION BY stream_id ORDER BY data.at
            MEASURES B.data.at AS at PATTERN (A B) WITHIN INTERVAL '10' SECONDS
            DEFINE A AS A.type = 'A', B AS B.type = 'B')
        """

    static let join = """
        -- @processor latency_join
        -- @output latency-join-out
        SELECT l.stream_id AS id, r.data.at AS at FROM latency_left l JOIN latency_right r
        ON r.stream_id = l.stream_id AND r.data.at BETWEEN l.data.at AND l.data.at + INTERVAL '10' SECONDS
        """

    func run() async throws {
        let root = directory + "/processor-latency-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try await EventStore.open(.embedded(path: root + "/data"))
        let checkpoints = try FileCheckpointStore(directory: root + "/checkpoints")
        print("stele bench processor-latency — \(ProcessInfo.processInfo.activeProcessorCount) cores, \(samples) samples per case, one at a time, scratch \(root)")
        print("Timed from the append call of the deciding event to the result read by a category subscriber (appends durable; the processor checkpoints after each)")

        func event(_ type: String, at time: Int64) -> EventData { EventData(type: type, data: Array(#"{"at":\#(time)}"#.utf8)) }
        var cases: [(name: String, latencies: [Double])] = []

        // The reference: an event appended, read by a subscriber of its category.
        cases.append(("reference: an append read by a category subscriber", try await measure(store: store, output: "latency-plain") { index, start in
            start()
            try await store.append([event("Plain", at: Int64(index))], to: StreamName(category: "latency-plain", id: "k"))
        }))

        // A window closes when an event at its end or later arrives: event i (at i s) closes i - 1's.
        cases.append(("window: TUMBLE 1 s COUNT, closed by the next event", try await running(Self.window, store: store, checkpoints: checkpoints) {
            try await store.append([event("Tick", at: 0)], to: StreamName(category: "latency_window", id: "k"))
            return try await measure(store: store, output: "latency-window-out") { index, start in
                start()
                try await store.append([event("Tick", at: Int64(index + 1) * 1_000)], to: StreamName(category: "latency_window", id: "k"))
            }
        }))

        // A match (A then B) is found once the watermark passes B: when the next A arrives.
        cases.append(("pattern: PATTERN (A B), found when the watermark passes B", try await running(Self.pattern, store: store, checkpoints: checkpoints) {
            let stream = StreamName(category: "latency_pattern", id: "k")
            try await store.append([event("A", at: 0), event("B", at: 1)], to: stream)
            return try await measure(store: store, output: "latency-pattern-out") { index, start in
                let time = Int64(index + 1) * 100
                start()
                try await store.append([event("A", at: time)], to: stream)
                try await store.append([event("B", at: time + 1)], to: stream)
            }
        }))

        // A pair is written as soon as its second row is read.
        cases.append(("join: interval join, paired by the second row", try await running(Self.join, store: store, checkpoints: checkpoints) {
            try await measure(store: store, output: "latency-join-out") { index, start in
                try await store.append([event("L", at: Int64(index) * 100)], to: StreamName(category: "latency_left", id: "k\(index)"))
                start()
                try await store.append([event("R", at: Int64(index) * 100 + 1)], to: StreamName(category: "latency_right", id: "k\(index)"))
            }
        }))
        try await store.close()

        func percentile(_ values: [Double], _ p: Double) -> Double { values.isEmpty ? .nan : values[min(values.count - 1, Int(Double(values.count) * p))] }
        let reference = cases[0].latencies
        var table = Table(["case", "samples", "p50 ms", "p99 ms", "max ms", "p50 vs reference", "p99 vs reference"])
        table.header()
        for (name, latencies) in cases {
            table.add([name, "\(latencies.count)", String(format: "%.2f", percentile(latencies, 0.5)), String(format: "%.2f", percentile(latencies, 0.99)),
                       String(format: "%.2f", latencies.last ?? .nan),
                       String(format: "%.2f×", percentile(latencies, 0.5) / percentile(reference, 0.5)),
                       String(format: "%.2f×", percentile(latencies, 0.99) / percentile(reference, 0.99))])
        }
        print("target (issue 19): p99 ≤ 50 ms from the deciding append to the result")
    }

    /// Runs the processor a definition declares while `body` measures, then stops it.
    func running(_ text: String, store: EventStore, checkpoints: any CheckpointStore,
                 _ body: () async throws -> [Double]) async throws -> [Double] {
        let processor = try ProcessorDefinition.parse(text, file: "bench.sql").makeRunnable(store: store, checkpoints: checkpoints)
        let task = Task { try await processor.run() }
        do {
            let latencies = try await body()
            task.cancel()
            _ = await task.result
            return latencies
        } catch {
            task.cancel()
            _ = await task.result
            throw error
        }
    }

    /// Per sample: the appends (`start` restarts the clock before the one that decides), then
    /// the next event of the output category read by a subscriber. The first tenth of the samples
    /// warms up and is not counted.
    func measure(store: EventStore, output: String, _ appends: (_ index: Int, _ start: () -> Void) async throws -> Void) async throws -> [Double] {
        let subscription = store.subscribe(toCategory: output, after: try await store.endCheckpoint(of: output))
        var results = subscription.makeAsyncIterator()
        var latencies: [Double] = []
        let warmUp = samples / 10
        let clock = ContinuousClock()
        for index in 0..<(samples + warmUp) {
            var started = clock.now
            try await appends(index) { started = clock.now }
            guard try await results.next() != nil else { throw ValidationError("the output subscription ended") }
            let elapsed = clock.now - started
            if index >= warmUp { latencies.append(Double(elapsed.components.seconds) * 1_000 + Double(elapsed.components.attoseconds) / 1e15) }
        }
        return latencies.sorted()
    }
}
