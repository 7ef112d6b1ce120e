import Foundation
import Synchronization
import SteleStore

/// Keeps one view up to date: reads its categories from the stored checkpoints, asks the
/// projection for each event's statements, and applies a batch of events with the new
/// checkpoints in one transaction of the view store.
public final class ProjectionRunner: Sendable {
    public let projection: any Projection
    let store: EventStore
    let views: any ViewStore
    /// Events applied per transaction (fewer when the log has fewer).
    public let batchSize: Int
    private let state = Mutex(ProjectionStatus.starting)
    /// The checkpoints last committed and the append time of the last event applied.
    private let progress = Mutex<(checkpoints: [String: CategoryPosition], lastAppendedAt: Date?)>(([:], nil))

    public init(projection: any Projection, store: EventStore, views: any ViewStore, batchSize: Int = 1000) {
        precondition(batchSize > 0, "a batch holds at least one event")
        self.projection = projection
        self.store = store
        self.views = views
        self.batchSize = batchSize
    }

    /// What the projection is doing.
    public var status: ProjectionStatus { state.withLock { $0 } }

    /// Applies events until the task is cancelled; returns when cancelled, throws (and reports
    /// `failed`) when an event cannot be applied or a store fails.
    public func run() async throws {
        var checkpoints = try await views.open(projection)
        progress.withLock { $0.checkpoints = checkpoints }
        state.withLock { $0 = .running(applied: 0) }
        var applied: Int64 = 0
        while !Task.isCancelled {
            let generation = store.storage.appendGeneration
            var batch: [(event: RecordedEvent, statements: [SQLStatement])] = []
            var next = checkpoints
            for category in projection.categories {
                let page = try await store.readCategory(category, after: checkpoints[category] ?? .start, limit: batchSize - batch.count)
                for event in page.events {
                    do { batch.append((event, try projection.statements(for: event))) } catch {
                        // Apply what came before it, then stop at it.
                        try await applyOneByOne(batch, from: checkpoints)
                        throw fail(at: event, error)
                    }
                }
                next[category] = page.next
                if batch.count >= batchSize { break }
            }
            if batch.isEmpty {
                if next != checkpoints {
                    try await views.apply([], checkpoints: next, of: projection.name)
                    checkpoints = next
                    progress.withLock { $0.checkpoints = next }
                }
                await store.storage.waitForAppends(after: generation, until: .now + EventStore.caughtUpPollInterval)
                continue
            }
            do {
                try await views.apply(batch.flatMap(\.statements), checkpoints: next, of: projection.name)
            } catch {
                // One statement failed and the whole batch was rolled back: apply the events one
                // transaction each, so the view stops exactly at the event that fails.
                try await applyOneByOne(batch, from: checkpoints)
                try await views.apply([], checkpoints: next, of: projection.name)
            }
            checkpoints = next
            let newest = batch.map(\.event.appendedAt).max()
            progress.withLock { $0 = (next, newest) }
            applied += Int64(batch.count)
            state.withLock { $0 = .running(applied: applied) }
        }
    }

    /// Applies each event in its own transaction with the checkpoint just after it; the first
    /// that fails stops the view there.
    private func applyOneByOne(_ batch: [(event: RecordedEvent, statements: [SQLStatement])], from start: [String: CategoryPosition]) async throws {
        var checkpoints = start
        for (event, statements) in batch {
            var position = checkpoints[event.stream.category] ?? .start
            position.advance(past: event.position)
            checkpoints[event.stream.category] = position
            do { try await views.apply(statements, checkpoints: checkpoints, of: projection.name) } catch {
                throw fail(at: event, error)
            }
            progress.withLock { $0 = (checkpoints, event.appendedAt) }
        }
    }

    private func fail(at event: RecordedEvent, _ error: any Error) -> ViewError {
        let failure = ViewError.applyFailed(view: projection.name, stream: event.stream.description, version: event.version,
                                            position: event.position.description, reason: "\(error)")
        state.withLock { $0 = .failed(failure.description) }
        return failure
    }
}

extension ProjectionRunner {
    /// How far behind the log the view is: events not yet applied (per partition offsets, so
    /// unkeyed records count too) and how long ago the newest applied event was appended.
    public func lag() async throws -> ProjectionLag {
        let (checkpoints, last) = progress.withLock { ($0.checkpoints, $0.lastAppendedAt) }
        var behind: Int64 = 0
        for category in projection.categories {
            let end = try await store.endPosition(of: category)
            let at = checkpoints[category] ?? .start
            for (partition, offset) in end.nextOffsets { behind += max(0, offset - at.nextOffset(in: partition)) }
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
    /// Applying events; `applied` counts those applied since this runner started.
    case running(applied: Int64)
    /// Stopped at an event; the message names it and the reason.
    case failed(String)
}
