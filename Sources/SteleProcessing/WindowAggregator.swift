/// An event as a window aggregation sees it: its key (`PARTITION BY` / `GROUP BY`), its event
/// time in epoch milliseconds, and the fields its aggregates read.
public struct WindowEvent: Sendable, Equatable {
    public var key: String
    public var time: Int64
    public var values: [String: AggregateValue]

    public init(key: String, time: Int64, values: [String: AggregateValue] = [:]) {
        (self.key, self.time, self.values) = (key, time, values)
    }
}

/// A closed window's aggregates, in the order the aggregation was given them.
public struct WindowResult: Sendable, Equatable {
    public var key: String
    public var window: TimeWindow
    public var values: [AggregateValue]
    /// Events that fell in the window.
    public var events: Int64
}

public enum WindowOutput: Sendable, Equatable {
    /// The watermark passed the window's end plus the allowed lateness: its result is final.
    case closed(WindowResult)
    /// The event came after every window it belongs to had closed, or past the state bound; it
    /// is not counted anywhere and must go to the dead letters with the reason.
    case late(WindowEvent, reason: String)
}

/// Windowed aggregation on event time, as a state machine without I/O or clock: events go in,
/// closed windows and late events come out, driven only by the event times it is given (and
/// ``advance(to:)`` when the input is idle), so a run is deterministic and can be replayed.
///
/// The watermark is the largest event time seen minus `outOfOrderness` (events may arrive that
/// much out of order without being late): no event older than the watermark is expected. A window closes once the watermark reaches its end
/// plus `allowedLateness`; an event whose every window has closed is late. Session windows
/// grow with each event closer than the gap to the session and merge when an event bridges two.
/// State is bounded: past `maxOpenWindows` open windows an event that would open another is
/// refused as late ("state limit"), never silently dropped.
public struct WindowAggregator: Sendable {
    public let spec: WindowSpec
    public let aggregates: [AggregateFunction]
    public let outOfOrderness: Int64
    public let allowedLateness: Int64
    public let maxOpenWindows: Int
    /// No event older than this is expected any more; `Int64.min` until the first event.
    public private(set) var watermark: Int64 = .min

    struct Slot: Sendable {
        var accumulators: [Accumulator]
        var events: Int64
    }

    struct Closing: Comparable, Sendable {
        var at: Int64
        var key: String
        var window: TimeWindow
        static func < (a: Closing, b: Closing) -> Bool { (a.at, a.key, a.window) < (b.at, b.key, b.window) }
    }

    struct WindowKey: Hashable, Sendable {
        var key: String
        var window: TimeWindow
    }

    private var open: [WindowKey: Slot] = [:]
    /// Each key's open sessions, oldest first, never overlapping.
    private var sessions: [String: [TimeWindow]] = [:]
    /// Close times; an entry whose window has since grown or merged is skipped when popped.
    private var closings = MinHeap<Closing>()

    public var openWindows: Int { open.count }

    public init(spec: WindowSpec, aggregates: [AggregateFunction], outOfOrderness: Int64 = 0, allowedLateness: Int64 = 0,
                maxOpenWindows: Int = 1_000_000) {
        precondition(spec.problem == nil, spec.problem ?? "")
        precondition(outOfOrderness >= 0 && allowedLateness >= 0 && maxOpenWindows > 0)
        (self.spec, self.aggregates, self.outOfOrderness, self.allowedLateness, self.maxOpenWindows) =
            (spec, aggregates, outOfOrderness, allowedLateness, maxOpenWindows)
    }

    /// When a window ending at `end` closes.
    func closeTime(_ end: Int64) -> Int64 {
        let (sum, overflow) = end.addingReportingOverflow(allowedLateness)
        return overflow ? .max : sum
    }

    func isClosed(_ window: TimeWindow) -> Bool { watermark != .min && closeTime(window.end) <= watermark }

