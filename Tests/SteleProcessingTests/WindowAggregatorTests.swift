import SteleCore
import Testing
@testable import SteleProcessing

/// The window engine against oracles that know nothing of watermarks: events arrive out of
/// order by at most the allowed disorder, so none is late, and the closed windows must equal a
/// plain GROUP BY of all events by key and window. Seeded, so a failure replays.
struct WindowAggregatorTests {
    static let aggregates: [AggregateFunction] = [
        .countAll, .count(field: "v"), .sum(field: "v"), .min(field: "v"), .max(field: "v"), .avg(field: "v"),
        .countDistinct(field: "v"), .first(field: "v"), .last(field: "v"),
    ]

    /// Events of `keys` keys over `span` ms, each arriving at most `disorder` ms after a later
    /// one; some values NULL.
    static func generate(seed: UInt64, count: Int, keys: Int, span: Int64, disorder: Int64) -> [WindowEvent] {
        var random = SplitMix64(seed: seed)
        var events: [WindowEvent] = (0..<count).map { _ in
            let time = Int64(random.next() % UInt64(span))
            let value: AggregateValue = random.next() % 10 == 0 ? .null : .integer(Int64(random.next() % 100) - 20)
            return WindowEvent(key: "k\(random.next() % UInt64(keys))", time: time, values: [value])
        }
        events.sort { $0.time < $1.time }
        // Shuffle within the disorder: each event moves earlier past events at most `disorder` later.
        var jittered = events.enumerated().map { (index, event) in (event.time + Int64(random.next() % UInt64(disorder + 1)), index, event) }
        jittered.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        // An event arrives after another only if it is at most `disorder` older (checked below).
        let arrivals = jittered.map(\.2)
        var maxSeen = Int64.min
        for event in arrivals {
            precondition(maxSeen == .min || event.time >= maxSeen - disorder, "the generator broke its disorder bound")
            maxSeen = max(maxSeen, event.time)
        }
        return arrivals
    }

    /// What SQL would answer: group every event by key and window, aggregate.
    static func oracle(_ events: [WindowEvent], spec: WindowSpec) -> [String: [AggregateValue]] {
        var groups: [String: [(index: Int, event: WindowEvent)]] = [:]
        func name(_ key: String, _ window: TimeWindow) -> String { "\(key) \(window)" }
        switch spec {
        case .tumbling, .hopping:
            for (index, event) in events.enumerated() {
                for window in spec.windows(containing: event.time) { groups[name(event.key, window), default: []].append((index, event)) }
            }
        case let .session(gap):
            let byKey = Dictionary(grouping: events.enumerated().map { ($0.offset, $0.element) }, by: { $0.1.key })
            for (key, keyed) in byKey {
                let sorted = keyed.sorted { ($0.1.time, $0.0) < ($1.1.time, $1.0) }
                var current: [(Int, WindowEvent)] = []
                var start = Int64.min, end = Int64.min
                func flush() { if !current.isEmpty { groups[name(key, TimeWindow(start: start, end: end))] = current.map { (index: $0.0, event: $0.1) } } }
                for (index, event) in sorted {
                    if current.isEmpty || event.time >= end {
                        flush()
                        current = []
                        start = event.time
                    }
                    current.append((index, event))
                    end = max(end, event.time + gap)
                }
                flush()
            }
        }
        return groups.mapValues { members in
            aggregates.map { function -> AggregateValue in
                let values = members.map { (index: $0.index, time: $0.event.time, value: $0.event.values.first ?? .null) }
                let present = values.filter { $0.value != .null }
                let numbers = present.compactMap { value -> Int64? in if case let .integer(number) = value.value { number } else { nil } }
                switch function {
                case .countAll: return .integer(Int64(values.count))
                case .count: return .integer(Int64(present.count))
                case .countDistinct: return .integer(Int64(Set(present.map(\.value)).count))
                case .sum: return numbers.isEmpty ? .null : .integer(numbers.reduce(0, +))
                case .min: return numbers.min().map(AggregateValue.integer) ?? .null
                case .max: return numbers.max().map(AggregateValue.integer) ?? .null
                case .avg: return numbers.isEmpty ? .null : .real(Double(numbers.reduce(0, +)) / Double(numbers.count))
                case .first: return present.min { ($0.time, $0.index) < ($1.time, $1.index) }?.value ?? .null
                case .last: return present.max { ($0.time, $0.index) < ($1.time, $1.index) }?.value ?? .null
                }
            }
        }
    }

