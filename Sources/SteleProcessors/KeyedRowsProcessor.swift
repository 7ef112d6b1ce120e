import SteleProcessing
import SteleStore
import SteleWire

/// What a processor of keyed rows drives — a pattern matcher or an interval join — given each
/// event read, its watermark moved by the processor.
protocol RowEngine: Sendable {
    var watermark: Int64 { get }
    var sequenceOfNextEvent: UInt64 { get }
    var oldestHeldSequence: UInt64? { get }
    var openRuns: Int { get }
    /// Whether rows are fed to the runs in time order rather than as given: a replay must then
    /// also start before any row given earlier but fed after.
    var feedsInTimeOrder: Bool { get }
    /// Whether a match ends the partial matches it overlaps: a replay must then find it again.
    var matchesEndRuns: Bool { get }
    /// Whether an output comes out as its last row is given (an interval join's pair), not when
    /// the watermark later passes: then the outputs of a row the last run read before its
    /// checkpoint were written before it, and a replay writes them no more.
    var outputsAtLastRow: Bool { get }
    /// Takes an event (numbering it) or not: what came out of it, a late one as `.late`.
    mutating func offer(_ row: PatternRow) -> RowOffer
    mutating func advance(to time: Int64) -> [PatternOutput<PatternRow>]
}

enum RowOffer {
    case skip
    case refuse(String)
    case taken(time: Int64, outputs: [PatternOutput<PatternRow>])
}

/// A pattern or join processor: one run loop over its sources, its engine's outputs written
/// once each, and replay points that bring the engine back after a crash.
protocol KeyedRowsProcessor: RunnableProcessor {
    var name: String { get }
    var sources: [String] { get }
    var output: String { get }
    var deadLetters: String { get }
    var store: EventStore { get }
    var checkpoints: any CheckpointStore { get }
    var outOfOrderness: Int64 { get }
    var checkpointEvery: Int { get }
    var generation: String { get }
    func makeEngine() -> any RowEngine
    /// An event's time, which orders the sources' events when they are merged (nil: first).
    func eventTime(_ row: PatternRow) -> Int64?
    /// The output event of a match (its type and JSON data), or nil for none.
    func emit(_ match: PatternMatch<PatternRow>) -> (type: String, data: [UInt8])?
    /// Sources read again from their start at each start, whose events are no replay point (a
    /// temporal join's table).
    var tableSources: Set<String> { get }
    /// The rows whose positions make an output's id (with the key): its first and last.
    func identity(of match: PatternMatch<PatternRow>) -> [PatternRow]
}

/// An event given to the engine: where to replay from to give it again.
struct HeldRow {
    var sequence: UInt64
    var category: String
    var position: EventPosition
    var time: Int64
    /// The watermark before it was given.
    var watermark: Int64
    /// Taken (not late): it was, or will be, fed to the runs.
    var fed: Bool
}

extension KeyedRowsProcessor {
    var tableSources: Set<String> { [] }

    func identity(of match: PatternMatch<PatternRow>) -> [PatternRow] {
        [match.rows.first, match.rows.last].compactMap { $0?.event.value }
    }

    /// Processes what the sources hold now, then returns (a batch run).
    func runRowsUntilCaughtUp() async throws {
        var ends: [String: CategoryCheckpoint] = [:]
        for source in sources { ends[source] = try await store.endCheckpoint(of: source) }
        try await runRows(until: ends)
    }

    /// The replay points and watermark are one record: written to the slot not in use, then the
    /// slot named (`NAME.slot`) in one durable write, so a restart reads one whole record.
    /// With them, each source's newest event time before the replay point, so a replay moves the
    /// watermark as the first run did and judges every event late or not as it did.
    func loadReplay() async throws -> (slot: Int64, points: [String: CategoryCheckpoint], watermark: Int64?, newest: [String: Int64]) {
        guard let slot = try await checkpoints.load(checkpointName + ".slot")?.nextOffsets[0] else { return (1, [:], nil, [:]) }
        var points: [String: CategoryCheckpoint] = [:]
        var newest: [String: Int64] = [:]
        for source in sources {
            points[source] = try await checkpoints.load("\(checkpointName).s\(slot).\(source)")
            newest[source] = try await checkpoints.loadWatermark("\(checkpointName).s\(slot).newest.\(source)").flatMap { $0 == .min ? nil : $0 }
        }
        return (slot, points, try await checkpoints.loadWatermark("\(checkpointName).s\(slot)"), newest)
    }

