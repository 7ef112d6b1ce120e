import Foundation
import Synchronization
import SteleStore

/// A view as a service runs it: the projection kept up to date in its live tables, queries
/// answered from them, changes followed, and rebuilds that replay the log into new tables and
/// swap them in without interrupting queries.
///
/// A rebuild runs beside the live projection. When it has caught up, the live projection stops,
/// the rebuild passes the point where the live one stopped, and the new tables replace the old
/// in one step (``ViewLocation/promote(rebuild:replacing:)``); the projection then goes on in
/// the new tables. A rebuild interrupted by a crash or a stop resumes from its own checkpoint the
/// next time the view starts. Tables built by a projection with another ``Projection/fingerprint``
/// keep answering queries while a rebuild starts by itself.
public final class MaterializedView: Sendable {
    public let projection: any Projection
    let store: EventStore
    let location: any ViewLocation
    public let batchSize: Int
    private let control = Mutex(Control())
    private let subscribers = Mutex<[UInt64: AsyncThrowingStream<ViewChange, any Error>.Continuation]>([:])
    private let nextSubscriber = Atomic<UInt64>(0)
    private let rowCache = RowCache()

    struct Control {
        var live: (any ViewStore)?
        var runner: ProjectionRunner?
        var runTask: Task<Void, Never>?
        var rebuild: Rebuild?
        var outdated: String?
        var openFailure: String?
        var rebuildFailure: String?
        var stopped = false
    }

    struct Rebuild {
        var runner: ProjectionRunner
        var task: Task<Void, Never>
        var started: ContinuousClock.Instant
        /// Where the rebuild's tables stood when it started (a resumed rebuild's progress).
        var resumedFrom: [String: CategoryCheckpoint]
        var total: Int64 = 0
        var phase: RebuildProgress.Phase = .replaying
        /// Events before ``resumedFrom``, counted once (a count can cost a scan in PostgreSQL).
        var base: Int64?
    }

    public init(projection: any Projection, store: EventStore, location: any ViewLocation, batchSize: Int = 1000) {
        self.projection = projection
        self.store = store
        self.location = location
        self.batchSize = batchSize
    }

    public var name: String { projection.name }

    /// Opens the live tables and starts the projection (and an unfinished rebuild). A view whose
    /// definition is refused by its store reports it in ``status`` and throws.
    public func start() async throws {
        let live: any ViewStore
        let opening: ViewOpening
        do {
            live = try await location.openLive()
            opening = try await live.open(projection)
        } catch {
            control.withLock { $0.openFailure = "\(error)" }
            throw error
        }
        control.withLock { $0.live = live }
        if let other = opening.builtByOtherFingerprint {
            control.withLock { $0.outdated = "built by definition \(other), now \(projection.fingerprint)" }
            try await startRebuild(resume: true)
            return
        }
        startLive(on: live)
        if try await location.hasUnfinishedRebuild() { try await startRebuild(resume: true) }
    }

    /// Stops the projection and any rebuild (which resumes at the next start) and closes the
    /// stores; subscribers' sequences end.
    public func stop() async {
        let (runTask, rebuild, live) = control.withLock { control in
            control.stopped = true
            return (control.runTask, control.rebuild, control.live)
        }
        runTask?.cancel()
        rebuild?.task.cancel()
        await runTask?.value
        await rebuild?.task.value
        try? await rebuild?.runner.views.close()
        try? await live?.close()
        // Finished outside the lock: a sequence's termination handler takes it.
        let followers = subscribers.withLock { subscribers in defer { subscribers = [:] }; return Array(subscribers.values) }
        followers.forEach { $0.finish() }
    }

    // MARK: Reading

    /// How long a query over HTTP may take, serialising its rows included.
    public var queryTimeout: Duration { location.queryTimeout }

    /// A read-only query of the live tables.
    public func query(_ statement: SQLStatement) async throws -> [[String: SQLValue]] {
        try await liveStore().query(statement)
    }

