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
/// event the `select` closure keeps is aggregated per key and tumbling or hopping window of event
/// time; each window's result, once the watermark passes it, becomes an event in the output
/// category (a stream per key), and each late event a `LateEvent` in the dead-letter category
/// with the reason — never dropped in silence.
///
/// Outputs are exactly once across crashes without transactions: every output event has an id
/// derived from the processor, the key and the window (a late event's from its position), so an
/// append repeated after a restart is recognised by the store and written once. The checkpoint
/// is the position of the oldest event a window still open needs, so a restart replays only
/// those events (not the category from its start), rebuilds the open windows and goes on.
///
/// Limits of this first version: session windows are left to ``WindowAggregator`` alone (a
/// session's extent is unknown until it closes, so its replay point needs more state); with a
/// category of several partitions, the order partitions interleave in may differ after a
/// restart, and with it which events are late.
public struct WindowProcessor: Sendable {
    public let name: String
    public let source: String
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
    var readCheckpointName: String { checkpointName + ".read" }
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
        precondition(window.problem == nil, window.problem ?? "")
        if case .session = window { preconditionFailure("WindowProcessor runs tumbling and hopping windows; sessions are not supported yet") }
        (self.name, self.source, self.output, self.deadLetters, self.store, self.checkpoints) = (name, source, output, deadLetters, store, checkpoints)
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
        var until: Int64
    }

    /// Runs until the task is cancelled or a store call fails (outputs are durable before the
    /// checkpoint moves past the events that made them, so a run may stop anywhere).
    public func run() async throws { try await run(until: nil) }

    /// Processes the events the category holds now, then returns: a batch run. The windows still
    /// open are rebuilt by the next run from the checkpoint.
    public func runUntilCaughtUp() async throws { try await run(until: try await store.endCheckpoint(of: source)) }

    func run(until end: CategoryCheckpoint?) async throws {
        let start = try await checkpoints.load(checkpointName) ?? .start
        // How far an earlier run read: its dead letters up to there are written (a replay must not
        // write them again — the store's idempotence looks back only so far in a stream).
        let readBefore = try await checkpoints.load(readCheckpointName)
        func replayed(_ event: RecordedEvent) -> Bool { readBefore?.hasPassed(event.position) ?? false }
        var aggregator = WindowAggregator(spec: window, aggregates: aggregates, outOfOrderness: outOfOrderness,
                                          allowedLateness: allowedLateness, maxOpenWindows: maxOpenWindows)
        var iterator = store.subscribe(toCategory: source, after: start).makeAsyncIterator()
        // Per partition, in the order read: the events windows still need.
        var needed: [Int32: [Needed]] = [:]
        var sinceSave = 0
        func reached(_ end: CategoryCheckpoint?, _ read: CategoryCheckpoint) -> Bool {
            guard let end else { return false }
            return end.nextOffsets.allSatisfy { partition, next in read.nextOffset(in: partition) >= next }
        }
        var progress = Progress(checkpoint: start, read: start)
        onProgress?(progress)
        if reached(end, start) { return }
        while let event = try await iterator.next() {
            try Task.checkCancellation()
            progress.eventsRead += 1
            switch select(event) {
            case .skip: break
            case let .refuse(reason):
                if !replayed(event) {
                    try await writeLate(event, reason: reason)
                    progress.deadLettered += 1
                }
            case let .event(input):
                let outputs = aggregator.insert(input)
                var late = false
                for output in outputs {
                    switch output {
                    case let .closed(result):
                        if try await write(result) { progress.windowsWritten += 1 }
                    case let .late(_, reason):
                        late = true
                        if !replayed(event) {
                            try await writeLate(event, reason: reason)
                            progress.deadLettered += 1
                        }
                    }
                }
                if !late, let last = window.windows(containing: input.time).last {
                    let (until, overflow) = last.end.addingReportingOverflow(allowedLateness)
                    needed[event.position.partition, default: []].append(Needed(position: event.position, until: overflow ? .max : until))
                }
            }
            sinceSave += 1
            let done = reached(end, iterator.checkpoint)
            if sinceSave >= checkpointEvery || iterator.isBufferEmpty || done {
                progress.checkpoint = replayPoint(from: iterator.checkpoint, needed: &needed, watermark: aggregator.watermark)
                // The read position first, so it is never behind the replay point saved after it;
                // never moved back while a replay is still behind where the last run read.
                if readBefore.map({ iterator.checkpoint.covers($0) }) ?? true {
                    try await checkpoints.save(iterator.checkpoint, for: readCheckpointName)
                }
                try await checkpoints.save(progress.checkpoint, for: checkpointName)
                (progress.read, progress.watermark, progress.openWindows) = (iterator.checkpoint, aggregator.watermark, aggregator.openWindows)
                onProgress?(progress)
                sinceSave = 0
            }
            if done { return }
        }
    }

    /// The checkpoint to restart from: before the first event, in each partition, that a
    /// window still open needs (events read before it and no longer needed are dropped here).
    func replayPoint(from read: CategoryCheckpoint, needed: inout [Int32: [Needed]], watermark: Int64) -> CategoryCheckpoint {
        var point = read
        for (partition, events) in needed {
            let keep = events.drop { $0.until <= watermark }
            needed[partition] = keep.isEmpty ? nil : Array(keep)
            guard let first = keep.first else { continue }
            point.nextOffsets[partition] = first.position.offset
            if first.position.transaction != 0 || point.transactions[partition] != nil { point.transactions[partition] = first.position.transaction }
        }
        return point
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
        let record: [String: String] = ["processor": name, "stream": event.stream.description, "version": String(event.version),
                                        "position": event.position.description, "reason": reason]
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        let id = generation.isEmpty ? DeterministicID.make(name, "late", event.position.description)
            : DeterministicID.make(name, generation, "late", event.position.description)
        try await store.append([EventData(id: id, type: "LateEvent", data: Array(data))], to: StreamName(category: deadLetters, id: name))
    }
}
