import Foundation
import SteleProcessing
import SteleStore

/// What a processor makes of one event: a window input, nothing (a `WHERE` that fails), or a
/// refusal with the reason (no event time, a payload that is not JSON), which goes to the dead
/// letters like a late event.
public enum WindowInput: Sendable, Equatable {
    case event(WindowEvent)
    case skip
    case refuse(String)
}

/// A windowed aggregation kept running over a category (issue 19's first processor): each
/// event the `select` closure keeps is aggregated per key and tumbling, hopping or session
/// window of event time; each window's result, once the watermark passes it, becomes an event in the output
/// category (a stream per key), and each late event a `LateEvent` in the dead-letter category
/// with the reason — never dropped in silence.
///
/// Outputs are exactly once across crashes without transactions: every output event has an id
/// derived from the processor, the key and the window (a late event's from its position), so an
/// append repeated after a restart is recognised by the store and written once. The checkpoint
/// is the position of the oldest event a window still open needs (for a session, until the
/// session closes, however long it grows), so a restart replays only those events (not the
/// category from its start), rebuilds the open windows and goes on. Beside it are kept the
/// watermark when that event was read and the position read so far: a replay starts from that
/// watermark, so every event is judged as it was the first time, and writes nothing for the
/// events before where the last run stopped — what closed then was written then. (A replay
/// from the replay point alone would rebuild part of a session that had already closed, with
/// other bounds and so another id.)
///
/// Several categories (a `UNION ALL`; tumbling and hopping windows) are read as one input merged
/// by event time, each with its own replay point and read position (the first under the
/// processor's names, the others under `NAME.source-N`); the watermark is the engine's, over every
/// event. A replay may meet the categories' events in another order than the first run (each
/// category's point is its own first needed event), which only reorders events whose windows
/// closed before the checkpoint — written then, and silent in the replay. Session windows, whose
/// bounds depend on every event met, read one category.
///
/// Limit: with a category of several partitions, the order partitions interleave in may differ
/// after a restart, and with it which events are late; with several categories, so may the
/// order they meet in at the live edge (one caught up while another is read).
public struct WindowProcessor: Sendable {
    public let name: String
    /// The first category read.
    public var source: String { sources[0] }
    /// The categories read.
    public let sources: [String]
    public let output: String
    public let deadLetters: String
    public let store: EventStore
    public let checkpoints: any CheckpointStore
    public let window: WindowSpec
    public let aggregates: [AggregateFunction]
    public var outOfOrderness: Int64 = 0
    public var allowedLateness: Int64 = 0
    public var maxOpenWindows = 1_000_000
    /// The checkpoint is saved after this many events (and whenever the processor catches up).
    public var checkpointEvery = 100
    /// Mixed into every output's id: a processor rebuilt from the start writes its results again
    /// under new ids (the store's idempotence would otherwise take them for repeats).
    public var generation = ""
    /// What the checkpoint is saved under (the name unless told otherwise); the position read
    /// so far is saved beside it, under this name and `.read`.
    public var checkpointName: String
    /// Called after each checkpoint with what the run has done so far.
    public var onProgress: (@Sendable (Progress) -> Void)?
    let select: @Sendable (RecordedEvent) -> WindowInput
    let emit: @Sendable (WindowResult) -> (type: String, data: [UInt8])?

    /// - Parameters:
    ///   - select: the key, event time and field values of an event (in the order of the
    ///     aggregator's fields), or nil to leave the event out.
    ///   - emit: the output event of a closed window (its type and JSON data), or nil to emit
    ///     nothing for it (a `HAVING` that fails).
    public init(name: String, source: String, output: String, deadLetters: String, store: EventStore, checkpoints: any CheckpointStore,
                window: WindowSpec, aggregates: [AggregateFunction],
                select: @escaping @Sendable (RecordedEvent) -> WindowEvent?,
                emit: @escaping @Sendable (WindowResult) -> (type: String, data: [UInt8])?) {
        self.init(name: name, source: source, output: output, deadLetters: deadLetters, store: store, checkpoints: checkpoints,
                  window: window, aggregates: aggregates, input: { event in select(event).map(WindowInput.event) ?? .skip }, emit: emit)
    }