    static func run(_ spec: WindowSpec, seed: UInt64, disorder: Int64) -> (results: [String: [AggregateValue]], late: Int, events: [WindowEvent]) {
        let events = generate(seed: seed, count: 4_000, keys: 40, span: 100_000, disorder: disorder)
        var aggregator = WindowAggregator(spec: spec, aggregates: aggregates, outOfOrderness: disorder)
        var outputs: [WindowOutput] = []
        for event in events { outputs += aggregator.insert(event) }
        outputs += aggregator.advance(to: .max)
        #expect(aggregator.openWindows == 0, "windows left open after the watermark reached the end of time")
        #expect(aggregator.keysHeld == 0, "keys still hold ids with no window open")
        var results: [String: [AggregateValue]] = [:]
        var late = 0
        for output in outputs {
            switch output {
            case let .closed(result):
                let name = "\(result.key) \(result.window)"
                #expect(results[name] == nil, "\(name) closed twice")
                results[name] = result.values
            case .late: late += 1
            }
        }
        return (results, late, events)
    }

    @Test(arguments: [WindowSpec.tumbling(size: 1_000), .hopping(size: 3_000, slide: 1_000), .session(gap: 700)])
    func closedWindowsEqualAGroupByOfEveryEvent(spec: WindowSpec) {
        for seed in UInt64(1)...5 {
            let (results, late, events) = Self.run(spec, seed: seed, disorder: 2_500)
            #expect(late == 0, "\(spec) seed \(seed): \(late) events late within the allowed disorder")
            let expected = Self.oracle(events, spec: spec)
            #expect(results.count == expected.count, "\(spec) seed \(seed): \(results.count) windows, the oracle has \(expected.count)")
            for (name, values) in expected where results[name] != values {
                Issue.record("\(spec) seed \(seed): \(name) is \(results[name].map { "\($0)" } ?? "missing"), the oracle says \(values)")
                break
            }
        }
    }

    @Test func aLateEventIsReturnedWithTheReasonAndCountedNowhere() {
        var aggregator = WindowAggregator(spec: .tumbling(size: 10), aggregates: [.countAll, .sum(field: "v")], allowedLateness: 5)
        #expect(aggregator.insert(WindowEvent(key: "a", time: 1, values: [.integer(1)])) == [])
        #expect(aggregator.insert(WindowEvent(key: "a", time: 12, values: [.integer(10)])) == [])
        // Within the allowed lateness: [0, 10) is still open at watermark 12.
        #expect(aggregator.insert(WindowEvent(key: "a", time: 3, values: [.integer(2)])) == [])
        let closing = aggregator.insert(WindowEvent(key: "a", time: 15, values: [.integer(100)]))
        #expect(closing == [.closed(WindowResult(key: "a", window: TimeWindow(start: 0, end: 10), values: [.integer(2), .integer(3)], events: 2))])
        let late = WindowEvent(key: "a", time: 4, values: [.integer(1000)])
        guard case let .late(event, reason)? = aggregator.insert(late).first else {
            Issue.record("an event for a closed window was not returned as late")
            return
        }
        #expect(event == late && reason.contains("closed"))
        #expect(aggregator.advance(to: .max) == [.closed(WindowResult(key: "a", window: TimeWindow(start: 10, end: 20), values: [.integer(2), .integer(110)], events: 2))])
    }

