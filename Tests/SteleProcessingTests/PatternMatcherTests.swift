import Testing
import SteleCore
@testable import SteleProcessing

/// The pattern matcher against a brute-force oracle: each key's events sorted by time, every
/// start and end tried, the first match (earliest end, then earliest start, then the preferred
/// assignment) taken and the search resumed after it; for absence, every completed prefix with
/// no cancelling event by its deadline. Input arrives out of order within the allowed disorder.
struct PatternMatcherTests {
    typealias Event = PatternEvent<Int>

    static let condition: PatternMatcher<Int>.Condition = { variable, event, rows in
        switch variable {
        case "A": event.value >= 50
        case "B": rows.last.map { event.value < $0.event.value } ?? false
        case "C": rows.first.map { event.value > $0.event.value } ?? false
        case "D": event.value % 2 == 0
        case "E": event.value < 50
        // Follows an E only: the alternation's second choice.
        case "F": rows.last?.variable == "E" && event.value > 90
        default: true
        }
    }

    /// Events per key with increasing times (ties included), given in an order shuffled within
    /// `disorder`; returns them in the order given.
    static func traffic(seed: UInt64, count: Int, keys: Int, disorder: Int64) -> [Event] {
        var random = SplitMix64(seed: seed)
        var events: [(arrival: Int64, event: Event)] = []
        var time: Int64 = 0
        for _ in 0..<count {
            time += Int64(random.next() % 300)
            let event = Event(key: "k\(random.next() % UInt64(keys))", time: time, value: Int(random.next() % 100))
            events.append((time + Int64(random.next() % UInt64(disorder)), event))
        }
        return events.enumerated().sorted { ($0.element.arrival, $0.offset) < ($1.element.arrival, $1.offset) }.map(\.element.event)
    }

    /// The preferred way rows[s...r] match the whole pattern, ending with its last term at r.
    static func assignment(_ spec: PatternSpec, _ rows: [Event], _ s: Int, _ r: Int) -> [MatchedRow<Int>]? {
        if let within = spec.within, rows[r].time - rows[s].time > within { return nil }
        func search(_ i: Int, _ term: Int, _ count: Int, _ taken: [MatchedRow<Int>]) -> [MatchedRow<Int>]? {
            let t = spec.terms[term]
            if t.quantifier.max.map({ count < $0 }) ?? true {
                for v in t.variables where condition(v, rows[i], taken) {
                    let next = taken + [MatchedRow(variable: v, event: rows[i])]
                    if i == r {
                        if term == spec.terms.count - 1 && count + 1 == 1 { return next }
                    } else if let found = search(i + 1, term, count + 1, next) {
                        return found
                    }
                }
            }
            if count >= t.quantifier.min, term + 1 < spec.terms.count { return search(i, term + 1, 0, taken) }
            return nil
        }
        return search(s, 0, 0, [])
    }

    static func oracle(_ spec: PatternSpec, _ given: [Event]) -> [String] {
        var found: [String] = []
        let numbered = given.enumerated().map { index, event -> Event in var e = event; e.sequence = UInt64(index); return e }
        for key in Set(numbered.map(\.key)).sorted() {
            let rows = numbered.filter { $0.key == key }.sorted { ($0.time, $0.sequence) < ($1.time, $1.sequence) }
            if let absent = spec.absent, let within = spec.within {
                for s in rows.indices {
                    for r in s..<rows.count {
                        guard let taken = assignment(spec, rows, s, r) else { continue }
                        let deadline = rows[s].time + within
                        let cancelled = rows[(r + 1)...].contains { $0.time <= deadline && condition(absent, $0, taken) }
                        if !cancelled { found.append(describe(key, taken)) }
                    }
                }
                continue
            }
            var p = 0
            search: while p < rows.count {
                for r in p..<rows.count {
                    for s in p...r {
                        if let taken = assignment(spec, rows, s, r) {
                            found.append(describe(key, taken))
                            p = r + 1
                            continue search
                        }
                    }
                }
                break
            }
        }
        return found.sorted()
    }

    static func describe(_ key: String, _ rows: [MatchedRow<Int>]) -> String {
        key + " " + rows.map { "\($0.variable)\($0.event.sequence)" }.joined(separator: " ")
    }

    static func run(_ spec: PatternSpec, _ given: [Event], disorder: Int64) -> [String] {
        var matcher = PatternMatcher<Int>(spec: spec, outOfOrderness: disorder, condition: condition)
        var found: [String] = []
        for event in given {
            for output in matcher.insert(event) {
                guard case let .match(match) = output else { Issue.record("a late event within the disorder: \(output)"); continue }
                found.append(describe(match.key, match.rows))
            }
        }
        for output in matcher.advance(to: WindowSpec.maxTime) {
            if case let .match(match) = output { found.append(describe(match.key, match.rows)) }
        }
        #expect(matcher.openRuns == 0 || spec.within == nil)
        #expect(matcher.droppedRuns == 0)
        return found.sorted()
    }

