import Foundation
import Testing
import Stele
import SteleCore
import SteleTestSupport

/// A windowed processor stopped at random points and run again: every window's result is in
/// the output once, equal to a GROUP BY of all events, every late event in the dead letters once,
/// and a restart replays only what open windows need.
struct WindowProcessorTests {
    struct Payment: Codable { var amount: Int64; var at: Int64 }

    static func processor(_ store: EventStore, _ checkpoints: any CheckpointStore, seen: Seen) -> WindowProcessor {
        var processor = WindowProcessor(
            name: "totals", source: "payments", output: "payment-totals", deadLetters: "late-payments", store: store, checkpoints: checkpoints,
            window: .tumbling(size: 1_000), aggregates: [.countAll, .sum(field: "amount")],
            select: { event in
                seen.add(last: event.stream.id == "flush")
                guard event.type == "Paid", let payment = try? JSONDecoder().decode(Payment.self, from: Data(event.data)) else { return nil }
                return WindowEvent(key: event.stream.id, time: payment.at, values: [.integer(payment.amount)])
            },
            emit: { result in
                guard case let .integer(count) = result.values[0], case let .integer(sum) = result.values[1] else { return nil }
                return ("WindowTotal", Array(#"{"start":\#(result.window.start),"count":\#(count),"sum":\#(sum)}"#.utf8))
            })
        processor.outOfOrderness = 500
        processor.checkpointEvery = 7
        return processor
    }

    @Test func restartedAtRandomPointsEveryWindowIsWrittenOnce() async throws {
        try await withStore { store in
            var random = SplitMix64(seed: 19)
            var expected: [String: (count: Int64, sum: Int64)] = [:]   // "key start" → totals
            var lateCount = 0
            var newest = Int64.min
            for index in 0..<600 {
                let key = "acct-\(random.next() % 8)"
                // Mostly within the allowed disorder (500 ms); one in forty far behind: late.
                let behind = random.next() % 40 == 0 ? Int64(3_000) : Int64(random.next() % 400)
                let at = max(0, Int64(index) * 100 - behind)
                let amount = Int64(random.next() % 100)
                try await store.append([EventData(type: "Paid", data: Array(#"{"amount":\#(amount),"at":\#(at)}"#.utf8))],
                                       to: StreamName(category: "payments", id: key))
                // The oracle applies the watermark the processor will: late if the window closed.
                let windowEnd = at / 1_000 * 1_000 + 1_000
                if newest != .min && windowEnd <= newest - 500 { lateCount += 1; continue }
                newest = max(newest, at)
                let name = "\(key) \(at / 1_000 * 1_000)"
                expected[name, default: (0, 0)].count += 1
                expected[name, default: (0, 0)].sum += amount
            }
            // A last event far ahead closes every window (its own stays open).
            try await store.append([EventData(type: "Paid", data: Array(#"{"amount":0,"at":10000000}"#.utf8))], to: StreamName(category: "payments", id: "flush"))
            let events = 601

            let checkpoints = InMemoryCheckpointStore()
            // Five runs stopped after a random number of events each (more than the replay a
            // restart needs, so they move on), then one to the end.
            for _ in 0..<5 {
                let seen = Seen()
                let stopAt = 60 + Int(random.next() % 150)
                let task = Task { do { try await Self.processor(store, checkpoints, seen: seen).run() } catch { seen.fail(error) } }
                var watch = StallWatch("run stopped at \(stopAt) events")
                // A run that reaches the last event stops there (the rest would wait for more).
                while seen.value < stopAt && !seen.sawLast {
                    if let failure = seen.failure { Issue.record("the processor failed: \(failure)"); return }
                    try watch.check(seen.value)
                    try await Task.sleep(for: .milliseconds(2))
                }
                task.cancel()
                _ = await task.result
                if let checkpoint = try await checkpoints.load("totals") {
                    // The replay point is never at the start once windows have closed behind it.
                    #expect(checkpoint.nextOffset(in: 0) <= events)
                }
            }
            let seen = Seen()
            let task = Task { do { try await Self.processor(store, checkpoints, seen: seen).run() } catch { seen.fail(error) } }
            var watch = StallWatch("the last run to write every window")
            var totals: [String: (count: Int64, sum: Int64)] = [:]
            var written = 0
            while true {
                totals = [:]
                written = 0
                for key in (0..<8).map({ "acct-\($0)" }) {
                    for event in try await store.read(StreamName(category: "payment-totals", id: key)) {
                        let value = try JSONDecoder().decode([String: Int64].self, from: Data(event.data))
                        let name = "\(key) \(value["start"]!)"
                        #expect(totals[name] == nil, "\(name) written twice")
                        totals[name] = (value["count"]!, value["sum"]!)
                        written += 1
                    }
                }
                if written >= expected.count { break }
                if let failure = seen.failure { Issue.record("the processor failed: \(failure)"); return }
                try watch.check(written)
                try await Task.sleep(for: .milliseconds(20))
            }
            task.cancel()
            _ = await task.result
            #expect(written == expected.count)
            for (name, value) in expected {
                #expect(totals[name]?.count == value.count && totals[name]?.sum == value.sum, "\(name): \(String(describing: totals[name])) written, \(value) expected")
            }
            let late = try await store.read(StreamName(category: "late-payments", id: "totals"))
            #expect(late.count == lateCount, "\(late.count) late events recorded, \(lateCount) expected")
            #expect(Set(late.map(\.id)).count == late.count, "a late event recorded twice")
            // The last run replayed only what open windows needed, not the whole category.
            #expect(seen.value < events, "the last run read \(seen.value) of \(events) events")
        }
    }
}

/// Events a processor's `select` was given, read by the test as it runs.
final class Seen: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var error: (any Error)?
    private var last = false
    func add(last: Bool) { lock.withLock { count += 1; if last { self.last = true } } }
    var sawLast: Bool { lock.withLock { last } }
    var value: Int { lock.withLock { count } }
    /// Why the run ended, unless it was stopped (cancelled).
    func fail(_ error: any Error) { if !(error is CancellationError) { lock.withLock { self.error = error } } }
    var failure: (any Error)? { lock.withLock { error } }
}
