import Foundation
import Synchronization
import SteleAsync
import SteleStore

/// Keeps one view store up to date: reads the projection's categories from the stored
/// checkpoints, asks the projection for each event's statements, and applies a batch of events
/// with the new checkpoints in one transaction.
///
/// An event that cannot be applied (the projection throws, or a statement fails) stops the
/// runner at that event — or, when the projection's ``PoisonPolicy`` is `park`, is set aside
/// with its error while the runner goes on; later events of its stream are parked behind it, so
/// each stream is still folded in order. ``retryParked()`` applies them again after a fix.
public final class ProjectionRunner: Sendable {
    public let projection: any Projection
    let store: EventStore
    public let views: any ViewStore
    /// Events applied per transaction (fewer when the log has fewer).
    public let batchSize: Int
    private let onApplied: (@Sendable (ViewChange) -> Void)?
    private let state = Mutex(ProjectionStatus.starting)
    private let progress = Mutex(Progress())
    /// Retries asked for and not yet served; once the loop has ended (`ended`), none is queued
    /// again — a request then would wait for a loop that never comes back.
    private let retryRequests = Mutex<(waiting: [CheckedContinuation<RetryOutcome, any Error>], ended: (any Error)?)>(([], nil))
    /// Wakes those waiting for the runner's progress: every commit (checkpoint-only ones too),
    /// each time it finds nothing more to read, and when it stops or fails.
    private let advanced = ArrivalNotifier()

    struct Progress {
        /// The checkpoints last committed and the append time of the last event applied.
        var checkpoints: [String: CategoryCheckpoint] = [:]
        var lastAppendedAt: Date?
        var applied: Int64 = 0
        var parked: [ParkedEvent] = []
        var opened = false
    }

    /// - Parameter onApplied: called after each committed transaction with the events it made
    ///   visible (from the runner's task: keep it short).
    public init(projection: any Projection, store: EventStore, views: any ViewStore, batchSize: Int = 1000,
                onApplied: (@Sendable (ViewChange) -> Void)? = nil) {
        precondition(batchSize > 0, "a batch holds at least one event")
        self.projection = projection
        self.store = store
        self.views = views
        self.batchSize = batchSize
        self.onApplied = onApplied
    }

    /// What the projection is doing.
    public var status: ProjectionStatus { state.withLock { $0 } }
    /// The checkpoints of the last committed transaction (empty before the view opens).
    public var checkpoints: [String: CategoryCheckpoint] { progress.withLock { $0.checkpoints } }
    /// Events set aside, oldest first.
    public var parked: [ParkedEvent] { progress.withLock { $0.parked } }
    /// Whether the view has opened and its checkpoints are known.
    public var hasOpened: Bool { progress.withLock { $0.opened } }
    /// Events applied (or parked) since this runner started and the checkpoints they reached,
    /// read together (nil before the view opens).
    public var appliedThrough: (applied: Int64, checkpoints: [String: CategoryCheckpoint])? {
        progress.withLock { $0.opened ? ($0.applied, $0.checkpoints) : nil }
    }

    /// Changes whenever the runner made progress, found nothing more to read, or stopped.
    public var progressGeneration: UInt64 { advanced.generation }

    /// Returns once ``progressGeneration`` has moved past `generation`, or at `deadline`.
    public func waitForProgress(after generation: UInt64, until deadline: ContinuousClock.Instant) async {
        await advanced.wait(after: generation, until: deadline)
    }

    /// Applies parked events again, each stream's in order, stopping a stream at the first that
    /// still fails. Served by the running loop between transactions.
    public func retryParked() async throws -> RetryOutcome {
        if case .failed = status { throw ViewError.store("the view \(projection.name) is not running") }
        return try await withCheckedThrowingContinuation { continuation in
            let ended = retryRequests.withLock { requests -> (any Error)? in
                if let ended = requests.ended { return ended }
                requests.waiting.append(continuation)
                return nil
            }
            if let ended { continuation.resume(throwing: ended) }
        }
    }

