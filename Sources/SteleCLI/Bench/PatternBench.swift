import ArgumentParser
import Foundation
import SteleCore
import SteleProcessing

/// `stele bench patterns`: the pattern matcher alone (no log, no I/O) on a 3-step pattern with
/// WITHIN over many keys, against the window engine on the same events measured in the same run
/// (the per-event cost of aggregation, the cheaper kind of processing); and the memory an open
/// partial match holds.
struct PatternBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patterns",
        abstract: "PATTERN (A B C) WITHIN 10 s per key in the pattern matcher, against the window engine on the same events; memory per open match.")

    @Option(help: "Events.")
    var events = 5_000_000

    @Option(help: "Keys the events are spread over.")
    var keys = 100_000

    func run() async throws {
        print("stele bench patterns — \(ProcessInfo.processInfo.activeProcessorCount) cores, \(events) events over \(keys) keys, PATTERN (A B C) WITHIN 10 s, up to 1 s out of order")
        let names = (0..<keys).map { "key-\($0)" }
        let keys = keys
        @Sendable func event(_ index: Int, _ random: inout SplitMix64) -> (key: Int, time: Int64, value: Int64) {
            (Int(random.next() % UInt64(keys)), Int64(index) + Int64(random.next() % 1_000), Int64(random.next() % 100))
        }
        // A: a value of 90 or more; B: below A's; C: above A's.
        let spec = PatternSpec(terms: [.init(["A"]), .init(["B"]), .init(["C"])], within: 10_000)
        let condition: PatternMatcher<Int64>.Condition = { variable, event, rows in
            switch variable {
            case "A": event.value >= 90
            case "B": rows.first.map { event.value < $0.event.value } ?? false
            default: rows.first.map { event.value > $0.event.value } ?? false
            }
        }

        // Memory first, in a fresh process: one open partial match per key (an A at time 0 that
        // nothing follows yet), read from the resident set before and after.
        var open = PatternMatcher<Int64>(spec: spec, outOfOrderness: 0, condition: condition)
        let before = residentBytes()
        for key in 0..<keys { _ = open.insert(PatternEvent(key: names[key], time: 0, value: 95)) }
        _ = open.advance(to: 1)
        let after = residentBytes()
        let openRuns = open.openRuns
        let perRun = Double(after - before) / Double(max(1, openRuns))
        open = PatternMatcher<Int64>(spec: spec, condition: condition)

        var aggregator = WindowAggregator(spec: .tumbling(size: 10_000), aggregates: [.countAll], outOfOrderness: 1_000)
        var random = SplitMix64(seed: 42)
        var started = ContinuousClock.now
        for index in 0..<events {
            let (key, time, _) = event(index, &random)
            _ = aggregator.insert(WindowEvent(key: names[key], time: time))
        }
        let reference = Double(events) / elapsedSeconds(since: started)

        var matcher = PatternMatcher<Int64>(spec: spec, outOfOrderness: 1_000, condition: condition)
        random = SplitMix64(seed: 42)
        var matches = 0, late = 0
        started = ContinuousClock.now
        for index in 0..<events {
            let (key, time, value) = event(index, &random)
            for output in matcher.insert(PatternEvent(key: names[key], time: time, value: value)) {
                if case .match = output { matches += 1 } else { late += 1 }
            }
        }
        for output in matcher.advance(to: WindowSpec.maxTime) { if case .match = output { matches += 1 } }
        let patterns = Double(events) / elapsedSeconds(since: started)
        guard late == 0, matches > 0 else { throw ValidationError("\(matches) matches, \(late) late events: the input is not what the bench means") }

        var table = Table(["run", "events/s", "matches", "vs reference"])
        table.header()
        table.add(["reference: the window engine on the same events (TUMBLE 10 s, COUNT)", formatRate(reference), "", "1.00×"])
        table.add(["PatternMatcher (event generation included)", formatRate(patterns), "\(matches)", String(format: "%.2f×", patterns / reference)])
        print("memory: \(openRuns) open partial matches held \(String(format: "%.1f", Double(after - before) / 1_048_576)) MiB more, \(Int(perRun)) B each (resident set)")
    }

    func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