    func saveReplay(slot: Int64, points: [String: CategoryCheckpoint], watermark: Int64, newest: [String: Int64]) async throws {
        for source in sources {
            try await checkpoints.save(points[source] ?? .start, for: "\(checkpointName).s\(slot).\(source)")
            // Always written (Int64.min for none), so a slot never keeps an older record's.
            try await checkpoints.saveWatermark(newest[source] ?? .min, for: "\(checkpointName).s\(slot).newest.\(source)")
        }
        try await checkpoints.saveWatermark(watermark, for: "\(checkpointName).s\(slot)")
        try await checkpoints.save(CategoryCheckpoint(nextOffsets: [0: slot]), for: checkpointName + ".slot")
    }

    /// Follows the sources until cancelled, or until `ends` are read.
    func runRows(until ends: [String: CategoryCheckpoint]?) async throws {
        var (slot, starts, savedWatermark, newestBeforeReplay) = try await loadReplay()
        var readBefore: [String: CategoryCheckpoint] = [:]
        for source in sources { readBefore[source] = try await checkpoints.load(checkpointName + "." + source + ".read") }
        var engine = makeEngine()
        if let savedWatermark { _ = engine.advance(to: savedWatermark) }
        // Merged by event time, so a replay meets stored events in the order the first run did.
        var follower = CategoriesFollower(store: store, categories: sources, after: starts) { [self] category, event in
            eventTime(PatternRow(category: category, event: event, payload: JSONValue.parse(event.data)))
        }
        var held: [HeldRow] = []
        var heldStart = 0
        // Each source's newest event time (a late or refused event's moves nothing): as it was
        // before the replay point, then the events from there on.
        var newest = newestBeforeReplay
        // The rows of recent matches (their least and greatest sequence numbers), when a match
        // ends the partial matches it overlaps (SKIP PAST LAST ROW): a replay must find it again.
        var spans: [(first: UInt64, last: UInt64)] = []
        var progress = WindowProcessor.Progress(checkpoint: starts[sources[0]] ?? .start, read: starts[sources[0]] ?? .start)
        onProgress?(progress)
        func reached() -> Bool {
            guard let ends else { return false }
            return ends.allSatisfy { source, end in follower.delivered[source]?.covers(end) ?? false }
        }
        if reached() { return }
        var sinceSave = 0
        var writtenSinceSave = 0
        while let (category, event) = try await follower.next() {
            try Task.checkCancellation()
            progress.eventsRead += 1
            let replaying = readBefore[category]?.hasPassed(event.position) ?? false
            let row = PatternRow(category: category, event: event, payload: JSONValue.parse(event.data))
            let sequence = engine.sequenceOfNextEvent
            let watermarkBefore = engine.watermark
            switch engine.offer(row) {
            case .skip: break
            case let .refuse(reason):
                if !replaying {
                    try await DeadLetter.write(event, reason: reason, processor: name, generation: generation, to: deadLetters, in: store)
                    progress.deadLettered += 1
                }
            case let .taken(time, given):
                var outputs = given
                let late = outputs.contains { if case .late = $0 { true } else { false } }
                if !tableSources.contains(category) { held.append(HeldRow(sequence: sequence, category: category, position: event.position, time: time, watermark: watermarkBefore, fed: !late)) }
                // Each source's progress is its own: the watermark is the least advanced
                // source's newest time, minus the disorder (a late or refused time moves nothing).
                // A source found caught up holds no one back; until it has had an event, one
                // that is not caught up holds the watermark where it is.
                if !late { newest[category] = max(newest[category] ?? .min, time) }
                let active = sources.filter { !follower.caughtUp.contains($0) }
                let deciding = active.isEmpty ? sources.filter { newest[$0] != nil } : active
                if deciding.allSatisfy({ newest[$0] != nil }), let least = deciding.compactMap({ newest[$0] }).min() {
                    let (mark, overflow) = least.subtractingReportingOverflow(outOfOrderness)
                    outputs += engine.advance(to: overflow ? .min : mark)
                }
                for output in outputs {
                    switch output {
                    case let .match(match):
                        let sequences = match.rows.map(\.event.sequence)
                        if engine.matchesEndRuns, match.absenceDeadline == nil, let first = sequences.min(), let last = sequences.max() {
                            spans.append((first, last))
                        }
                        // Written on a replay too: a match found again has the same id, and the
                        // store writes it once (which event released it may differ) — unless it
                        // comes out as its last row is given and every row of it was read before
                        // the last checkpoint: then the first run wrote it before that
                        // checkpoint, whichever of its rows came last then (sources merged by
                        // time may meet in another order once more events are stored).
                        if engine.outputsAtLastRow, match.rows.allSatisfy({ row in
                            readBefore[row.event.value.category]?.hasPassed(row.event.value.event.position) ?? false
                        }) { continue }
                        if try await write(match) {
                            progress.windowsWritten += 1
                            writtenSinceSave += 1
                        }
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
            // Also after every 100 outputs: a restart writes again what came out since the last
            // checkpoint, and the store recognises a repeat among a stream's last 1,000 events.
            if sinceSave >= checkpointEvery || writtenSinceSave >= 100 || follower.isBufferEmpty || done {
                let oldest = replayStart(engine: engine, held: held[heldStart...], spans: &spans)
                while heldStart < held.count, held[heldStart].sequence < oldest {
                    let entry = held[heldStart]
                    if entry.fed { newestBeforeReplay[entry.category] = max(newestBeforeReplay[entry.category] ?? .min, entry.time) }
                    heldStart += 1
                }
                if heldStart > 4_096 { held.removeFirst(heldStart); heldStart = 0 }
                var points = follower.delivered
                var watermark = engine.watermark
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
                for table in tableSources { points[table] = .start }
                // The read positions first (never moved back), then the replay record.
                for source in sources {
                    guard let delivered = follower.delivered[source], readBefore[source].map({ delivered.covers($0) }) ?? true else { continue }
                    try await checkpoints.save(delivered, for: checkpointName + "." + source + ".read")
                }
                slot = slot == 0 ? 1 : 0
                try await saveReplay(slot: slot, points: points, watermark: watermark, newest: newestBeforeReplay)
                (progress.checkpoint, progress.read) = (points[sources[0]] ?? .start, follower.delivered[sources[0]] ?? .start)
                (progress.watermark, progress.openWindows) = (engine.watermark, engine.openRuns)
                onProgress?(progress)
                (sinceSave, writtenSinceSave) = (0, 0)
            }
            if done { return }
        }
    }

    /// The sequence number a replay starts at: the oldest event the engine holds, moved back
    /// (until nothing moves it) to the first row of any match that ends after it, and — when the
    /// engine feeds its runs in time order, not the order given — to any event given before it
    /// but fed after one given from it on, since such an event changed the runs the replay rebuilds.
    func replayStart(engine: any RowEngine, held: ArraySlice<HeldRow>, spans: inout [(first: UInt64, last: UInt64)]) -> UInt64 {
        var oldest = engine.oldestHeldSequence ?? engine.sequenceOfNextEvent
        while true {
            if let earlier = spans.filter({ $0.last >= oldest }).map(\.first).min(), earlier < oldest {
                oldest = earlier
                continue
            }
            guard engine.feedsInTimeOrder else { break }
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
        let identity = identity(of: match)
        guard let event = emit(match), let first = identity.first, let last = identity.last else { return false }
        let id = DeterministicID.make(name, generation, match.key, first.category + "@" + first.event.position.description,
                                      last.category + "@" + last.event.position.description, match.absenceDeadline.map(String.init) ?? "")
        try await store.append([EventData(id: id, type: event.type, data: event.data)], to: StreamName(category: output, id: match.key))
        return true
    }
}

struct PartitionOf: Hashable {
    var category: String
    var partition: Int32
}
