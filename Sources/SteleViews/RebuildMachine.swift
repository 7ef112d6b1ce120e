import SteleStore

/// The decisions of a view rebuild, without I/O (like `ConsumerGroup`): the driver in
/// ``MaterializedView`` reports what it observed and does what the machine answers; time comes
/// in as an argument. Tested deterministically (`RebuildMachineTests`).
///
/// Replay the log into new tables beside the live ones; once within one batch of the end, stop
/// the live projection and take its checkpoints as the target; once the replay has passed the
/// target in every partition (in delivery order: transaction, then offset), promote the new
/// tables. A failure of the replay at any point fails the rebuild (the live tables keep
/// answering, and the live projection goes on in them).
struct RebuildMachine {
    enum Phase: Equatable {
        case replaying
        /// Waiting for the live projection to stop.
        case stoppingLive
        /// The replay must pass where the live projection stopped.
        case passingLive(target: [String: CategoryCheckpoint])
        case promoting
        case promoted
        case failed(String)
    }

    /// What the driver saw of the replay.
    struct Observation: Equatable {
        /// The replay's failure, if it failed.
        var failure: String?
        /// Whether the replay has opened its tables (its checkpoints are known).
        var opened: Bool
        var checkpoints: [String: CategoryCheckpoint]
        /// Events of the view's categories after the replay's checkpoints; measured only while
        /// ``phase`` is `replaying` (nil when not measured).
        var remaining: Int64?
    }

    enum Action: Equatable {
        /// Wait for the replay to commit (or fail), then observe again.
        case waitForProgress
        /// Stop the live projection and report its checkpoints with ``liveStopped(at:)``.
        case stopLive
        /// Stop the replay, promote its tables, report with ``promoted()``.
        case promote
        /// Give up: close the rebuild's tables, let the live projection go on.
        case fail(String)
    }

    let batchSize: Int64
    let started: ContinuousClock.Instant
    private(set) var phase = Phase.replaying

    init(batchSize: Int, started: ContinuousClock.Instant) {
        precondition(batchSize > 0, "a batch holds at least one event")
        self.batchSize = Int64(batchSize)
        self.started = started
    }

    /// Whether the driver should measure ``Observation/remaining`` for the next observation.
    var needsRemaining: Bool { phase == .replaying }

    mutating func observe(_ observation: Observation) -> Action {
        if let failure = observation.failure, phase != .promoted {
            phase = .failed(failure)
            return .fail(failure)
        }
        switch phase {
        case .replaying:
            guard observation.opened, let remaining = observation.remaining, remaining <= batchSize else { return .waitForProgress }
            phase = .stoppingLive
            return .stopLive
        case .stoppingLive:
            return .stopLive
        case let .passingLive(target):
            guard Self.covers(observation.checkpoints, target) else { return .waitForProgress }
            phase = .promoting
            return .promote
        case .promoting:
            return .promote
        case .promoted:
            return .waitForProgress
        case let .failed(reason):
            return .fail(reason)
        }
    }

    /// The live projection stopped at `target` (empty when it was not running).
    mutating func liveStopped(at target: [String: CategoryCheckpoint]) {
        assert(phase == .stoppingLive, "the live projection is stopped only when the machine asks")
        phase = .passingLive(target: target)
    }

    mutating func promoted() {
        assert(phase == .promoting, "tables are promoted only when the machine asks")
        phase = .promoted
    }

    /// Whether `checkpoints` are at or past `target` in every partition of every category, in
    /// the order events are delivered.
    static func covers(_ checkpoints: [String: CategoryCheckpoint], _ target: [String: CategoryCheckpoint]) -> Bool {
        target.allSatisfy { category, wanted in (checkpoints[category] ?? .start).covers(wanted) }
    }

    /// Rate and time left at `now`, from events applied since this run started (`applied -
    /// base`: a resumed rebuild's ETA counts only what this run did).
    static func estimate(started: ContinuousClock.Instant, applied: Int64, base: Int64, total: Int64,
                         now: ContinuousClock.Instant) -> (eventsPerSecond: Double, secondsLeft: Double?) {
        let elapsed = now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(max(0, applied - base)) / seconds : 0
        return (rate, rate > 0 ? Double(max(0, total - applied)) / rate : nil)
    }

    /// The phase as ``RebuildProgress`` reports it.
    var reported: RebuildProgress.Phase {
        switch phase {
        case .replaying: .replaying
        case .stoppingLive, .passingLive, .promoting, .promoted: .swapping
        case let .failed(reason): .failed(reason)
        }
    }
}