    @Test func aHoppingEventInSomeClosedWindowsCountsInTheOthers() {
        var aggregator = WindowAggregator(spec: .hopping(size: 10, slide: 5), aggregates: [.countAll])
        _ = aggregator.insert(WindowEvent(key: "a", time: 11))   // watermark 11: [0, 10) may close
        let outputs = aggregator.insert(WindowEvent(key: "a", time: 7))   // in [0, 10) (closed) and [5, 15)
        #expect(outputs == [])
        let rest = aggregator.advance(to: .max)
        #expect(rest == [
            .closed(WindowResult(key: "a", window: TimeWindow(start: 5, end: 15), values: [.integer(2)], events: 2)),
            .closed(WindowResult(key: "a", window: TimeWindow(start: 10, end: 20), values: [.integer(1)], events: 1)),
        ])
    }

    @Test func sessionsMergeWhenAnEventBridgesThem() {
        var aggregator = WindowAggregator(spec: .session(gap: 10), aggregates: [.countAll, .first(field: "v"), .last(field: "v")], outOfOrderness: 100)
        _ = aggregator.insert(WindowEvent(key: "a", time: 0, values: [.text("first")]))
        _ = aggregator.insert(WindowEvent(key: "a", time: 30, values: [.text("last")]))
        #expect(aggregator.openWindows == 2)
        _ = aggregator.insert(WindowEvent(key: "a", time: 15, values: [.text("bridge")]))  // [15, 25) meets neither
        #expect(aggregator.openWindows == 3)
        _ = aggregator.insert(WindowEvent(key: "a", time: 8, values: [.text("joins")]))   // [8, 18) overlaps [0, 10) and [15, 25)
        #expect(aggregator.openWindows == 2)
        _ = aggregator.insert(WindowEvent(key: "a", time: 22, values: [.text("joins")]))  // [22, 32) overlaps [0, 25) and [30, 40)
        #expect(aggregator.openWindows == 1)
        #expect(aggregator.advance(to: .max) == [.closed(WindowResult(key: "a", window: TimeWindow(start: 0, end: 40),
                                                                        values: [.integer(5), .text("first"), .text("last")], events: 5))])
    }

    @Test func stateIsBoundedAndTheRefusedEventSaysWhy() {
        var aggregator = WindowAggregator(spec: .tumbling(size: 10), aggregates: [.countAll], maxOpenWindows: 2)
        _ = aggregator.insert(WindowEvent(key: "a", time: 1))
        _ = aggregator.insert(WindowEvent(key: "b", time: 1))
        _ = aggregator.insert(WindowEvent(key: "a", time: 2))   // an open window: accepted
        guard case let .late(_, reason)? = aggregator.insert(WindowEvent(key: "c", time: 2)).first else {
            Issue.record("a third window was opened past the bound")
            return
        }
        #expect(reason.contains("state limit"))
        #expect(aggregator.openWindows == 2)
    }

    @Test func sumsThatOverflowBecomeRealAndEmptyAggregatesAreNull() {
        var aggregator = WindowAggregator(spec: .tumbling(size: 10), aggregates: [.sum(field: "v"), .min(field: "missing"), .count(field: "missing"), .avg(field: "v")])
        #expect(aggregator.fields == ["v", "missing"], "each field once, in the order first named")
        // Values are positional: this event gives `v` only, so `missing` is NULL.
        _ = aggregator.insert(WindowEvent(key: "a", time: 1, values: [.integer(.max)]))
        _ = aggregator.insert(WindowEvent(key: "a", time: 2, values: [.integer(.max)]))
        #expect(aggregator.advance(to: .max) == [.closed(WindowResult(key: "a", window: TimeWindow(start: 0, end: 10),
                                                                        values: [.real(2 * Double(Int64.max)), .null, .integer(0), .real(Double(Int64.max))], events: 2))])
    }

    @Test func windowsAreAlignedToTheEpochForNegativeTimesToo() {
        #expect(WindowSpec.tumbling(size: 10).windows(containing: -1) == [TimeWindow(start: -10, end: 0)])
        #expect(WindowSpec.tumbling(size: 10).windows(containing: -10) == [TimeWindow(start: -10, end: 0)])
        #expect(WindowSpec.hopping(size: 10, slide: 5).windows(containing: 12) == [TimeWindow(start: 5, end: 15), TimeWindow(start: 10, end: 20)])
        #expect(WindowSpec.hopping(size: 10, slide: 3).problem != nil)
        #expect(WindowSpec.session(gap: 0).problem != nil)
    }
}
