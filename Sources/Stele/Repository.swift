import Foundation

/// Loads entities of one category, runs commands through their ``Decider`` and appends what
/// they decide, with the loaded version as the expected version: two commands racing on one
/// entity cannot both act on the same state. A conflict reloads and decides again, up to
/// ``maxAttempts`` times.
///
/// Loads start from the latest snapshot at or before the target (if a ``SnapshotPolicy`` is
/// set) and fold only the events after it.
public struct Repository<D: Decider>: Sendable {
    public let store: EventStore
    public let decider: D
    public let events: EventRegistry<D.Event>
    public let category: String
    public var snapshots: SnapshotPolicy<D.State>?
    /// How many times a command is decided before a run of conflicts gives up.
    public var maxAttempts = 16

    public init(store: EventStore, category: String, decider: D, events: EventRegistry<D.Event>, snapshots: SnapshotPolicy<D.State>? = nil) {
        self.store = store
        self.category = category
        self.decider = decider
        self.events = events
        self.snapshots = snapshots
    }

    public func stream(_ id: String) -> StreamName { StreamName(category: category, id: id) }

    /// An entity's state and the version of its last event (-1: no events), as of now or of an
    /// earlier point.
    public func load(_ id: String, asOf point: AsOf = .now) async throws -> (state: D.State, version: Int64) {
        let stream = stream(id)
        var state = decider.initialState
        var version: Int64 = -1
        // A snapshot stands for the events up to its version, so it can serve a point given by
        // version; points in time or valid time need the events' own times.
        if let snapshots, point.recordedBy == nil, point.occurredBy == nil, point.offset == nil,
           let snapshot = try await store.latestSnapshot(of: stream, name: snapshots.name, schemaVersion: snapshots.schemaVersion,
                                                         atOrBefore: point.version ?? .max),
           let restored = try? snapshots.decode(snapshot.state) {
            state = restored
            version = snapshot.version
        }
        var next = version + 1
        while true {
            let page = try await store.read(stream, from: .version(next), limit: 1000)
            for recorded in page {
                if !point.includesByTransaction(recorded) { return (state, version) }
                version = recorded.version
                if point.includesByValidTime(recorded) { state = decider.evolve(state, try events.decode(recorded)) }
            }
            if page.count < 1000 { return (state, version) }
            next = version + 1
        }
    }

    /// The entity's events, decoded, oldest first: its journal.
    public func history(_ id: String) async throws -> [EventEnvelope<D.Event>] {
        try await store.read(stream(id)).map(events.envelope)
    }

    /// Decides `command` against the entity's current state and appends the events.
    ///
    /// With a `commandId`, handling is idempotent: the events get ids derived from it and carry
    /// it as their causation id, and a command already handled (found among the entity's
    /// recent events) is not decided again — its original outcome is returned.
    @discardableResult
    public func handle(_ command: D.Command, on id: String, commandId: UUID? = nil,
                       metadata: EventMetadata = EventMetadata()) async throws -> CommandOutcome<D> {
        let stream = stream(id)
        var metadata = metadata
        if let commandId { metadata.causationId = commandId.uuidString.lowercased() }
        for attempt in 1...maxAttempts {
            if let commandId, let done = try await alreadyHandled(stream, commandId: commandId) { return done }
            let (state, version) = try await load(id)
            let decided = try decider.decide(command, state: state)
            if decided.isEmpty { return CommandOutcome(events: [], state: state, version: version) }
            let data = try decided.enumerated().map { index, event in
                try events.encode(event, id: commandId.map { DeterministicID.make($0.uuidString, String(index)) } ?? UUID(), metadata: metadata)
            }
            do {
                let outcome = try await store.append(data, to: stream, expected: version == -1 ? .noStream : .exact(version))
                let newState = decided.reduce(state, decider.evolve)
                try await snapshotIfDue(stream, state: newState, from: version, to: outcome.lastVersion)
                return CommandOutcome(events: decided, state: newState, version: outcome.lastVersion)
            } catch EventStoreError.wrongExpectedVersion where attempt < maxAttempts {
                // Another writer got there first: decide again on the newer state, after a
                // random pause that grows with the attempts, so racing writers spread out
                // instead of colliding again in lockstep.
                let ceiling = min(100_000, 500 << min(attempt - 1, 8))
                try await Task.sleep(for: .microseconds(Int.random(in: 0...ceiling)))
                continue
            }
        }
        preconditionFailure("the last attempt either returns or throws")
    }

    private func alreadyHandled(_ stream: StreamName, commandId: UUID) async throws -> CommandOutcome<D>? {
        let causation = commandId.uuidString.lowercased()
        let recent = try await store.read(stream, from: .end, direction: .backward, limit: Int(Idempotency.window))
        guard let last = recent.first(where: { $0.metadata.causationId == causation }) else { return nil }
        let mine = recent.filter { $0.metadata.causationId == causation }.reversed().map { try? events.decode($0) }
        let (state, _) = try await load(stream.id, asOf: .version(last.version))
        return CommandOutcome(events: mine.compactMap { $0 }, state: state, version: last.version, wasAlreadyHandled: true)
    }

    private func snapshotIfDue(_ stream: StreamName, state: D.State, from before: Int64, to after: Int64) async throws {
        guard let snapshots, (after + 1) / snapshots.every > (before + 1) / snapshots.every else { return }
        // A failed snapshot costs only speed later; the command has succeeded.
        if let data = try? snapshots.encode(state) {
            try? await store.saveSnapshot(Snapshot(stream: stream, name: snapshots.name, version: after, schemaVersion: snapshots.schemaVersion, state: data))
        }
    }
}

/// What handling a command did.
public struct CommandOutcome<D: Decider>: Sendable {
    /// The events decided (empty when the command changed nothing).
    public var events: [D.Event]
    /// The entity's state after them.
    public var state: D.State
    /// The version of the entity's last event after them.
    public var version: Int64
    /// True when the command had been handled before and nothing was appended now.
    public var wasAlreadyHandled = false
}

/// When and how a repository snapshots states: every `every` events, as JSON.
public struct SnapshotPolicy<State: Sendable>: Sendable {
    public var every: Int64
    /// Distinguishes this state's snapshots from other folds of the same stream.
    public var name: String
    /// Bump when the state's shape changes: older snapshots are then ignored.
    public var schemaVersion: Int
    let encode: @Sendable (State) throws -> [UInt8]
    let decode: @Sendable ([UInt8]) throws -> State
}

extension SnapshotPolicy where State: Codable {
    /// Snapshots the state every `count` events.
    public static func every(_ count: Int64, name: String = String(describing: State.self), schemaVersion: Int = 1) -> Self {
        precondition(count > 0, "snapshot every at least one event")
        let encoder = JSONEncoder.events, decoder = JSONDecoder.events
        return SnapshotPolicy(every: count, name: name, schemaVersion: schemaVersion,
                              encode: { Array(try encoder.encode($0)) },
                              decode: { try decoder.decode(State.self, from: Data($0)) })
    }
}