    /// Applies events until the task is cancelled; returns when cancelled, throws (and reports
    /// `failed`) when an event cannot be applied in stop mode or a store fails.
    public func run() async throws {
        defer { advanced.notifyAll() }
        do {
            try await loop()
            failRetries(ViewError.store("the view \(projection.name) stopped"))
        } catch {
            if case .failed = status {} else if !(error is CancellationError) { state.withLock { $0 = .failed("\(error)") } }
            failRetries(error)
            throw error
        }
    }

    private func loop() async throws {
        let opening = try await views.open(projection)
        if let other = opening.builtByOtherFingerprint {
            throw fail(ViewError.store("the tables of view \(projection.name) were built by another definition (\(other), now \(projection.fingerprint)): rebuild it"))
        }
        var cursor = Cursor(checkpoints: opening.checkpoints, parked: opening.parked)
        progress.withLock {
            $0.checkpoints = opening.checkpoints
            $0.parked = opening.parked
            $0.opened = true
        }
        state.withLock { $0 = .running(applied: 0) }
        advanced.notifyAll()
        // A restart is often the fix: parked events get their retry.
        if !opening.parked.isEmpty { _ = try await retry(&cursor) }
        while !Task.isCancelled {
            let requests = retryRequests.withLock { requests in defer { requests.waiting = [] }; return requests.waiting }
            if !requests.isEmpty {
                do {
                    let outcome = try await retry(&cursor)
                    requests.forEach { $0.resume(returning: outcome) }
                } catch {
                    requests.forEach { $0.resume(throwing: error) }
                    throw error
                }
            }
            let generation = store.storage.appendGeneration
            var batch: [Entry] = []
            var next = cursor.checkpoints
            for category in projection.categories {
                let page = try await store.readCategory(category, after: cursor.checkpoints[category] ?? .start, limit: batchSize - batch.count)
                for event in page.events {
                    if let blocker = cursor.parkedVersion(of: event.stream) {
                        batch.append(Entry(event: event, outcome: .park("waits behind parked event \(blocker) of its stream")))
                        continue
                    }
                    do { batch.append(Entry(event: event, outcome: .apply(try projection.statements(for: event)))) } catch {
                        guard projection.poisonPolicy == .park else {
                            // Apply what came before it, then stop at it.
                            try await applyOneByOne(batch, cursor: &cursor)
                            throw fail(at: event, error)
                        }
                        cursor.park(event)
                        batch.append(Entry(event: event, outcome: .park("\(error)")))
                    }
                }
                next[category] = page.next
                if batch.count >= batchSize { break }
            }
            if batch.isEmpty {
                if next != cursor.checkpoints {
                    try await views.apply(ViewBatch(statements: [], checkpoints: next), of: projection.name)
                    cursor.checkpoints = next
                    progress.withLock { $0.checkpoints = next }
                }
                // Caught up for now: whoever waits on the runner looks again.
                advanced.notifyAll()
                await store.storage.waitForAppends(after: generation, until: .now + EventStore.caughtUpPollInterval)
                continue
            }
            let parks = batch.compactMap { entry in entry.parkReason.map { ParkedEvent(entry.event, error: $0) } }
            do {
                try await views.apply(ViewBatch(statements: batch.flatMap(\.statements), checkpoints: next, parks: parks), of: projection.name)
                cursor.checkpoints = next
                committed(batch.filter { $0.parkReason == nil }.map(\.event), parks: parks, newest: batch.map(\.event.appendedAt).max(), checkpoints: next)
            } catch {
                // One statement failed and the whole batch was rolled back: apply the events one
                // transaction each, so the view stops (or parks) exactly at the event that fails.
                try await applyOneByOne(batch, cursor: &cursor)
                try await views.apply(ViewBatch(statements: [], checkpoints: next), of: projection.name)
                cursor.checkpoints = next
                progress.withLock { $0.checkpoints = next }
                advanced.notifyAll()
            }
        }
    }

