/// An event as a pattern sees it: its key (`PARTITION BY`), its event time in epoch
/// milliseconds, and whatever the conditions read. `sequence` is the order it was given in
/// (the matcher numbers events; equal times keep that order).
public struct PatternEvent<Value: Sendable>: Sendable {
    public var key: String
    public var time: Int64
    public var value: Value
    public internal(set) var sequence: UInt64 = 0

    public init(key: String, time: Int64, value: Value) {
        (self.key, self.time, self.value) = (key, time, value)
    }
}

/// An event of a match with the variable that took it.
public struct MatchedRow<Value: Sendable>: Sendable {
    public var variable: String
    public var event: PatternEvent<Value>
}

/// A pattern found: the key, the events in order with their variables, and for an absence the
/// deadline that passed with no cancelling event.
public struct PatternMatch<Value: Sendable>: Sendable {
    public var key: String
    public var rows: [MatchedRow<Value>]
    public var absenceDeadline: Int64?

    /// The rows a variable took (`B.amount` in a condition reads the last of them).
    public func rows(of variable: String) -> [MatchedRow<Value>] { rows.filter { $0.variable == variable } }
}

/// Why an event cannot be taken at `watermark` — its time outside any calendar, or behind the
/// watermark (`after` says what happened to its time already) — or nil when it can.
func lateness(of time: Int64, watermark: Int64, after: String) -> String? {
    guard (-WindowSpec.maxTime...WindowSpec.maxTime).contains(time) else {
        return "event time \(time) is outside ±\(WindowSpec.maxTime) ms (ECMAScript's date range)"
    }
    if watermark != .min && time < watermark { return "time \(time) is before the watermark \(watermark): \(after)" }
    return nil
}

public enum PatternOutput<Value: Sendable>: Sendable {
    case match(PatternMatch<Value>)
    /// Came after the watermark had passed its time: it is matched nowhere and must go to the
    /// dead letters with the reason.
    case late(PatternEvent<Value>, reason: String)
}

/// `MATCH_RECOGNIZE` over keyed streams on event time, as a state machine without I/O or clock:
/// events go in, matches and late events come out, driven only by the event times given (and
/// ``advance(to:)`` when the input is idle).
///
/// Events are held until the watermark (largest time seen minus `outOfOrderness`: no event
/// older than it is expected) passes them,
/// then fed to each key's runs in time order, so a match never depends on the order events
/// arrived in within the allowed disorder. Each key's partial matches ("runs") advance with
/// each of its events — a run that cannot take an event ends (rows are consecutive, as in SQL);
/// one that would outlive `within` ends too. Runs are bounded per key: past `maxRunsPerKey`
/// the least preferred are dropped and counted in ``droppedRuns``.
public struct PatternMatcher<Value: Sendable>: Sendable {
    /// Whether `event` may be taken by `variable`, given the rows the match took before it
    /// (`DEFINE B AS B.amount > A.amount`); a variable the caller does not define is always true.
    public typealias Condition = @Sendable (_ variable: String, _ event: PatternEvent<Value>, _ matched: [MatchedRow<Value>]) -> Bool

    public let spec: PatternSpec
    public let outOfOrderness: Int64
    public let maxRunsPerKey: Int
    let condition: Condition
    /// No event older than this is expected any more; `Int64.min` until the first event.
    public private(set) var watermark: Int64 = .min
    /// Partial matches dropped at the bound (a pattern too loose for its traffic).
    public private(set) var droppedRuns: Int64 = 0

    /// A held event's place in time order. The heap holds these, not the events: ordering them
    /// needs no generic code, and sifting moves two integers rather than an event.
    struct Held: Comparable, Sendable {
        var time: Int64
        var sequence: UInt64
        static func < (a: Held, b: Held) -> Bool { (a.time, a.sequence) < (b.time, b.sequence) }
    }

    struct Run: Sendable {
        var term: Int
        var count: Int
        var rows: [MatchedRow<Value>]
        var startTime: Int64 { rows.first?.event.time ?? .max }
        var lastSequence: UInt64 { rows.last?.event.sequence ?? 0 }
    }

    private var held = MinHeap<Held>()
    private var heldBySequence: [UInt64: PatternEvent<Value>] = [:]
    private var nextSequence: UInt64 = 0
    private var runs: [String: [Run]] = [:]
    /// Absence: completed prefixes waiting for their deadline, per key.
    private var waiting: [String: [Run]] = [:]
    /// When a key's oldest run or waiting prefix comes due (at most one live entry per key's
    /// oldest start; stale ones expire nothing).
    struct Deadline: Comparable, Sendable {
        var at: Int64
        var key: String
        static func < (a: Deadline, b: Deadline) -> Bool { (a.at, a.key) < (b.at, b.key) }
    }