    /// - Parameters:
    ///   - input: what to make of an event: its key, event time and field values (in the order
    ///     of the aggregator's fields), nothing, or a refusal with the reason.
    ///   - emit: the output event of a closed window (its type and JSON data), or nil to emit
    ///     nothing for it (a `HAVING` that fails).
    public init(name: String, source: String, output: String, deadLetters: String, store: EventStore, checkpoints: any CheckpointStore,
                window: WindowSpec, aggregates: [AggregateFunction],
                input: @escaping @Sendable (RecordedEvent) -> WindowInput,
                emit: @escaping @Sendable (WindowResult) -> (type: String, data: [UInt8])?) {
        self.init(name: name, sources: [source], output: output, deadLetters: deadLetters, store: store, checkpoints: checkpoints,
                  window: window, aggregates: aggregates, input: input, emit: emit)
    }

    /// Over several categories, merged by event time (`input` sees each event of each).
    public init(name: String, sources: [String], output: String, deadLetters: String, store: EventStore, checkpoints: any CheckpointStore,
                window: WindowSpec, aggregates: [AggregateFunction],
                input: @escaping @Sendable (RecordedEvent) -> WindowInput,
                emit: @escaping @Sendable (WindowResult) -> (type: String, data: [UInt8])?) {
        precondition(window.problem == nil, window.problem ?? "")
        precondition(!sources.isEmpty && Set(sources).count == sources.count, "a window processor reads one or more distinct categories")
        if case .session = window { precondition(sources.count == 1, "a session window processor reads one category") }
        (self.name, self.sources, self.output, self.deadLetters, self.store, self.checkpoints) = (name, sources, output, deadLetters, store, checkpoints)
        (self.window, self.aggregates, self.select, self.emit) = (window, aggregates, input, emit)
        checkpointName = name
    }

    /// What a run has done, as of its last checkpoint.
    public struct Progress: Sendable, Equatable {
        /// Where a restart would replay from.
        public var checkpoint: CategoryCheckpoint
        /// The position after the last event read.
        public var read: CategoryCheckpoint
        public var eventsRead: Int64 = 0
        public var windowsWritten: Int64 = 0
        /// Late and refused events written to the dead letters.
        public var deadLettered: Int64 = 0
        public var watermark: Int64 = .min
        public var openWindows = 0
    }

    /// The fields `select` gives values for, in order.
    public var fields: [String] { WindowAggregator(spec: window, aggregates: aggregates).fields }

    /// An event still needed by a window that has not closed: where to replay from.
    struct Needed {
        var position: EventPosition
        /// The watermark at which its last window closes (for a session: the one it is in now).
        var until: Int64
        var key: String
        var time: Int64
        /// The watermark before it was read: where a replay from it starts.
        var watermark: Int64
    }

    /// Runs until the task is cancelled or a store call fails (outputs are durable before the
    /// checkpoint moves past the events that made them, so a run may stop anywhere).
    public func run() async throws { try await run(until: nil) }

    /// Processes the events the categories hold now, then returns: a batch run. The windows
    /// still open are rebuilt by the next run from the checkpoint.
    public func runUntilCaughtUp() async throws {
        var ends: [String: CategoryCheckpoint] = [:]
        for source in sources { ends[source] = try await store.endCheckpoint(of: source) }
        try await run(until: ends)
    }

    /// What a source's replay point is saved under: the processor's name for the first, as with
    /// one source, `NAME.source-N` for the N-th after it (by place, not by name: a category
    /// named `read` or `watermark` would otherwise meet the first one's records).
    func checkpointName(of source: String) -> String {
        guard let index = sources.firstIndex(of: source), index > 0 else { return checkpointName }
        return checkpointName + ".source-\(index)"
    }

