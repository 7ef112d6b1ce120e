import Synchronization

/// Says whether to log a message that may repeat — a consumer retrying a fetch of damaged data
/// asks for the same batch many times a second — so the log holds one line per key per
/// interval, with how many were held back. Keys are bounded: past `maxKeys` the oldest go.
/// No I/O; the caller passes the time.
public final class RepeatThrottle: Sendable {
    public let interval: Duration
    public let maxKeys: Int
    private let state = Mutex<[String: (last: ContinuousClock.Instant, suppressed: Int)]>([:])

    public init(interval: Duration = .seconds(60), maxKeys: Int = 1_000) {
        precondition(maxKeys > 0)
        (self.interval, self.maxKeys) = (interval, maxKeys)
    }

    /// `nil` when the message should not be logged now; else how many like it were held back.
    public func admit(_ key: String, now: ContinuousClock.Instant) -> Int? {
        state.withLock { entries in
            if let entry = entries[key], now - entry.last < interval {
                entries[key]!.suppressed += 1
                return nil
            }
            let suppressed = entries[key]?.suppressed ?? 0
            if entries[key] == nil, entries.count >= maxKeys, let oldest = entries.min(by: { $0.value.last < $1.value.last })?.key {
                entries[oldest] = nil
            }
            entries[key] = (now, 0)
            return suppressed
        }
    }
}