    private var deadlines = MinHeap<Deadline>()

    public init(spec: PatternSpec, outOfOrderness: Int64 = 0, maxRunsPerKey: Int = 10_000, condition: @escaping Condition) {
        precondition(spec.problem == nil, spec.problem ?? "")
        precondition(outOfOrderness >= 0 && maxRunsPerKey > 0)
        (self.spec, self.outOfOrderness, self.maxRunsPerKey, self.condition) = (spec, outOfOrderness, maxRunsPerKey, condition)
    }

    /// Partial matches and waiting absences held now.
    public var openRuns: Int { runs.values.reduce(0) { $0 + $1.count } + waiting.values.reduce(0) { $0 + $1.count } }
    /// Events held until the watermark passes them.
    public var heldEvents: Int { held.count }

    /// The sequence number of the oldest event still held (waiting for the watermark, or in a
    /// run): where a replay must start to rebuild this state. Nil when nothing is held.
    /// Every row of a run counts (rows are in time order, which need not be the order given).
    public var oldestHeldSequence: UInt64? {
        var oldest = held.elements.map(\.sequence).min()
        for list in [runs, waiting] {
            for runs in list.values {
                for run in runs {
                    for row in run.rows { oldest = Swift.min(oldest ?? row.event.sequence, row.event.sequence) }
                }
            }
        }
        return oldest
    }

    /// The sequence number the next event given will get.
    public var sequenceOfNextEvent: UInt64 { nextSequence }

    /// Adds an event; returns the matches its arrival completed (through the watermark it
    /// moved), or the event itself if it is late. With `advancing` false the watermark is left
    /// to the caller's ``advance(to:)`` — several inputs, each with its own progress, move it
    /// together (the least advanced one decides).
    public mutating func insert(_ event: PatternEvent<Value>, advancing: Bool = true) -> [PatternOutput<Value>] {
        var event = event
        event.sequence = nextSequence
        nextSequence += 1
        if let reason = lateness(of: event.time, watermark: watermark, after: "the events around it were matched already") { return [.late(event, reason: reason)] }
        held.insert(Held(time: event.time, sequence: event.sequence))
        heldBySequence[event.sequence] = event
        guard advancing else { return [] }
        let (mark, overflow) = event.time.subtractingReportingOverflow(outOfOrderness)
        return advance(to: overflow ? .min : mark)
    }

    /// Moves the watermark to `time` if that is later: the held events before it are matched,
    /// in time order (an event *at* the watermark may still come), and the absences whose
    /// deadline it passed fire.
    public mutating func advance(to time: Int64) -> [PatternOutput<Value>] {
        guard time > watermark else { return [] }
        watermark = time
        var outputs: [PatternOutput<Value>] = []
        while let place = held.min, place.time < watermark {
            _ = held.popMin()
            guard let event = heldBySequence.removeValue(forKey: place.sequence) else { preconditionFailure("a held event is kept by its sequence") }
            // Absences due before it fire first (without them, `feed` drops the runs it would
            // take past WITHIN itself: one look at the key's runs per event).
            if spec.absent != nil { outputs += expire(before: event.time, key: event.key) }
            outputs += feed(event)
        }
        // A dictionary keeps its capacity: let a burst's go once it is drained.
        if heldBySequence.isEmpty && heldBySequence.capacity > 4_096 { heldBySequence = [:] }
        // Every event before the watermark is in: absences due before it fire, and runs that
        // could only be completed by an earlier event end — only the keys with a deadline
        // passed (a heap of them; an entry whose runs ended meanwhile expires nothing).
        var due: Set<String> = []
        while let next = deadlines.min, next.at < watermark {
            _ = deadlines.popMin()
            due.insert(next.key)
        }
        for key in due.sorted() {
            outputs += expire(before: watermark, key: key)
            // Its runs still open have later deadlines: watched again.
            if let within = spec.within, let start = ((runs[key] ?? []) + (waiting[key] ?? [])).map(\.startTime).min() {
                deadlines.insert(Deadline(at: Self.deadline(start, within), key: key))
            }
        }
        return outputs
    }

    /// Ends the key's runs that an event at `time` would take past `within`; fires its
    /// absences whose deadline is before `time`.
    private mutating func expire(before time: Int64, key: String) -> [PatternOutput<Value>] {
        guard let within = spec.within else { return [] }
        return expire(key: key) { run in Self.deadline(run, within) < time }
    }

