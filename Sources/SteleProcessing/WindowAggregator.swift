/// An event as a window aggregation sees it: its key (`PARTITION BY` / `GROUP BY`), its event
/// time in epoch milliseconds, and the values of the fields its aggregates read — in the order
/// of ``WindowAggregator/fields``, missing ones NULL (positional, so no dictionary per event).
public struct WindowEvent: Sendable, Equatable {
    public var key: String
    public var time: Int64
    public var values: [AggregateValue]

    public init(key: String, time: Int64, values: [AggregateValue] = []) {
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

        mutating func record(_ values: [AggregateValue], fieldOf: [Int?], at time: Int64) {
            events += 1
            for index in accumulators.indices {
                let field = fieldOf[index]
                accumulators[index].add(field.flatMap { $0 < values.count ? values[$0] : nil } ?? .null, at: time)
            }
        }
    }

    struct Closing: Comparable, Sendable {
        var at: Int64
        var key: Int32
        var window: TimeWindow
        static func < (a: Closing, b: Closing) -> Bool { (a.at, a.key, a.window.start, a.window.end) < (b.at, b.key, b.window.start, b.window.end) }
    }

    struct WindowKey: Hashable, Sendable {
        var key: Int32
        var window: TimeWindow
    }

    private var keys = KeyTable()
    private var open: [WindowKey: Slot] = [:]
    /// Each key's open sessions, oldest first, never overlapping.
    private var sessions: [Int32: [TimeWindow]] = [:]
    /// Close times; an entry whose window has since grown or merged is skipped when popped.
    private var closings = MinHeap<Closing>()

    /// The fields the aggregates read, each once, in the order they are first named: the order
    /// of ``WindowEvent/values``.
    public let fields: [String]
    /// Each aggregate's field, as an index into ``fields``.
    private let fieldOf: [Int?]

    public var openWindows: Int { open.count }
    /// Keys holding an id (those with open windows): for tests of the bound.
    var keysHeld: Int { keys.held }

    public init(spec: WindowSpec, aggregates: [AggregateFunction], outOfOrderness: Int64 = 0, allowedLateness: Int64 = 0,
                maxOpenWindows: Int = 1_000_000) {
        precondition(spec.problem == nil, spec.problem ?? "")
        precondition(outOfOrderness >= 0 && allowedLateness >= 0 && maxOpenWindows > 0)
        (self.spec, self.aggregates, self.outOfOrderness, self.allowedLateness, self.maxOpenWindows) =
            (spec, aggregates, outOfOrderness, allowedLateness, maxOpenWindows)
        var fields: [String] = []
        for field in aggregates.compactMap(\.field) where !fields.contains(field) { fields.append(field) }
        self.fields = fields
        fieldOf = aggregates.map { function in function.field.flatMap { fields.firstIndex(of: $0) } }
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
        // Far outside any calendar, window arithmetic would overflow: such a time is refused.
        guard (-WindowSpec.maxTime...WindowSpec.maxTime).contains(event.time) else {
            return [.late(event, reason: "event time \(event.time) is outside ±\(WindowSpec.maxTime) ms (ECMAScript's date range)")]
        }
        let key = keys.id(for: event.key)
        defer { keys.forgetIfUnused(key) }
        switch spec {
        case let .tumbling(size):
            // One window: no list of windows, and one look at the open ones.
            let start = WindowSpec.floor(event.time, to: size)
            let window = TimeWindow(start: start, end: start + size)
            guard !isClosed(window) else {
                return [.late(event, reason: "every window of time \(event.time) closed at watermark \(watermark)")]
            }
            let slotKey = WindowKey(key: key, window: window)
            if let index = open.index(forKey: slotKey) {
                open.values[index].record(event.values, fieldOf: fieldOf, at: event.time)
            } else {
                if open.count + 1 > maxOpenWindows {
                    return [.late(event, reason: "state limit: \(maxOpenWindows) windows are open")]
                }
                var slot = Slot(accumulators: aggregates.map(Accumulator.init), events: 0)
                slot.record(event.values, fieldOf: fieldOf, at: event.time)
                open[slotKey] = slot
                keys.retain(key)
                closings.insert(Closing(at: closeTime(window.end), key: key, window: window))
            }
        case .hopping:
            let windows = spec.windows(containing: event.time).filter { !isClosed($0) }
            guard !windows.isEmpty else {
                return [.late(event, reason: "every window of time \(event.time) closed at watermark \(watermark)")]
            }
            let new = windows.filter { open[WindowKey(key: key, window: $0)] == nil }.count
            if open.count + new > maxOpenWindows {
                return [.late(event, reason: "state limit: \(maxOpenWindows) windows are open")]
            }
            for window in windows { add(event, to: WindowKey(key: key, window: window)) }
        case let .session(gap):
            let (end, overflow) = event.time.addingReportingOverflow(gap)
            guard !overflow else { return [.late(event, reason: "time \(event.time) is past the last session")] }
            if let refusal = addToSession(event, key: key, TimeWindow(start: event.time, end: end)) { return [refusal] }
        }
        let (mark, overflow) = event.time.subtractingReportingOverflow(outOfOrderness)
        return advance(to: overflow ? .min : mark)
    }

