/// A window of event time, `[start, end)` in epoch milliseconds — Flink's and RisingWave's
/// `window_start` and `window_end`.
public struct TimeWindow: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var start: Int64
    public var end: Int64

    public init(start: Int64, end: Int64) {
        precondition(start < end, "a window ends after it starts")
        (self.start, self.end) = (start, end)
    }

    public func contains(_ time: Int64) -> Bool { start <= time && time < end }
    public static func < (a: TimeWindow, b: TimeWindow) -> Bool { (a.start, a.end) < (b.start, b.end) }
    public var description: String { "[\(start), \(end))" }
}

/// How events are grouped in time, as SQL's window table functions say it: `TUMBLE` (fixed,
/// back to back), `HOP` (fixed, overlapping: an event is in `size / slide` windows) and
/// `SESSION` (a key's events closer than `gap` to each other, however long that runs).
public enum WindowSpec: Hashable, Sendable {
    case tumbling(size: Int64)
    case hopping(size: Int64, slide: Int64)
    case session(gap: Int64)

    /// Event times are within ±this many milliseconds of the epoch (ECMAScript's date range,
    /// ±273,790 years), and so are window sizes: window arithmetic never overflows.
    public static let maxTime: Int64 = 8_640_000_000_000_000

    /// Why the spec cannot be used, or nil: sizes are positive (and at most ``maxTime``), a
    /// hop's size a multiple of its slide (so every window is aligned the same way, as Flink
    /// requires for HOP).
    public var problem: String? {
        switch self {
        case let .tumbling(size): size > 0 && size <= Self.maxTime ? nil : "a tumbling window's size must be positive and at most \(Self.maxTime) ms"
        case let .hopping(size, slide):
            if size <= 0 || slide <= 0 { "a hopping window's size and slide must be positive" }
            else if size > Self.maxTime { "a hopping window's size must be at most \(Self.maxTime) ms" }
            else if size % slide != 0 { "a hopping window's size must be a multiple of its slide" }
            else if size / slide > 1_000 { "a hopping window may overlap at most 1,000 others (size / slide)" }
            else { nil }
        case let .session(gap): gap > 0 && gap <= Self.maxTime ? nil : "a session window's gap must be positive and at most \(Self.maxTime) ms"
        }
    }

    /// The fixed windows holding `time`, oldest first (none for a session window, whose extent
    /// depends on the key's other events). Windows are aligned to the epoch.
    public func windows(containing time: Int64) -> [TimeWindow] {
        switch self {
        case let .tumbling(size):
            let start = Self.floor(time, to: size)
            return [TimeWindow(start: start, end: start + size)]
        case let .hopping(size, slide):
            let last = Self.floor(time, to: slide)
            var windows: [TimeWindow] = []
            var start = last - size + slide
            while start <= last {
                windows.append(TimeWindow(start: start, end: start + size))
                start += slide
            }
            return windows
        case .session:
            return []
        }
    }

    /// The largest multiple of `step` at or below `value` (also for negative times).
    static func floor(_ value: Int64, to step: Int64) -> Int64 {
        let remainder = value % step
        return remainder >= 0 ? value - remainder : value - remainder - step
    }
}
