import Foundation

/// How tests wait: for progress, never for a fixed time.
///
/// A machine that is slow or busy (a 2-core CI runner with PostgreSQL, the whole suite and the
/// crash tests sharing it) takes longer to do the same work, but it keeps making progress. A test
/// therefore gives up only when whatever it waits for has not moved for ``limit`` — a hang
/// detector, not a deadline on the total. `STELE_TEST_STALL_SECONDS` overrides the default
/// (120 s) when a machine needs more.
public struct StallWatch: Sendable {
    /// How long a wait may see no progress before it fails.
    public static let defaultLimit: Duration = {
        if let text = ProcessInfo.processInfo.environment["STELE_TEST_STALL_SECONDS"], let seconds = Int(text), seconds > 0 {
            return .seconds(seconds)
        }
        return .seconds(120)
    }()

    /// What is being waited for, for the failure message.
    public let what: String
    public let limit: Duration
    private var mark: String?
    private var since: ContinuousClock.Instant

    public init(_ what: String, limit: Duration = StallWatch.defaultLimit) {
        self.what = what
        self.limit = limit
        self.since = .now
    }

    /// Notes where the wait has got to; throws ``Stalled`` when `progress` has not changed for
    /// ``limit``. Any change counts as progress: a count that grows, a phase that moves on.
    public mutating func check(_ progress: some CustomStringConvertible) throws {
        let description = progress.description
        if description != mark {
            mark = description
            since = .now
        } else if ContinuousClock.now - since >= limit {
            throw Stalled(what: what, progress: description, limit: limit)
        }
    }
}

/// A wait saw no progress for its whole stall limit.
public struct Stalled: Error, CustomStringConvertible {
    public let what: String
    public let progress: String
    public let limit: Duration
    public var description: String { "no progress for \(limit) waiting for \(what) (stuck at \(progress))" }
}

/// Polls `condition` until it holds. `progress` says how far things have got (events applied,
/// records read); the wait fails only when it has not changed for `limit`. Without it the
/// condition itself is the only sign of life, and `limit` bounds a hang.
public func waitUntil(
    _ what: String,
    limit: Duration = StallWatch.defaultLimit,
    every interval: Duration = .milliseconds(10),
    progress: () async throws -> String = { "" },
    _ condition: () async throws -> Bool
) async throws {
    var watch = StallWatch(what, limit: limit)
    while true {
        if (try? await condition()) == true { return }
        try watch.check((try? await progress()) ?? "")
        try await Task.sleep(for: interval)
    }
}

/// Runs `operation`, failing with ``Stalled`` if it has not finished within `limit`: for a call
/// that either finishes at once or hangs (a shutdown held by open connections, a timer that
/// never fires). The operation is cancelled when the limit passes.
public func withHangLimit<T: Sendable>(
    _ what: String,
    limit: Duration = StallWatch.defaultLimit,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw Stalled(what: what, progress: "not finished", limit: limit)
        }
        return value
    }
}