    /// The key's open session holding `time`, if there is one: a session window's events are
    /// needed (to rebuild it after a restart) until it closes, however long it grows.
    public func openSession(of key: String, containing time: Int64) -> TimeWindow? {
        guard case .session = spec, let id = keys.existingID(key) else { return nil }
        return sessions[id]?.first { $0.contains(time) }
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
            closed.append(.closed(WindowResult(key: keys.name(next.key), window: next.window, values: slot.accumulators.map(\.result), events: slot.events)))
            keys.release(next.key)
        }
        return closed
    }

    private mutating func add(_ event: WindowEvent, to slotKey: WindowKey) {
        // One lookup when the window is open: the slot is changed in place.
        if let index = open.index(forKey: slotKey) {
            open.values[index].record(event.values, fieldOf: fieldOf, at: event.time)
            return
        }
        var slot = Slot(accumulators: aggregates.map(Accumulator.init), events: 0)
        slot.record(event.values, fieldOf: fieldOf, at: event.time)
        open[slotKey] = slot
        keys.retain(slotKey.key)
        closings.insert(Closing(at: closeTime(slotKey.window.end), key: slotKey.key, window: slotKey.window))
    }

    /// Puts the event's own session `[time, time + gap)` with the key's sessions, merging every
    /// open one it overlaps; nil, or the refusal.
    private mutating func addToSession(_ event: WindowEvent, key: Int32, _ own: TimeWindow) -> WindowOutput? {
        let existing = sessions[key] ?? []
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
        // The merged window counts before the ones it replaces stop counting, so the key keeps its id.
        keys.retain(key)
        for window in touching.sorted() {
            let old = open.removeValue(forKey: WindowKey(key: key, window: window))!
            keys.release(key)
            slot.events += old.events
            for index in slot.accumulators.indices { slot.accumulators[index].merge(old.accumulators[index]) }
        }
        sessions[key] = (existing.filter { window in !touching.contains(window) } + [merged]).sorted()
        let slotKey = WindowKey(key: key, window: merged)
        open[slotKey] = slot
        closings.insert(Closing(at: closeTime(merged.end), key: key, window: merged))
        add(event, to: slotKey)
        return nil
    }
}

/// Keys as small integers while they have open windows, so the windows' dictionary and the
/// closing heap hash and compare integers; an id is reused once its key has no open window,
/// so the table is bounded by the open windows.
struct KeyTable: Sendable {
    private var ids: [String: Int32] = [:]
    private var names: [String] = []
    private var openWindows: [Int32] = []
    private var free: [Int32] = []

    /// The key's id, assigned if it has none.
    mutating func id(for key: String) -> Int32 {
        if let id = ids[key] { return id }
        let id: Int32
        if let reused = free.popLast() {
            id = reused
            names[Int(id)] = key
        } else {
            precondition(names.count < Int32.max, "more keys with open windows than ids")
            id = Int32(names.count)
            names.append(key)
            openWindows.append(0)
        }
        ids[key] = id
        return id
    }

    func name(_ id: Int32) -> String { names[Int(id)] }

    /// The key's id if it has open windows.
    func existingID(_ key: String) -> Int32? { ids[key] }

    var held: Int { ids.count }

    mutating func retain(_ id: Int32) { openWindows[Int(id)] += 1 }

    mutating func release(_ id: Int32) {
        assert(openWindows[Int(id)] > 0, "a key closed more windows than it opened")
        openWindows[Int(id)] -= 1
        forgetIfUnused(id)
    }

    /// Frees the id of a key without open windows (one whose event was late, or whose last window closed).
    mutating func forgetIfUnused(_ id: Int32) {
        guard openWindows[Int(id)] == 0, let name = Optional(names[Int(id)]), ids[name] == id else { return }
        ids[name] = nil
        free.append(id)
    }
}