    func run(until ends: [String: CategoryCheckpoint]?) async throws {
        var starts: [String: CategoryCheckpoint] = [:]
        // How far an earlier run read: what it wrote for the events before there is written
        // (closed windows and dead letters), so a replay writes nothing for them.
        var readBefore: [String: CategoryCheckpoint] = [:]
        for source in sources {
            starts[source] = try await checkpoints.load(checkpointName(of: source)) ?? .start
            readBefore[source] = try await checkpoints.load(checkpointName(of: source) + ".read")
        }
        func replayed(_ event: RecordedEvent) -> Bool { readBefore[event.stream.category]?.hasPassed(event.position) ?? false }
        var aggregator = WindowAggregator(spec: window, aggregates: aggregates, outOfOrderness: outOfOrderness,
                                          allowedLateness: allowedLateness, maxOpenWindows: maxOpenWindows)
        // The watermark the replay point's event was read at: every event replayed is judged as
        // it was the first time (no window is open yet, so nothing closes here).
        if let watermark = try await checkpoints.loadWatermark(checkpointName) {
            let closed = aggregator.advance(to: watermark)
            assert(closed.isEmpty, "no window is open before the first event")
        }
        let select = select
        // One source: read in its log order (no event time needed to merge).
        var follower = CategoriesFollower(store: store, categories: sources, after: starts) { [sources] _, event in
            guard sources.count > 1, case let .event(input) = select(event) else { return nil }
            return input.time
        }
        // Per category and partition, in the order read: the events windows still need.
        var needed: [PartitionOf: [Needed]] = [:]
        var sinceSave = 0
        func reached() -> Bool {
            guard let ends else { return false }
            return ends.allSatisfy { source, end in follower.delivered[source]?.covers(end) ?? false }
        }
        var progress = Progress(checkpoint: starts[sources[0]] ?? .start, read: starts[sources[0]] ?? .start)
        onProgress?(progress)
        if reached() { return }
        while let (category, event) = try await follower.next() {
            try Task.checkCancellation()
            progress.eventsRead += 1
            let replaying = replayed(event)
            switch select(event) {
            case .skip: break
            case let .refuse(reason):
                if !replaying {
                    try await writeLate(event, reason: reason)
                    progress.deadLettered += 1
                }
            case let .event(input):
                let watermarkBefore = aggregator.watermark
                let outputs = aggregator.insert(input)
                var late = false
                for output in outputs {
                    switch output {
                    case let .closed(result):
                        if !replaying, try await write(result) { progress.windowsWritten += 1 }
                    case let .late(_, reason):
                        late = true
                        if !replaying {
                            try await writeLate(event, reason: reason)
                            progress.deadLettered += 1
                        }
                    }
                }
                if !late, let until = closeTime(of: input, in: aggregator) {
                    needed[PartitionOf(category: category, partition: event.position.partition), default: []].append(
                        Needed(position: event.position, until: until, key: input.key, time: input.time, watermark: watermarkBefore))
                }
            }
            sinceSave += 1
            let done = reached()
            if sinceSave >= checkpointEvery || follower.isBufferEmpty || done {
                let (points, watermark) = replayPoints(from: follower.delivered, needed: &needed, aggregator: aggregator)
                progress.checkpoint = points[sources[0]] ?? .start
                // The read positions first, so none is behind the replay point saved after it;
                // never moved back while a replay is still behind where the last run read. Then
                // the replay points' watermark, then the points: a crash between them leaves a
                // watermark no earlier than the points', which only makes the replay judge late
                // some events no open window needs.
                for source in sources {
                    guard let read = follower.delivered[source], readBefore[source].map({ read.covers($0) }) ?? true else { continue }
                    try await checkpoints.save(read, for: checkpointName(of: source) + ".read")
                }
                try await checkpoints.saveWatermark(watermark, for: checkpointName)
                for source in sources { try await checkpoints.save(points[source] ?? .start, for: checkpointName(of: source)) }
                progress.read = follower.delivered[sources[0]] ?? .start
                (progress.watermark, progress.openWindows) = (aggregator.watermark, aggregator.openWindows)
                onProgress?(progress)
                sinceSave = 0
            }
            if done { return }
        }
    }

