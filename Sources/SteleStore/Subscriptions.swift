extension EventStore {
    /// How long a caught-up follower of the log waits for appends before looking again (a
    /// wake-up can be missed only if the backend's signal is lost, e.g. another process
    /// appended to PostgreSQL while the listening connection was down).
    public static let caughtUpPollInterval: Duration = .milliseconds(500)
}

/// A stream's events from a version on: those already stored, then new ones as they are
/// appended, with no gap and no duplicate at the switch — catching up and following are the
/// same read from the same version.
///
/// Pull-based with a bounded buffer: events are read a page of `bufferSize` at a time only
/// when the consumer asks for the next one, so a slow subscriber holds back reading instead of
/// growing memory. Iteration ends when the task is cancelled; errors (a closed store) throw.
public struct StreamSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    let storage: any EventStorage
    public let stream: StreamName
    let from: Int64
    let bufferSize: Int

    init(storage: any EventStorage, stream: StreamName, from: Int64, bufferSize: Int) {
        precondition(bufferSize > 0, "a subscription buffers at least one event")
        (self.storage, self.stream, self.from, self.bufferSize) = (storage, stream, from, bufferSize)
    }

    public func makeAsyncIterator() -> Iterator { Iterator(subscription: self, next: from) }

    public struct Iterator: AsyncIteratorProtocol {
        let subscription: StreamSubscription
        /// The version of the next event to deliver.
        public private(set) var next: Int64
        var buffer: [RecordedEvent] = []
        var index = 0

        init(subscription: StreamSubscription, next: Int64) {
            self.subscription = subscription
            self.next = next
        }

        public mutating func next() async throws -> RecordedEvent? { try await next(before: nil) }

        /// The next event, or `nil` when the task is cancelled or `deadline` passes with nothing
        /// new — the subscription goes on from the same place at the next call. Lets a caller
        /// do something while idle (an SSE heartbeat) without a second task.
        public mutating func next(before deadline: ContinuousClock.Instant?) async throws -> RecordedEvent? {
            while index == buffer.count {
                if Task.isCancelled { return nil }
                let generation = subscription.storage.appendGeneration
                buffer = try await subscription.storage.read(subscription.stream, from: next, limit: subscription.bufferSize)
                index = 0
                if buffer.isEmpty {
                    if let deadline, ContinuousClock.now >= deadline { return nil }
                    let poll = ContinuousClock.now + EventStore.caughtUpPollInterval
                    await subscription.storage.waitForAppends(after: generation, until: deadline.map { Swift.min($0, poll) } ?? poll)
                }
            }
            let event = buffer[index]
            index += 1
            next = event.version + 1
            return event
        }
    }
}

/// A category's events after a checkpoint: those already stored, then new ones; see
/// ``StreamSubscription`` for the guarantees. ``Iterator/checkpoint`` is the checkpoint to
/// store after handling an event.
public struct CategorySubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    let storage: any EventStorage
    public let category: String
    let start: CategoryCheckpoint
    let bufferSize: Int

    init(storage: any EventStorage, category: String, after start: CategoryCheckpoint, bufferSize: Int) {
        precondition(bufferSize > 0, "a subscription buffers at least one event")
        (self.storage, self.category, self.start, self.bufferSize) = (storage, category, start, bufferSize)
    }

    public func makeAsyncIterator() -> Iterator { Iterator(subscription: self, checkpoint: start) }

    public struct Iterator: AsyncIteratorProtocol {
        let subscription: CategorySubscription
        /// The checkpoint after the last event delivered: where to resume from.
        public private(set) var checkpoint: CategoryCheckpoint

        @available(*, deprecated, renamed: "checkpoint")
        public var position: CategoryCheckpoint { checkpoint }
        var readCheckpoint: CategoryCheckpoint
        var buffer: [RecordedEvent] = []
        var index = 0

        init(subscription: CategorySubscription, checkpoint: CategoryCheckpoint) {
            self.subscription = subscription
            self.checkpoint = checkpoint
            self.readCheckpoint = checkpoint
        }

        /// Whether every event read so far has been delivered (the next call reads or waits).
        public var isBufferEmpty: Bool { index == buffer.count }

        public mutating func next() async throws -> RecordedEvent? { try await next(before: nil) }

        /// The next event, or `nil` when the task is cancelled or `deadline` passes with nothing
        /// new; see ``StreamSubscription/Iterator/next(before:)``.
        public mutating func next(before deadline: ContinuousClock.Instant?) async throws -> RecordedEvent? {
            while index == buffer.count {
                if Task.isCancelled { return nil }
                let generation = subscription.storage.appendGeneration
                let page = try await subscription.storage.readCategory(subscription.category, after: readCheckpoint, limit: subscription.bufferSize)
                buffer = page.events
                index = 0
                readCheckpoint = page.next
                if buffer.isEmpty {
                    checkpoint = page.next
                    if let deadline, ContinuousClock.now >= deadline { return nil }
                    let poll = ContinuousClock.now + EventStore.caughtUpPollInterval
                    await subscription.storage.waitForAppends(after: generation, until: deadline.map { Swift.min($0, poll) } ?? poll)
                }
            }
            let event = buffer[index]
            index += 1
            checkpoint.advance(past: event.position)
            if index == buffer.count { checkpoint = readCheckpoint }
            return event
        }
    }
}