    /// Applies each event in its own transaction with the checkpoint just after it; the first
    /// that fails stops the view there, or is parked.
    private func applyOneByOne(_ batch: [Entry], cursor: inout Cursor) async throws {
        for entry in batch {
            let event = entry.event
            var checkpoints = cursor.checkpoints
            var position = checkpoints[event.stream.category] ?? .start
            position.advance(past: event.position)
            checkpoints[event.stream.category] = position
            var reason = entry.parkReason
            if reason == nil, let blocker = cursor.parkedVersion(of: event.stream) { reason = "waits behind parked event \(blocker) of its stream" }
            if reason == nil {
                do {
                    try await views.apply(ViewBatch(statements: entry.statements, checkpoints: checkpoints), of: projection.name)
                    cursor.checkpoints = checkpoints
                    committed([event], parks: [], newest: event.appendedAt, checkpoints: checkpoints)
                    continue
                } catch {
                    guard projection.poisonPolicy == .park else { throw fail(at: event, error) }
                    cursor.park(event)
                    reason = "\(error)"
                }
            }
            let parked = ParkedEvent(event, error: reason!)
            try await views.apply(ViewBatch(statements: [], checkpoints: checkpoints, parks: [parked]), of: projection.name)
            cursor.checkpoints = checkpoints
            committed([], parks: [parked], newest: event.appendedAt, checkpoints: checkpoints)
        }
    }

    private func retry(_ cursor: inout Cursor) async throws -> RetryOutcome {
        let parked = progress.withLock { $0.parked }
        var outcome = RetryOutcome()
        var byStream: [StreamName: [ParkedEvent]] = [:]
        for event in parked { byStream[event.key.stream, default: []].append(event) }
        for (stream, events) in byStream {
            var blocked = false
            for parkedEvent in events.sorted(by: { $0.key.version < $1.key.version }) {
                if blocked { outcome.stillParked += 1; continue }
                do {
                    guard let event = try await store.read(stream, from: .version(parkedEvent.key.version), limit: 1).first,
                          event.version == parkedEvent.key.version
                    else { throw ViewError.store("event \(parkedEvent.key.version) of \(stream) is no longer in the log") }
                    try await views.apply(ViewBatch(statements: try projection.statements(for: event), checkpoints: cursor.checkpoints,
                                                    releases: [parkedEvent.key]), of: projection.name)
                    outcome.applied += 1
                    progress.withLock { $0.parked.removeAll { $0.key == parkedEvent.key } }
                    onApplied?(ViewChange(view: projection.name, events: [.init(event)], checkpoints: cursor.checkpoints))
                } catch let error as CancellationError {
                    throw error
                } catch {
                    blocked = true
                    outcome.stillParked += 1
                    var updated = parkedEvent
                    updated.error = "\(error)"
                    try await views.apply(ViewBatch(statements: [], checkpoints: cursor.checkpoints, parks: [updated]), of: projection.name)
                    progress.withLock { progress in
                        if let index = progress.parked.firstIndex(where: { $0.key == updated.key }) { progress.parked[index] = updated }
                    }
                }
            }
            if !blocked { cursor.parked[stream] = nil }
        }
        return outcome
    }

    private func committed(_ events: [RecordedEvent], parks: [ParkedEvent], newest: Date?, checkpoints: [String: CategoryCheckpoint]) {
        let applied = progress.withLock { progress in
            progress.checkpoints = checkpoints
            if let newest { progress.lastAppendedAt = newest }
            progress.applied += Int64(events.count + parks.count)
            progress.parked += parks
            return progress.applied
        }
        state.withLock { $0 = .running(applied: applied) }
        advanced.notifyAll()
        if let onApplied, !events.isEmpty {
            onApplied(ViewChange(view: projection.name, events: events.map(ViewChange.Event.init), checkpoints: checkpoints))
        }
    }

    /// Ends the loop's service of retries: those waiting and any asked for later fail with `error`.
    private func failRetries(_ error: any Error) {
        let requests = retryRequests.withLock { requests in
            defer { requests = ([], requests.ended ?? error) }
            return requests.waiting
        }
        requests.forEach { $0.resume(throwing: error) }
    }

