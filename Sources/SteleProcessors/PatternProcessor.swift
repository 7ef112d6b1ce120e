import Foundation
import SteleProcessing
import SteleStore
import SteleWire

/// An event as a pattern processor's conditions see it: the event, the category it came from,
/// and its payload parsed once (nil when it is not JSON).
public struct PatternRow: Sendable {
    public let category: String
    public let event: RecordedEvent
    public let payload: JSONValue?

    /// A payload field by its path (`["card", "country"]`), nil when absent.
    public func field(_ path: [String]) -> JSONValue? { payload?.value(at: path) }
}

/// What a pattern processor makes of one event: its key and event time, nothing, or a refusal
/// with the reason (written to the dead letters).
public enum PatternInput: Sendable, Equatable {
    case event(key: String, time: Int64)
    case skip
    case refuse(String)
}

/// Row patterns kept running over one or more categories: each match (or absence that came
/// due) becomes an event in the output category, in the stream of its key; each late or
/// refused event a `LateEvent` with the reason in the dead-letter category.
///
/// Exactly once across crashes, as ``WindowProcessor``: an output's id comes from the processor,
/// the generation, the key and the positions of the match's first and last events; the
/// checkpoint of each source is the oldest event the matcher still holds (waiting for the
/// watermark, or in a partial match) — or the first event of a match that ends after it, since
/// a match ends the partial matches it overlaps and a replay must find it again — and beside them are kept the watermark that event was
/// read at and how far each source was read — a restart replays from the checkpoints at that
/// watermark and writes nothing for the events before where it stopped.
///
/// With several sources the watermark is the least advanced source's (a source caught up
/// holds no one back), so a source read a page ahead of another makes none of the other's
/// events late.
///
/// Limit: at the live edge — one source caught up while another is read — the order events
/// meet depends on when they were appended, and a restart over the same events, stored by
/// then, may judge different ones late.
public struct PatternProcessor: Sendable {
    public let name: String
    public let sources: [String]
    public let output: String
    public let deadLetters: String
    public let store: EventStore
    public let checkpoints: any CheckpointStore
    public let pattern: PatternSpec
    public var outOfOrderness: Int64 = 0
    public var maxRunsPerKey = 10_000
    /// The checkpoints are saved after this many events (and whenever the processor catches up).
    public var checkpointEvery = 100
    /// Mixed into every output's id (a new one for each rebuild).
    public var generation = ""
    /// What the checkpoints are saved under: `NAME.SOURCE`, `NAME.SOURCE.read`, `NAME.watermark`.
    public var checkpointName: String
    public var onProgress: (@Sendable (WindowProcessor.Progress) -> Void)?
    let input: @Sendable (PatternRow) -> PatternInput
    let condition: PatternMatcher<PatternRow>.Condition
    let emit: @Sendable (PatternMatch<PatternRow>) -> (type: String, data: [UInt8])?

    /// - Parameters:
    ///   - input: the key (`PARTITION BY`) and event time of an event, nothing, or a refusal.
    ///   - condition: whether a variable may take an event, given the rows matched before it
    ///     (`DEFINE`); return true for a variable with no condition.
    ///   - emit: the output event of a match (its type and JSON data), or nil for none.
    public init(name: String, sources: [String], output: String, deadLetters: String, store: EventStore, checkpoints: any CheckpointStore,
                pattern: PatternSpec,
                input: @escaping @Sendable (PatternRow) -> PatternInput,
                condition: @escaping PatternMatcher<PatternRow>.Condition,
                emit: @escaping @Sendable (PatternMatch<PatternRow>) -> (type: String, data: [UInt8])?) {
        precondition(pattern.problem == nil, pattern.problem ?? "")
        precondition(!sources.isEmpty && Set(sources).count == sources.count, "a pattern processor reads one or more distinct categories")
        (self.name, self.sources, self.output, self.deadLetters, self.store, self.checkpoints) = (name, sources, output, deadLetters, store, checkpoints)
        (self.pattern, self.input, self.condition, self.emit) = (pattern, input, condition, emit)
        checkpointName = name
    }

    /// An event given to the matcher: where to replay from to give it again.
    struct Held {
        var sequence: UInt64
        var category: String
        var position: EventPosition
        var time: Int64
        /// The watermark before it was given.
        var watermark: Int64
        /// Taken (not late): it was, or will be, fed to the runs in time order.
        var fed: Bool
    }

    public func run() async throws { try await run(until: nil) }