    /// The watermark at which the last window holding the event closes, as far as known now.
    func closeTime(of input: WindowEvent, in aggregator: WindowAggregator) -> Int64? {
        let end: Int64
        switch window {
        case .tumbling, .hopping:
            guard let last = window.windows(containing: input.time).last else { return nil }
            end = last.end
        case .session:
            guard let session = aggregator.openSession(of: input.key, containing: input.time) else { return nil }
            end = session.end
        }
        let (until, overflow) = end.addingReportingOverflow(allowedLateness)
        return overflow ? .max : until
    }

    /// The checkpoints to restart from — before the first event, in each category's partition,
    /// that a window still open needs (events read before it and no longer needed are dropped
    /// here) — and the watermark to restart at: the one the earliest of those events was read at.
    func replayPoints(from read: [String: CategoryCheckpoint], needed: inout [PartitionOf: [Needed]],
                      aggregator: WindowAggregator) -> ([String: CategoryCheckpoint], Int64) {
        var points = read
        var watermark = aggregator.watermark
        for (place, events) in needed {
            var keep = events[...]
            while var first = keep.first, first.until <= aggregator.watermark {
                // A session grows: an event is needed while the session it is in is open.
                if case .session = window, let session = aggregator.openSession(of: first.key, containing: first.time) {
                    let (until, overflow) = session.end.addingReportingOverflow(allowedLateness)
                    first.until = overflow ? .max : until
                    keep[keep.startIndex] = first
                    break
                }
                keep = keep.dropFirst()
            }
            needed[place] = keep.isEmpty ? nil : Array(keep)
            guard let first = keep.first else { continue }
            watermark = min(watermark, first.watermark)
            var point = points[place.category] ?? .start
            point.nextOffsets[place.partition] = first.position.offset
            if first.position.transaction != 0 || point.transactions[place.partition] != nil { point.transactions[place.partition] = first.position.transaction }
            points[place.category] = point
        }
        return (points, watermark)
    }

    /// The result of one window, once: its id is the same on every run. Returns whether the
    /// window made an event (a `HAVING` may leave it out).
    func write(_ result: WindowResult) async throws -> Bool {
        guard let event = emit(result) else { return false }
        let id = generation.isEmpty ? DeterministicID.make(name, result.key, String(result.window.start), String(result.window.end))
            : DeterministicID.make(name, generation, result.key, String(result.window.start), String(result.window.end))
        try await store.append([EventData(id: id, type: event.type, data: event.data)], to: StreamName(category: output, id: result.key))
        return true
    }

    /// A late event, recorded once with the reason.
    func writeLate(_ event: RecordedEvent, reason: String) async throws {
        try await DeadLetter.write(event, reason: reason, processor: name, generation: generation, to: deadLetters, in: store)
    }
}

/// A processor's dead letter: an event it could not use (late, no event time, a payload it
/// could not read), recorded as a `LateEvent` naming the event and the reason, in a stream named
/// after the processor. Its id comes from the event's position, so a repeat is written once.
enum DeadLetter {
    static func write(_ event: RecordedEvent, reason: String, processor: String, generation: String, to category: String, in store: EventStore) async throws {
        let record: [String: String] = ["processor": processor, "stream": event.stream.description, "version": String(event.version),
                                        "position": event.position.description, "reason": reason]
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        // A category's positions are its own: the category is part of the id where several are read.
        let position = event.stream.category + "@" + event.position.description
        let id = DeterministicID.make(processor, generation, "late", position)
        try await store.append([EventData(id: id, type: "LateEvent", data: Array(data))], to: StreamName(category: category, id: processor))
    }
}