    private func fail(at event: RecordedEvent, _ error: any Error) -> ViewError {
        let reason = (error as? ViewError).map { if case let .store(text) = $0 { text } else { $0.description } } ?? "\(error)"
        return fail(ViewError.applyFailed(view: projection.name, stream: event.stream.description, version: event.version,
                                          position: event.position.description, reason: reason))
    }

    private func fail(_ failure: ViewError) -> ViewError {
        state.withLock { $0 = .failed(failure.description) }
        return failure
    }

    /// What the loop knows between transactions.
    private struct Cursor {
        var checkpoints: [String: CategoryCheckpoint]
        /// Streams with parked events: the first parked version of each.
        var parked: [StreamName: Int64]

        init(checkpoints: [String: CategoryCheckpoint], parked: [ParkedEvent]) {
            self.checkpoints = checkpoints
            self.parked = Dictionary(parked.map { ($0.key.stream, $0.key.version) }, uniquingKeysWith: min)
        }

        func parkedVersion(of stream: StreamName) -> Int64? { parked[stream] }

        mutating func park(_ event: RecordedEvent) {
            if parked[event.stream] == nil { parked[event.stream] = event.version }
        }
    }

    private struct Entry {
        enum Outcome { case apply([SQLStatement]), park(String) }
        var event: RecordedEvent
        var outcome: Outcome

        var statements: [SQLStatement] { if case let .apply(statements) = outcome { statements } else { [] } }
        var parkReason: String? { if case let .park(reason) = outcome { reason } else { nil } }
    }
}

extension ParkedEvent {
    init(_ event: RecordedEvent, error: String) {
        self.init(key: Key(stream: event.stream, version: event.version), position: event.position, type: event.type, error: error)
    }
}

/// What a retry of parked events did.
public struct RetryOutcome: Sendable, Equatable, Codable {
    /// Parked events now applied.
    public var applied = 0
    /// Events still parked (failing again, or behind one that does).
    public var stillParked = 0

    public init(applied: Int = 0, stillParked: Int = 0) {
        self.applied = applied
        self.stillParked = stillParked
    }
}

/// Events a transaction made visible in a view.
public struct ViewChange: Sendable, Equatable {
    public struct Event: Sendable, Equatable, Codable {
        public var stream: StreamName
        public var version: Int64
        public var type: String?
        public var position: EventPosition

        init(_ event: RecordedEvent) {
            stream = event.stream
            version = event.version
            type = event.type
            position = event.position
        }
    }

    public var view: String
    public var events: [Event]
    /// The view's checkpoints after the transaction.
    public var checkpoints: [String: CategoryCheckpoint]
}

extension ProjectionRunner {
    /// How far behind the log the view is: events not yet applied (as the store counts them:
    /// in the embedded log, records, unkeyed ones too) and how long ago the newest applied event
    /// was appended.
    public func lag() async throws -> ProjectionLag {
        let (checkpoints, last) = progress.withLock { ($0.checkpoints, $0.lastAppendedAt) }
        var behind: Int64 = 0
        for category in projection.categories {
            let end = try await store.endCheckpoint(of: category)
            behind += try await store.countEvents(in: category, after: checkpoints[category] ?? .start, upTo: end)
        }
        return ProjectionLag(events: behind, lastAppliedAppendedAt: last)
    }
}

/// A view's distance from the log.
public struct ProjectionLag: Sendable, Equatable {
    /// Records in its categories after its checkpoint.
    public var events: Int64
    /// The append time of the newest event applied (nil before the first).
    public var lastAppliedAppendedAt: Date?

    /// Time behind: how long ago the newest applied event was appended, zero when caught up.
    public func timeBehind(now: Date = Date()) -> TimeInterval {
        guard events > 0, let last = lastAppliedAppendedAt else { return 0 }
        return max(0, now.timeIntervalSince(last))
    }
}

public enum ProjectionStatus: Sendable, Equatable {
    case starting
    /// Applying events; `applied` counts those applied (or parked) since this runner started.
    case running(applied: Int64)
    /// Stopped at an event or on a store error; the message names it and the reason.
    case failed(String)
}
