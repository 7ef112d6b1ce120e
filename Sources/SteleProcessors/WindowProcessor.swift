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
/// Limit: with a category of several partitions, the order partitions interleave in may differ
/// after a restart, and with it which events are late.
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

    /// Processes the events the category holds now, then returns: a batch run. The windows still
    /// open are rebuilt by the next run from the checkpoint.
    public func runUntilCaughtUp() async throws { try await run(until: try await store.endCheckpoint(of: source)) }

    func run(until end: CategoryCheckpoint?) async throws {
        let start = try await checkpoints.load(checkpointName) ?? .start
        // How far an earlier run read: what it wrote for the events before there is written
        // (closed windows and dead letters), so a replay writes nothing for them.
        let readBefore = try await checkpoints.load(readCheckpointName)
        func replayed(_ event: RecordedEvent) -> Bool { readBefore?.hasPassed(event.position) ?? false }
        var aggregator = WindowAggregator(spec: window, aggregates: aggregates, outOfOrderness: outOfOrderness,
                                          allowedLateness: allowedLateness, maxOpenWindows: maxOpenWindows)
        // The watermark the replay point's event was read at: every event replayed is judged as
        // it was the first time (no window is open yet, so nothing closes here).
        if let watermark = try await checkpoints.loadWatermark(checkpointName) {
            let closed = aggregator.advance(to: watermark)
            assert(closed.isEmpty, "no window is open before the first event")
        }
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
                    needed[event.position.partition, default: []].append(
                        Needed(position: event.position, until: until, key: input.key, time: input.time, watermark: watermarkBefore))
                }
            }
            sinceSave += 1
            let done = reached(end, iterator.checkpoint)
            if sinceSave >= checkpointEvery || iterator.isBufferEmpty || done {
                let (point, watermark) = replayPoint(from: iterator.checkpoint, needed: &needed, aggregator: aggregator)
                progress.checkpoint = point
                // The read position first, so it is never behind the replay point saved after it;
                // never moved back while a replay is still behind where the last run read. Then
                // the replay point's watermark, then the point: a crash between them leaves a
                // watermark no earlier than the point's, which only makes the replay judge late
                // some events no open window needs.
                if readBefore.map({ iterator.checkpoint.covers($0) }) ?? true {
                    try await checkpoints.save(iterator.checkpoint, for: readCheckpointName)
                }
                try await checkpoints.saveWatermark(watermark, for: checkpointName)
                try await checkpoints.save(point, for: checkpointName)
                (progress.read, progress.watermark, progress.openWindows) = (iterator.checkpoint, aggregator.watermark, aggregator.openWindows)
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

    /// The checkpoint to restart from — before the first event, in each partition, that a
    /// window still open needs (events read before it and no longer needed are dropped here) —
    /// and the watermark to restart at: the one the earliest of those events was read at.
    func replayPoint(from read: CategoryCheckpoint, needed: inout [Int32: [Needed]], aggregator: WindowAggregator) -> (CategoryCheckpoint, Int64) {
        var point = read
        var watermark = aggregator.watermark
        for (partition, events) in needed {
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
            needed[partition] = keep.isEmpty ? nil : Array(keep)
            guard let first = keep.first else { continue }
            watermark = min(watermark, first.watermark)
            point.nextOffsets[partition] = first.position.offset
            if first.position.transaction != 0 || point.transactions[partition] != nil { point.transactions[partition] = first.position.transaction }
        }
        return (point, watermark)
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