    /// Adds an event; returns the windows its time closed (oldest first), or the event itself
    /// if it is late.
    public mutating func insert(_ event: WindowEvent) -> [WindowOutput] {
        switch spec {
        case .tumbling, .hopping:
            let windows = spec.windows(containing: event.time).filter { !isClosed($0) }
            guard !windows.isEmpty else {
                return [.late(event, reason: "every window of time \(event.time) closed at watermark \(watermark)")]
            }
            let new = windows.filter { open[WindowKey(key: event.key, window: $0)] == nil }.count
            if open.count + new > maxOpenWindows {
                return [.late(event, reason: "state limit: \(maxOpenWindows) windows are open")]
            }
            for window in windows { add(event, to: WindowKey(key: event.key, window: window)) }
        case let .session(gap):
            let (end, overflow) = event.time.addingReportingOverflow(gap)
            guard !overflow else { return [.late(event, reason: "time \(event.time) is past the last session")] }
            if let refusal = addToSession(event, TimeWindow(start: event.time, end: end)) { return [refusal] }
        }
        let (mark, overflow) = event.time.subtractingReportingOverflow(outOfOrderness)
        return advance(to: overflow ? .min : mark)
    }

    /// Moves the watermark to `time` if that is later (no event older than `time` is expected:
    /// the input is idle, or its source said so) and returns the windows that closed.
    public mutating func advance(to time: Int64) -> [WindowOutput] {
        guard time > watermark else { return [] }
        watermark = time
        var closed: [WindowOutput] = []
        while let next = closings.min, next.at <= watermark {
            _ = closings.popMin()
            let slotKey = WindowKey(key: next.key, window: next.window)
            // A session that grew or merged since has a later entry of its own.
            guard closeTime(next.window.end) == next.at, let slot = open.removeValue(forKey: slotKey) else { continue }
            if case .session = spec {
                sessions[next.key]?.removeAll { $0 == next.window }
                if sessions[next.key]?.isEmpty == true { sessions[next.key] = nil }
            }
            closed.append(.closed(WindowResult(key: next.key, window: next.window, values: slot.accumulators.map(\.result), events: slot.events)))
        }
        return closed
    }

    private mutating func add(_ event: WindowEvent, to slotKey: WindowKey) {
        if open[slotKey] == nil {
            open[slotKey] = Slot(accumulators: aggregates.map(Accumulator.init), events: 0)
            closings.insert(Closing(at: closeTime(slotKey.window.end), key: slotKey.key, window: slotKey.window))
        }
        open[slotKey]!.events += 1
        for index in aggregates.indices {
            let value = aggregates[index].field.map { event.values[$0] ?? .null } ?? .null
            open[slotKey]!.accumulators[index].add(value, at: event.time)
        }
    }

    /// Puts the event's own session `[time, time + gap)` with the key's sessions, merging every
    /// open one it overlaps; nil, or the refusal.
    private mutating func addToSession(_ event: WindowEvent, _ own: TimeWindow) -> WindowOutput? {
        let existing = sessions[event.key] ?? []
        // Sessions overlap, not merely meet: an event exactly `gap` after the last one starts a
        // new session, so a session is complete once the watermark reaches its end.
        let touching = existing.filter { $0.start < own.end && own.start < $0.end }
        let merged = touching.reduce(own) { TimeWindow(start: min($0.start, $1.start), end: max($0.end, $1.end)) }
        // Late only when the whole merged session would already be closed.
        if isClosed(merged) && touching.isEmpty {
            return .late(event, reason: "its session \(merged) closed at watermark \(watermark)")
        }
        if touching.isEmpty && open.count + 1 > maxOpenWindows {
            return .late(event, reason: "state limit: \(maxOpenWindows) windows are open")
        }
        var slot = Slot(accumulators: aggregates.map(Accumulator.init), events: 0)
        for window in touching.sorted() {
            let old = open.removeValue(forKey: WindowKey(key: event.key, window: window))!
            slot.events += old.events
            for index in slot.accumulators.indices { slot.accumulators[index].merge(old.accumulators[index]) }
        }
        sessions[event.key] = (existing.filter { window in !touching.contains(window) } + [merged]).sorted()
        let slotKey = WindowKey(key: event.key, window: merged)
        open[slotKey] = slot
        closings.insert(Closing(at: closeTime(merged.end), key: event.key, window: merged))
        add(event, to: slotKey)
        return nil
    }
}