    /// Processes what the sources hold now, then returns (a batch run).
    public func runUntilCaughtUp() async throws {
        var ends: [String: CategoryCheckpoint] = [:]
        for source in sources { ends[source] = try await store.endCheckpoint(of: source) }
        try await run(until: ends)
    }

    /// The replay points and watermark are one record: written to the slot not in use, then the
    /// slot named (`NAME.slot`) in one durable write, so a restart reads one whole record.
    func loadReplay() async throws -> (slot: Int64, points: [String: CategoryCheckpoint], watermark: Int64?) {
        guard let slot = try await checkpoints.load(checkpointName + ".slot")?.nextOffsets[0] else { return (1, [:], nil) }
        var points: [String: CategoryCheckpoint] = [:]
        for source in sources { points[source] = try await checkpoints.load("\(checkpointName).s\(slot).\(source)") }
        return (slot, points, try await checkpoints.loadWatermark("\(checkpointName).s\(slot)"))
    }

    func saveReplay(slot: Int64, points: [String: CategoryCheckpoint], watermark: Int64) async throws {
        for source in sources { try await checkpoints.save(points[source] ?? .start, for: "\(checkpointName).s\(slot).\(source)") }
        try await checkpoints.saveWatermark(watermark, for: "\(checkpointName).s\(slot)")
        try await checkpoints.save(CategoryCheckpoint(nextOffsets: [0: slot]), for: checkpointName + ".slot")
    }

    func run(until ends: [String: CategoryCheckpoint]?) async throws {
        var (slot, starts, savedWatermark) = try await loadReplay()
        var readBefore: [String: CategoryCheckpoint] = [:]
        for source in sources { readBefore[source] = try await checkpoints.load(checkpointName + "." + source + ".read") }
        var matcher = PatternMatcher<PatternRow>(spec: pattern, outOfOrderness: outOfOrderness, maxRunsPerKey: maxRunsPerKey, condition: condition)
        if let savedWatermark { _ = matcher.advance(to: savedWatermark) }
        let input = input
        // Merged by event time, so a replay meets stored events in the order the first run did.
        var follower = CategoriesFollower(store: store, categories: sources, after: starts) { category, event in
            if case let .event(_, time) = input(PatternRow(category: category, event: event, payload: JSONValue.parse(event.data))) { return time }
            return nil
        }
        var held: [Held] = []
        var heldStart = 0
        var newest: [String: Int64] = [:]
        // The rows of recent matches (their least and greatest sequence numbers): a match ends
        // the partial matches it overlaps (SKIP PAST LAST ROW), so a replay must find it again.
        var spans: [(first: UInt64, last: UInt64)] = []
        var progress = WindowProcessor.Progress(checkpoint: starts[sources[0]] ?? .start, read: starts[sources[0]] ?? .start)
        onProgress?(progress)
        func reached() -> Bool {
            guard let ends else { return false }
            return ends.allSatisfy { source, end in follower.delivered[source]?.covers(end) ?? false }
        }
        if reached() { return }
        var sinceSave = 0
        while let (category, event) = try await follower.next() {
            try Task.checkCancellation()
            progress.eventsRead += 1
            let replaying = readBefore[category]?.hasPassed(event.position) ?? false
            let row = PatternRow(category: category, event: event, payload: JSONValue.parse(event.data))
            switch input(row) {
            case .skip: break
            case let .refuse(reason):
                if !replaying {
                    try await DeadLetter.write(event, reason: reason, processor: name, generation: generation, to: deadLetters, in: store)
                    progress.deadLettered += 1
                }
            case let .event(key, time):
                let sequence = matcher.sequenceOfNextEvent
                let watermarkBefore = matcher.watermark
                var outputs = matcher.insert(PatternEvent(key: key, time: time, value: row), advancing: false)
                let late = outputs.contains { if case .late = $0 { true } else { false } }
                held.append(Held(sequence: sequence, category: category, position: event.position, time: time, watermark: watermarkBefore, fed: !late))
                // Each source's progress is its own: the watermark is the least advanced
                // source's newest time, minus the disorder (a late or refused time moves nothing).
                // A source found caught up holds no one back; until it has had an event, one
                // that is not caught up holds the watermark where it is.
                if !late { newest[category] = max(newest[category] ?? .min, time) }
                let active = sources.filter { !follower.caughtUp.contains($0) }
                let deciding = active.isEmpty ? sources.filter { newest[$0] != nil } : active
                if deciding.allSatisfy({ newest[$0] != nil }), let least = deciding.compactMap({ newest[$0] }).min() {
                    let (mark, overflow) = least.subtractingReportingOverflow(outOfOrderness)
                    outputs += matcher.advance(to: overflow ? .min : mark)
                }
                for output in outputs {
                    switch output {
                    case let .match(match):
                        let sequences = match.rows.map(\.event.sequence)
                        if pattern.absent == nil, let first = sequences.min(), let last = sequences.max() { spans.append((first, last)) }
                        // Written on a replay too: a match found again has the same id, and the
                        // store writes it once (which event released it may differ).
                        if try await write(match) { progress.windowsWritten += 1 }
                    case let .late(late, reason):
                        if !replaying {
                            try await DeadLetter.write(late.value.event, reason: reason, processor: name, generation: generation, to: deadLetters, in: store)
                            progress.deadLettered += 1
                        }
                    }
                }
            }
            sinceSave += 1
            let done = reached()
            if sinceSave >= checkpointEvery || follower.isBufferEmpty || done {
                let oldest = replayStart(matcher: matcher, held: held[heldStart...], spans: &spans)
                while heldStart < held.count, held[heldStart].sequence < oldest { heldStart += 1 }
                if heldStart > 4_096 { held.removeFirst(heldStart); heldStart = 0 }
                var points = follower.delivered
                var watermark = matcher.watermark
                var placed: Set<PartitionOf> = []
                for entry in held[heldStart...] where placed.insert(PartitionOf(category: entry.category, partition: entry.position.partition)).inserted {
                    var point = points[entry.category] ?? .start
                    point.nextOffsets[entry.position.partition] = entry.position.offset
                    if entry.position.transaction != 0 || point.transactions[entry.position.partition] != nil {
                        point.transactions[entry.position.partition] = entry.position.transaction
                    }
                    points[entry.category] = point
                    watermark = min(watermark, entry.watermark)
                }
                // The read positions first (never moved back), then the replay record.
                for source in sources {
                    guard let delivered = follower.delivered[source], readBefore[source].map({ delivered.covers($0) }) ?? true else { continue }
                    try await checkpoints.save(delivered, for: checkpointName + "." + source + ".read")
                }
                slot = slot == 0 ? 1 : 0
                try await saveReplay(slot: slot, points: points, watermark: watermark)
                (progress.checkpoint, progress.read) = (points[sources[0]] ?? .start, follower.delivered[sources[0]] ?? .start)
                (progress.watermark, progress.openWindows) = (matcher.watermark, matcher.openRuns)
                onProgress?(progress)
                sinceSave = 0
            }
            if done { return }
        }
    }