    /// The row of `table` whose primary key is `key`. Answers are kept until the view's next
    /// commit, so repeated reads of a row cost a dictionary lookup.
    public func row(in table: String, key: SQLValue) async throws -> [String: SQLValue]? {
        let cacheKey = RowCache.Key(table: table, key: key)
        let (cached, generation) = rowCache.lookup(cacheKey)
        if let cached { return cached }
        let row = try await liveStore().row(in: table, key: key)
        rowCache.store(row, for: cacheKey, readAt: generation)
        return row
    }

    private func liveStore() throws -> any ViewStore {
        guard let live = control.withLock({ $0.live }) else {
            throw ViewError.store(control.withLock { $0.openFailure } ?? "the view \(name) has not started")
        }
        return live
    }

    /// The view's changes as they commit: each element names the events a transaction made
    /// visible (a rebuild's swap is announced as a change with no events). A subscriber that
    /// falls `bufferSize` changes behind is ended with an error rather than silently skipped.
    public func changes(bufferSize: Int = 1024) -> AsyncThrowingStream<ViewChange, any Error> {
        let (stream, continuation) = AsyncThrowingStream<ViewChange, any Error>.makeStream(bufferingPolicy: .bufferingOldest(bufferSize))
        let id = nextSubscriber.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in self?.subscribers.withLock { _ = $0.removeValue(forKey: id) } }
        return stream
    }

    private func publish(_ change: ViewChange) {
        rowCache.invalidate()
        let dropped = subscribers.withLock { subscribers in
            subscribers.filter { _, continuation in
                if case .dropped = continuation.yield(change) { return true }
                return false
            }
        }
        for (id, continuation) in dropped {
            continuation.finish(throwing: ViewError.store("a follower of view \(name) fell more than its buffer behind; read the view again and follow anew"))
            subscribers.withLock { _ = $0.removeValue(forKey: id) }
        }
    }

    // MARK: State

    /// What the view is doing: its state, lag, parked events and any rebuild's progress.
    public func status() async -> ViewStatus {
        let control = control.withLock { $0 }
        var status = ViewStatus(name: name, categories: projection.categories, state: .starting)
        if let failure = control.openFailure {
            status.state = .failed(failure)
        } else if let outdated = control.outdated {
            status.state = .outdated(outdated)
        } else if let runner = control.runner {
            switch runner.status {
            case .starting: status.state = .starting
            case .running: status.state = control.rebuild == nil ? .running : .rebuilding
            case let .failed(reason): status.state = .failed(reason)
            }
            status.parked = runner.parked
            if let lag = try? await runner.lag() {
                status.lagEvents = lag.events
                status.lagSeconds = lag.timeBehind()
            }
        }
        if let rebuild = control.rebuild {
            status.rebuild = await progress(of: rebuild)
        } else if let failure = control.rebuildFailure {
            status.rebuild = RebuildProgress(phase: .failed(failure), applied: 0, total: 0, eventsPerSecond: 0, secondsLeft: nil)
        }
        return status
    }

    /// Returns once the view is running and has applied everything its categories held when it
    /// last looked; throws the view's failure.
    public func waitUntilCaughtUp() async throws {
        while true {
            // The waits below return at once when cancelled: without this the loop would spin.
            try Task.checkCancellation()
            let (runner, stopped, rebuilding, rebuildFailure) = control.withLock { ($0.runner, $0.stopped, $0.rebuild != nil, $0.rebuildFailure) }
            // Nothing would ever catch it up: a stopped view, or one with no live tables (its
            // definition changed) whose rebuild failed.
            if stopped { throw ViewError.store("the view \(name) has stopped") }
            if runner == nil, !rebuilding, let rebuildFailure { throw ViewError.store("the view \(name) must be rebuilt and its rebuild failed: \(rebuildFailure)") }
            let seen = runner?.progressGeneration
            let status = await status()
            if case let .failed(reason) = status.state { throw ViewError.store(reason) }
            // The lag measured here, not the status's (which reads a failed measurement as 0).
            if status.state == .running, let runner, try await runner.lag().events == 0 { return }
            if let runner, let seen {
                // Woken by the runner's next commit or its next look at the log's end.
                await runner.waitForProgress(after: seen, until: .now + .seconds(1))
            } else {
                // No live projection yet (opening, or a rebuild before its swap).
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Applies the live projection's parked events again.
    public func retryParked() async throws -> RetryOutcome {
        guard let runner = control.withLock({ $0.runner }) else { throw ViewError.store("the view \(name) is not running") }
        return try await runner.retryParked()
    }

    // MARK: Rebuild

    /// Starts a rebuild from the start of the log (an unfinished one is discarded); watch it in
    /// ``status()``. Throws if one is already running.
    public func rebuild() async throws {
        try await startRebuild(resume: false)
    }

    /// Waits until no rebuild runs; throws the rebuild's failure.
    public func waitForRebuild() async throws {
        while let task = control.withLock({ $0.rebuild?.task }) { await task.value }
        if let failure = control.withLock({ $0.rebuildFailure }) { throw ViewError.store(failure) }
    }

    private func startRebuild(resume: Bool) async throws {
        let busy = control.withLock { $0.rebuild != nil || $0.stopped }
        guard !busy else { throw ViewError.store("view \(name) is already rebuilding") }
        let views: any ViewStore
        let opening: ViewOpening
        do {
            (views, opening) = try await openRebuildTables(resume: resume)
        } catch {
            // Reported like a rebuild that failed later (status, waitUntilCaughtUp).
            control.withLock { $0.rebuildFailure = "\(error)" }
            throw error
        }
        let runner = ProjectionRunner(projection: projection, store: store, views: views, batchSize: batchSize)
        let started = control.withLock { control -> Bool in
            guard control.rebuild == nil, !control.stopped else { return false }
            control.rebuildFailure = nil
            let started = ContinuousClock.now
            control.rebuild = Rebuild(runner: runner, task: Task { await self.driveRebuild(runner, started: started) }, started: started,
                                      resumedFrom: opening.checkpoints)
            return true
        }
        if !started {
            try await views.close()
            throw ViewError.store("view \(name) is already rebuilding")
        }
    }

    private func openRebuildTables(resume: Bool) async throws -> (any ViewStore, ViewOpening) {
        var views = try await location.openRebuild(resume: resume)
        do {
            var opening = try await views.open(projection)
            // A rebuild begun by another definition starts again.
            if opening.builtByOtherFingerprint != nil {
                try await views.close()
                views = try await location.openRebuild(resume: false)
                opening = try await views.open(projection)
            }
            return (views, opening)
        } catch {
            try? await views.close()
            throw error
        }
    }

    /// Does what ``RebuildMachine`` decides, waking on the replay's progress (every commit, and
    /// each time it finds the log's end), never on a timer alone.
    private func driveRebuild(_ runner: ProjectionRunner, started: ContinuousClock.Instant) async {
        let replay = Task { try await runner.run() }
        var machine = RebuildMachine(batchSize: batchSize, started: started)
        do {
            while true {
                try Task.checkCancellation()
                let seen = runner.progressGeneration
                var observation = RebuildMachine.Observation(opened: runner.hasOpened, checkpoints: runner.checkpoints)
                if case let .failed(reason) = runner.status { observation.failure = reason }
                if observation.failure == nil, machine.needsRemaining, observation.opened {
                    observation.remaining = try await runner.lag().events
                }
                let action = machine.observe(observation)
                control.withLock { $0.rebuild?.phase = machine.reported }
                switch action {
                case .waitForProgress:
                    // The deadline only bounds a wait whose wake-up was missed; progress wakes it.
                    await runner.waitForProgress(after: seen, until: .now + .seconds(1))
                case .stopLive:
                    let (liveRunner, liveTask) = control.withLock { ($0.runner, $0.runTask) }
                    liveTask?.cancel()
                    await liveTask?.value
                    machine.liveStopped(at: liveRunner?.checkpoints ?? [:])
                case .promote:
                    replay.cancel()
                    _ = await replay.result
                    guard let old = control.withLock({ $0.live }) else { throw ViewError.store("the view has no live tables") }
                    // The old store is not closed here: queries may still be reading it; the
                    // location drops its tables once they are done.
                    let promoted = try await location.promote(rebuild: runner.views, replacing: old)
                    machine.promoted()
                    control.withLock { control in
                        control.live = promoted
                        control.outdated = nil
                        control.rebuild = nil
                    }
                    publish(ViewChange(view: name, events: [], checkpoints: runner.checkpoints))
                    startLive(on: promoted)
                    return
                case let .fail(reason):
                    throw ViewError.store(reason)
                }
            }
        } catch {
            replay.cancel()
            _ = await replay.result
            let stopped = control.withLock { $0.stopped }
            control.withLock { control in
                control.rebuild = nil
                if !(error is CancellationError) || !stopped { control.rebuildFailure = "\(error)" }
            }
            if !stopped {
                try? await runner.views.close()
                // The live projection was stopped for the swap: it goes on in the old tables.
                if control.withLock({ $0.runTask?.isCancelled ?? false && $0.outdated == nil }), let live = control.withLock({ $0.live }) {
                    startLive(on: live)
                }
            }
        }
    }

    private func progress(of rebuild: Rebuild) async -> RebuildProgress {
        // Events, counted by the store: offsets are not event counts everywhere (PostgreSQL's
        // are shared by every category and have gaps). One count per category per status: what
        // was there before this run is counted once, what this run applied the runner counts.
        let base: Int64
        if let cached = rebuild.base {
            base = cached
        } else {
            var counted: Int64 = 0
            var complete = true
            for category in projection.categories {
                if let count = try? await store.countEvents(in: category, after: .start, upTo: rebuild.resumedFrom[category] ?? .start) {
                    counted += count
                } else {
                    complete = false
                }
            }
            base = counted
            // Kept only when every count succeeded: a failed one is asked again next time.
            if complete {
                control.withLock { control in
                    if control.rebuild?.started == rebuild.started { control.rebuild?.base = counted }
                }
            }
        }
        let through = rebuild.runner.appliedThrough
        let applied = base + (through?.applied ?? 0)
        let at = through?.checkpoints ?? rebuild.resumedFrom
        var remaining: Int64 = 0
        for category in projection.categories {
            guard let end = try? await store.endCheckpoint(of: category) else { continue }
            remaining += (try? await store.countEvents(in: category, after: at[category] ?? .start, upTo: end)) ?? 0
        }
        let total = applied + remaining
        // The rate counts from where this run started, so a resumed rebuild's ETA is honest.
        let (rate, left) = RebuildMachine.estimate(started: rebuild.started, applied: applied, base: base, total: total, now: .now)
        return RebuildProgress(phase: rebuild.phase, applied: applied, total: total, eventsPerSecond: rate, secondsLeft: left)
    }

    private func startLive(on live: any ViewStore) {
        let runner = ProjectionRunner(projection: projection, store: store, views: live, batchSize: batchSize) { [weak self] change in
            self?.publish(change)
        }
        control.withLock { control in
            guard !control.stopped else { return }
            control.runner = runner
            control.runTask = Task { _ = try? await runner.run() }
        }
    }
}

/// What a view is doing, for status pages and `stele views`.
public struct ViewStatus: Sendable, Equatable, Codable {
    public enum State: Sendable, Equatable, Codable {
        case starting
        case running
        /// Running, with a rebuild beside it.
        case rebuilding
        /// The tables were built by another definition; a rebuild is replacing them.
        case outdated(String)
        case failed(String)
    }

    public var name: String
    public var categories: [String]
    public var state: State
    public var lagEvents: Int64 = 0
    public var lagSeconds: Double = 0
    public var parked: [ParkedEvent] = []
    public var rebuild: RebuildProgress?
}

/// How far a rebuild has got.
public struct RebuildProgress: Sendable, Equatable, Codable {
    public enum Phase: Sendable, Equatable, Codable {
        /// Replaying the log into the new tables.
        case replaying
        /// Caught up: the live projection is stopped and the tables are being swapped.
        case swapping
        case failed(String)
    }

    public var phase: Phase
    /// Records of the view's categories replayed so far, and in all.
    public var applied: Int64
    public var total: Int64
    public var eventsPerSecond: Double
    /// The time left at the current rate (nil before a rate is known).
    public var secondsLeft: Double?
}