    private static func deadline(_ run: Run, _ within: Int64) -> Int64 { deadline(run.startTime, within) }

    private static func deadline(_ start: Int64, _ within: Int64) -> Int64 {
        let (deadline, overflow) = start.addingReportingOverflow(within)
        return overflow ? .max : deadline
    }

    private mutating func expire(key: String, _ due: (Run) -> Bool) -> [PatternOutput<Value>] {
        // Looked at for every event fed: nothing is copied or written back unless a run is due.
        if let list = runs[key], list.contains(where: due) {
            let kept = list.filter { !due($0) }
            runs[key] = kept.isEmpty ? nil : kept
        }
        guard spec.absent != nil, let list = waiting[key], let within = spec.within else { return [] }
        var fired: [PatternOutput<Value>] = []
        var kept: [Run] = []
        for run in list {
            if due(run) { fired.append(.match(PatternMatch(key: key, rows: run.rows, absenceDeadline: Self.deadline(run, within)))) } else { kept.append(run) }
        }
        waiting[key] = kept.isEmpty ? nil : kept
        return fired
    }

    /// One event of a key, in time order: absences it cancels, runs it advances, a run it
    /// starts; the first run it completes is a match (earliest start first).
    private mutating func feed(_ event: PatternEvent<Value>) -> [PatternOutput<Value>] {
        let key = event.key
        if let absent = spec.absent, let list = waiting[key] {
            let kept = list.filter { !condition(absent, event, $0.rows) }
            waiting[key] = kept.isEmpty ? nil : kept
        }
        var next: [Run] = []
        let current = runs[key]
        var live = current ?? []
        // Runs this event would take past WITHIN end here (an absence's were expired before).
        if spec.absent == nil, let within = spec.within, live.contains(where: { Self.deadline($0, within) < event.time }) {
            live.removeAll { Self.deadline($0, within) < event.time }
        }
        for run in live { next += step(run, event) }
        next += step(Run(term: 0, count: 0, rows: []), event)
        // Most events start nothing and meet no run: nothing to write back.
        if next.isEmpty && current == nil { return [] }
        let lastTerm = spec.terms.count - 1
        if spec.absent == nil {
            if let done = next.first(where: { $0.term == lastTerm && $0.count == 1 }) {
                // SKIP PAST LAST ROW: every other run holds this event, or started before it.
                runs[key] = nil
                return [.match(PatternMatch(key: key, rows: done.rows, absenceDeadline: nil))]
            }
        } else {
            // Each completed prefix waits on its own; of the ways one start completed here,
            // the preferred one.
            var starts: Set<UInt64> = []
            for run in next where run.term == lastTerm && run.count == 1 && starts.insert(run.rows[0].event.sequence).inserted {
                waiting[key, default: []].append(run)
                if let within = spec.within { deadlines.insert(Deadline(at: Self.deadline(run, within), key: key)) }
            }
            next.removeAll { $0.term == lastTerm && $0.count == 1 }
        }
        if next.count > maxRunsPerKey {
            droppedRuns += Int64(next.count - maxRunsPerKey)
            next.removeLast(next.count - maxRunsPerKey)
        }
        // A run started by this event is the key's newest: watched from now on. (Older ones
        // are already watched.)
        if let within = spec.within, let started = next.last(where: { $0.rows.count == 1 && $0.rows[0].event.sequence == event.sequence }) {
            deadlines.insert(Deadline(at: Self.deadline(started, within), key: key))
        }
        runs[key] = next.isEmpty ? nil : next
        return []
    }

    /// The runs `run` becomes by taking `event`, most preferred first: taken by the current
    /// term (by each variable of it that holds, left to right), else by a later one once this
    /// term has its minimum. None: the run ends.
    private func step(_ run: Run, _ event: PatternEvent<Value>) -> [Run] {
        guard run.term < spec.terms.count else { return [] }
        let term = spec.terms[run.term]
        var results: [Run] = []
        if term.quantifier.max.map({ run.count < $0 }) ?? true {
            // Each variable of an alternation that holds is a way on, the leftmost preferred.
            for variable in term.variables where condition(variable, event, run.rows) {
                results.append(Run(term: run.term, count: run.count + 1, rows: run.rows + [MatchedRow(variable: variable, event: event)]))
            }
        }
        if run.count >= term.quantifier.min, run.term + 1 < spec.terms.count {
            results += step(Run(term: run.term + 1, count: 0, rows: run.rows), event)
        }
        return results
    }
}