    @Test(arguments: [
        PatternSpec(terms: [.init(["A"]), .init(["B"], .oneOrMore), .init(["C"])], within: 5_000),
        PatternSpec(terms: [.init(["A", "C"]), .init(["B"], .zeroOrMore), .init(["C"])], within: 3_000),
        PatternSpec(terms: [.init(["A"]), .init(["X"], .between(min: 1, max: 3)), .init(["C"])]),
        PatternSpec(terms: [.init(["A"]), .init(["B"], .optional), .init(["C"])], within: 2_000),
        // Both of an alternation may hold (D: any even value, E: any value under 50): only one
        // may lead to a match, which the other must not hide.
        PatternSpec(terms: [.init(["D", "E"]), .init(["F"])], within: 2_000),
    ])
    func matchesWhatTheOracleFinds(spec: PatternSpec) {
        for seed in 1...6 as ClosedRange<UInt64> {
            let given = Self.traffic(seed: seed, count: 400, keys: 5, disorder: 1_000)
            let expected = Self.oracle(spec, given)
            #expect(!expected.isEmpty, "seed \(seed) finds nothing to compare")
            #expect(Self.run(spec, given, disorder: 1_000) == expected, "seed \(seed)")
        }
    }

    /// Absence: a large event (A) not followed within 2 s by a larger one (C) of the same key.
    @Test func absenceFiresWhenTheDeadlinePassesUncancelled() {
        let spec = PatternSpec(terms: [.init(["A"])], absent: "C", within: 2_000)
        for seed in 1...6 as ClosedRange<UInt64> {
            let given = Self.traffic(seed: seed, count: 400, keys: 5, disorder: 1_000)
            let expected = Self.oracle(spec, given)
            #expect(!expected.isEmpty)
            #expect(Self.run(spec, given, disorder: 1_000) == expected, "seed \(seed)")
        }
    }

    /// An absence fires once the watermark passes its deadline (every event up to it is in),
    /// not before.
    @Test func absenceWaitsForTheWatermark() {
        var matcher = PatternMatcher<Int>(spec: PatternSpec(terms: [.init(["A"])], absent: "C", within: 1_000), condition: Self.condition)
        #expect(matcher.insert(Event(key: "card", time: 0, value: 60)).isEmpty)
        #expect(matcher.insert(Event(key: "card", time: 999, value: 10)).isEmpty)   // not larger: no cancel
        #expect(matcher.insert(Event(key: "other", time: 1_000, value: 1)).isEmpty)  // at the deadline: not past it
        let fired = matcher.insert(Event(key: "other", time: 1_001, value: 1))
        guard case let .match(match)? = fired.first else { Issue.record("no alert: \(fired)"); return }
        #expect(match.key == "card" && match.absenceDeadline == 1_000 && match.rows.map(\.event.time) == [0])
        // Cancelled: a larger event in time.
        #expect(matcher.insert(Event(key: "card", time: 2_000, value: 70)).isEmpty)
        #expect(matcher.insert(Event(key: "card", time: 2_500, value: 90)).isEmpty)
        #expect(matcher.advance(to: 10_000).allSatisfy { if case let .match(m) = $0 { m.rows[0].event.time != 2_000 } else { true } })
    }

    @Test func lateEventsAreReturnedWithTheReason() {
        var matcher = PatternMatcher<Int>(spec: PatternSpec(terms: [.init(["A"]), .init(["C"])]), outOfOrderness: 100, condition: Self.condition)
        _ = matcher.insert(Event(key: "k", time: 1_000, value: 60))
        guard case let .late(_, reason)? = matcher.insert(Event(key: "k", time: 899, value: 70)).first else { Issue.record("not late"); return }
        #expect(reason.contains("watermark 900"))
        // At the watermark is not late: another event of that time may still come.
        #expect(matcher.insert(Event(key: "k", time: 900, value: 70)).allSatisfy { if case .late = $0 { false } else { true } })
        guard case .late? = matcher.insert(Event(key: "k", time: .max, value: 1)).first else { Issue.record("not refused"); return }
    }

    @Test func refusesPatternsItCannotRun() {
        #expect(PatternSpec(terms: []).problem != nil)
        #expect(PatternSpec(terms: [.init(["A"]), .init(["B"], .oneOrMore)]).problem != nil)
        #expect(PatternSpec(terms: [.init(["A"])], absent: "B").problem != nil)
        #expect(PatternSpec(terms: [.init(["A"], .between(min: 3, max: 2)), .init(["B"])]).problem != nil)
        #expect(PatternSpec(terms: [.init(["A"]), .init(["B"])], within: 0).problem != nil)
    }

    /// State is bounded: a pattern that keeps every start alive drops the least preferred runs
    /// past the bound and counts them.
    @Test func runsAreBounded() {
        var matcher = PatternMatcher<Int>(spec: PatternSpec(terms: [.init(["X"], .zeroOrMore), .init(["Z"])]), maxRunsPerKey: 10,
                                          condition: { variable, _, _ in variable == "X" })
        for time in 0..<100 { _ = matcher.insert(Event(key: "k", time: Int64(time), value: 0)) }
        #expect(matcher.openRuns <= 10)
        #expect(matcher.droppedRuns > 0)
    }
}