    struct PartitionOf: Hashable {
        var category: String
        var partition: Int32
    }

    /// The sequence number a replay starts at: the oldest event the matcher holds, moved back
    /// (until nothing moves it) to the first row of any match that ends after it, and to any
    /// event given before it but fed to the runs after one given from it on — events are fed in
    /// time order, not the order given, so such an event changed the runs the replay rebuilds.
    func replayStart(matcher: PatternMatcher<PatternRow>, held: ArraySlice<Held>, spans: inout [(first: UInt64, last: UInt64)]) -> UInt64 {
        var oldest = matcher.oldestHeldSequence ?? matcher.sequenceOfNextEvent
        while true {
            if let earlier = spans.filter({ $0.last >= oldest }).map(\.first).min(), earlier < oldest {
                oldest = earlier
                continue
            }
            let from = held.filter { $0.fed && $0.sequence >= oldest }
            guard let firstFed = from.min(by: { ($0.time, $0.sequence) < ($1.time, $1.sequence) }) else { break }
            let fedAfter = held.filter { $0.fed && $0.sequence < oldest && ($0.time, $0.sequence) > (firstFed.time, firstFed.sequence) }
            guard let earlier = fedAfter.map(\.sequence).min() else { break }
            oldest = earlier
        }
        spans.removeAll { $0.last < oldest }
        return oldest
    }

    /// A match, once: its id is the same on every run.
    func write(_ match: PatternMatch<PatternRow>) async throws -> Bool {
        guard let event = emit(match), let first = match.rows.first?.event.value, let last = match.rows.last?.event.value else { return false }
        let id = DeterministicID.make(name, generation, match.key, first.category + "@" + first.event.position.description,
                                      last.category + "@" + last.event.position.description, match.absenceDeadline.map(String.init) ?? "")
        try await store.append([EventData(id: id, type: event.type, data: event.data)], to: StreamName(category: output, id: match.key))
        return true
    }
}
