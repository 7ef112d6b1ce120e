import Foundation
import SteleLog

/// A process manager: follows a category from a stored checkpoint and reacts to each event —
/// usually by sending commands to repositories.
///
/// Delivery is at least once (a crash between a reaction and its checkpoint repeats the
/// reaction), so reactions are made idempotent: ``Reaction/commandId`` is derived from the
/// reactor's name and the event's id, the same on every retry, and a ``Repository`` given that
/// command id does not append twice. ``Reaction/metadata`` carries the correlation id on and
/// names the event as the causation.
public struct Reactor: Sendable {
    public let name: String
    public let category: String
    public let store: EventStore
    public let checkpoints: any CheckpointStore
    /// The checkpoint is saved after this many events (and whenever the reactor catches up).
    public var checkpointEvery = 100

    public init(name: String, category: String, store: EventStore, checkpoints: any CheckpointStore) {
        self.name = name
        self.category = category
        self.store = store
        self.checkpoints = checkpoints
    }

    /// Runs until the task is cancelled or `react` throws (the checkpoint then stays before the
    /// failing event, which is delivered again on the next run).
    public func run(_ react: (Reaction) async throws -> Void) async throws {
        let start = try await checkpoints.load(name) ?? .start
        var iterator = store.subscribe(toCategory: category, after: start).makeAsyncIterator()
        var sinceSave = 0
        var saved = start
        while let event = try await iterator.next() {
            try await react(Reaction(reactor: name, event: event))
            sinceSave += 1
            if sinceSave >= checkpointEvery || caughtUp(iterator) {
                try await checkpoints.save(iterator.checkpoint, for: name)
                saved = iterator.checkpoint
                sinceSave = 0
            }
        }
        if saved != iterator.checkpoint { try await checkpoints.save(iterator.checkpoint, for: name) }
    }

    private func caughtUp(_ iterator: CategorySubscription.Iterator) -> Bool { iterator.isBufferEmpty }
}

/// One event delivered to a reactor, with what its reaction needs to be idempotent and traced.
public struct Reaction: Sendable {
    public let reactor: String
    public let event: RecordedEvent

    /// The same for every delivery of this event to this reactor.
    public var commandId: UUID { DeterministicID.make(reactor, event.id?.uuidString ?? "\(event.stream)@\(event.version)") }

    /// Metadata for what the reaction causes: the event's correlation id (or the event itself
    /// as the start of the conversation) and the event as the cause.
    public var metadata: EventMetadata {
        EventMetadata(correlationId: event.metadata.correlationId ?? event.id?.uuidString.lowercased(),
                      causationId: event.id?.uuidString.lowercased())
    }
}
