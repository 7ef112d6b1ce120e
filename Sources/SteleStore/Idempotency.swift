import Foundation

/// Recognises an append that already happened: the events a retried append would add are
/// compared with the events already at those versions, by id. Every backend applies the same
/// policy through ``lookup(for:current:count:)`` and ``repeatedAppend(of:existing:lookup:stream:)``.
public enum Idempotency {
    /// How far back an append with no exact expected version (`any`, `streamExists`) looks for
    /// its event ids (KurrentDB likewise checks only recent events for such appends).
    public static let window: Int64 = 1000

    /// Which of the stream's events an append's ids must be compared with.
    public struct Lookup: Sendable, Equatable {
        public var fromVersion: Int64
        public var limit: Int
        /// The events must be exactly at the versions the append expected (exact
        /// expectations), rather than anywhere among the recent ones.
        public var atExpectedVersions: Bool
    }

    /// Where to look before deciding on an append of `count` events to a stream at `current`
    /// (-1: empty): `nil` when the append cannot be a repeat and the expectation alone decides.
    public static func lookup(for expected: ExpectedVersion, current: Int64, count: Int) -> Lookup? {
        switch expected {
        case let .exact(version) where current > version: Lookup(fromVersion: version + 1, limit: count, atExpectedVersions: true)
        case .noStream where current != -1: Lookup(fromVersion: 0, limit: count, atExpectedVersions: true)
        // An empty stream holds no repeat: nothing to read.
        case .any where current < 0, .streamExists where current < 0: nil
        case .any, .streamExists: Lookup(fromVersion: max(0, current + 1 - window), limit: Int(window), atExpectedVersions: false)
        default: nil
        }
    }

    /// The original outcome when every event is already in `existing` (read as `lookup` says),
    /// in order; `nil` when none is. Throws ``EventStoreError/idempotencyConflict(stream:reason:)``
    /// when only some are, or not as exactly this append.
    public static func repeatedAppend(of events: [EventData], existing: [RecordedEvent], lookup: Lookup, stream: StreamName) throws -> AppendOutcome? {
        let ids = events.map(\.id)
        let wanted = Set(ids)
        let found = existing.filter { $0.id.map(wanted.contains) ?? false }
        if found.isEmpty { return nil }
        guard found.count == ids.count, found.map(\.id) == ids,
              zip(found, found.dropFirst()).allSatisfy({ $1.version == $0.version + 1 }),
              !lookup.atExpectedVersions || found[0].version == lookup.fromVersion else {
            throw EventStoreError.idempotencyConflict(stream: stream, reason: "\(found.count) of the \(ids.count) event ids appended are already in "
                + "the stream (first at version \(found[0].version)) but not as exactly this append: nothing was written")
        }
        return AppendOutcome(firstVersion: found[0].version, lastVersion: found[0].version + Int64(ids.count) - 1,
                             firstPosition: found[0].position, wasAlreadyAppended: true)
    }

    /// The checks every backend makes on an append before touching storage.
    public static func validate(_ events: [EventData], to stream: StreamName) throws {
        if let problem = stream.problem { throw EventStoreError.invalidRequest(problem) }
        guard !events.isEmpty else { throw EventStoreError.invalidRequest("an append needs at least one event") }
        var ids = Set<UUID>()
        for event in events {
            guard ids.insert(event.id).inserted else { throw EventStoreError.invalidRequest("event id \(event.id) appears twice in one append") }
            guard !event.type.isEmpty else { throw EventStoreError.invalidRequest("event \(event.id) has an empty type") }
        }
    }
}
