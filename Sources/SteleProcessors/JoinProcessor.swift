import SteleProcessing
import SteleStore
import SteleWire

/// What a join processor makes of one event: its event time and its key on each side it
/// belongs to (both when a category is joined with itself), nothing, or a refusal with the
/// reason (written to the dead letters).
public enum JoinInput: Sendable, Equatable {
    case event(time: Int64, leftKey: String?, rightKey: String?)
    case skip
    case refuse(String)
}

/// How a join processor pairs its two sides.
public enum JoinKind: Sendable, Equatable {
    /// Rows of the two sides pair when `lower <= right time - left time <= upper` (``IntervalJoiner``).
    case interval(lower: Int64, upper: Int64)
    /// Each left row meets the right side's row for its key as of its time (``TemporalJoiner``): the
    /// right side is a versioned table, read again from its start at each start. Outer: a left row
    /// without one is written alone.
    case temporal(outer: Bool)
}

/// Two keyed streams joined within an interval of event time (``IntervalJoiner``), or a stream
/// joined with a versioned table as of each event's time (``TemporalJoiner``), kept running over
/// one category or two: each output becomes an event in the output category, in the stream of its
/// key; each late or refused event a `LateEvent` with the reason in the dead-letter category.
///
/// Exactly once across crashes, as ``PatternProcessor``: an output's id comes from the processor,
/// the generation, the key and the positions of its events (a temporal join's, of its stream row
/// alone: the version it meets may differ on a replay, the output is written once all the same);
/// the checkpoint of each source is the oldest event the join still holds, with the watermark it
/// was read at and how far each source was read — a restart replays from there, finds again the
/// outputs of the rows it holds (written once: same ids), and writes no dead letter twice. An
/// interval join's pair whose other row it had let go of was written before the checkpoint that
/// let it go; a temporal join's table is read again from its start.
public struct JoinProcessor: KeyedRowsProcessor {
    public let name: String
    public let sources: [String]
    public let output: String
    public let deadLetters: String
    public let store: EventStore
    public let checkpoints: any CheckpointStore
    /// The sides' names (the rows of an output carry them as their variables).
    public let left: String
    public let right: String
    public let kind: JoinKind
    public var outOfOrderness: Int64 = 0
    public var maxRowsPerKey = 10_000
    /// The checkpoints are saved after this many events (and whenever the processor catches up).
    public var checkpointEvery = 100
    /// Mixed into every output's id (a new one for each rebuild).
    public var generation = ""
    /// What the checkpoints are saved under: `NAME.slot`, `NAME.sN.SOURCE`, `NAME.SOURCE.read`.
    public var checkpointName: String
    public var onProgress: (@Sendable (WindowProcessor.Progress) -> Void)?
    let input: @Sendable (PatternRow) -> JoinInput
    let condition: JoinCondition
    let emitPair: @Sendable (PatternMatch<PatternRow>) -> (type: String, data: [UInt8])?

    /// Whether a left and a right row of the same key (within the interval, or the version as of
    /// the left row's time) make an output: the join's other conditions.
    public typealias JoinCondition = @Sendable (_ left: PatternEvent<PatternRow>, _ right: PatternEvent<PatternRow>) -> Bool

    /// - Parameters:
    ///   - sources: the categories read; for a temporal join, the stream's then the table's.
    ///   - left, right: the sides' names.
    ///   - input: an event's time and keys (its key on each side it belongs to), nothing, or a refusal.
    ///   - condition: the join's other conditions on a left and a right row.
    ///   - emit: the output event (its rows are the left one, then the right one when there is one).
    public init(name: String, sources: [String], output: String, deadLetters: String, store: EventStore, checkpoints: any CheckpointStore,
                left: String, right: String, kind: JoinKind,
                input: @escaping @Sendable (PatternRow) -> JoinInput,
                condition: @escaping JoinCondition = { _, _ in true },
                emit: @escaping @Sendable (PatternMatch<PatternRow>) -> (type: String, data: [UInt8])?) {
        precondition(!sources.isEmpty && Set(sources).count == sources.count, "a join processor reads one or two distinct categories")
        if case let .interval(lower, upper) = kind {
            precondition(lower <= upper && abs(lower) <= WindowSpec.maxTime && abs(upper) <= WindowSpec.maxTime)
        } else {
            precondition(sources.count == 2, "a temporal join reads a stream and a table, two categories")
        }
        (self.name, self.sources, self.output, self.deadLetters, self.store, self.checkpoints) = (name, sources, output, deadLetters, store, checkpoints)
        (self.left, self.right, self.kind, self.input, self.condition, emitPair) = (left, right, kind, input, condition, emit)
        checkpointName = name
    }

    /// Follows the sources until the task is cancelled.
    public func run() async throws { try await runRows(until: nil) }

    /// Processes what the sources hold now, then returns (a batch run).
    public func runUntilCaughtUp() async throws { try await runRowsUntilCaughtUp() }

    func makeEngine() -> any RowEngine {
        switch kind {
        case let .interval(lower, upper):
            JoinEngine(joiner: IntervalJoiner(leftName: left, rightName: right, lower: lower, upper: upper,
                                              maxRowsPerKey: maxRowsPerKey, condition: condition), input: input)
        case let .temporal(outer):
            TemporalJoinEngine(joiner: TemporalJoiner(streamName: left, tableName: right, outer: outer, condition: condition), input: input)
        }
    }

    /// A temporal join's table, read from its start at each start (its rows are no replay point).
    var tableSources: Set<String> { if case .temporal = kind { [sources[1]] } else { [] } }

    /// A temporal join's output is its stream row's: the version met may differ on a replay.
    func identity(of match: PatternMatch<PatternRow>) -> [PatternRow] {
        if case .temporal = kind { return match.rows.first.map { [$0.event.value] } ?? [] }
        return [match.rows.first, match.rows.last].compactMap { $0?.event.value }
    }

    func eventTime(_ row: PatternRow) -> Int64? {
        if case let .event(time, _, _) = input(row) { return time }
        return nil
    }

    func emit(_ match: PatternMatch<PatternRow>) -> (type: String, data: [UInt8])? { emitPair(match) }
}

/// An interval join as the run loop drives it.
struct JoinEngine: RowEngine {
    var joiner: IntervalJoiner<PatternRow>
    let input: @Sendable (PatternRow) -> JoinInput

    var watermark: Int64 { joiner.watermark }
    var sequenceOfNextEvent: UInt64 { joiner.sequenceOfNextEvent }
    var oldestHeldSequence: UInt64? { joiner.oldestHeldSequence }
    var openRuns: Int { joiner.heldRows }
    var feedsInTimeOrder: Bool { false }
    var matchesEndRuns: Bool { false }
    var outputsAtLastRow: Bool { true }

    mutating func offer(_ row: PatternRow) -> RowOffer {
        switch input(row) {
        case .skip: return .skip
        case let .refuse(reason): return .refuse(reason)
        case let .event(time, leftKey, rightKey):
            guard leftKey != nil || rightKey != nil else { return .skip }
            return .taken(time: time, outputs: joiner.insert(PatternEvent(key: "", time: time, value: row), leftKey: leftKey, rightKey: rightKey))
        }
    }

    mutating func advance(to time: Int64) -> [PatternOutput<PatternRow>] { joiner.advance(to: time) }
}

/// A temporal join as the run loop drives it: the stream's rows wait for the watermark, the
/// table's are versions.
struct TemporalJoinEngine: RowEngine {
    var joiner: TemporalJoiner<PatternRow>
    let input: @Sendable (PatternRow) -> JoinInput

    var watermark: Int64 { joiner.watermark }
    var sequenceOfNextEvent: UInt64 { joiner.sequenceOfNextEvent }
    var oldestHeldSequence: UInt64? { joiner.oldestHeldSequence }
    var openRuns: Int { joiner.heldRows + joiner.keyCount }
    // Stream rows change no state a later row meets (versions are read again from the table's
    // start): a replay from the oldest waiting row rebuilds everything.
    var feedsInTimeOrder: Bool { false }
    var matchesEndRuns: Bool { false }
    var outputsAtLastRow: Bool { false }

    mutating func offer(_ row: PatternRow) -> RowOffer {
        switch input(row) {
        case .skip: return .skip
        case let .refuse(reason): return .refuse(reason)
        case let .event(time, streamKey, tableKey):
            var outputs: [PatternOutput<PatternRow>] = []
            if let tableKey { outputs += joiner.insertVersion(PatternEvent(key: tableKey, time: time, value: row)) }
            if let streamKey { outputs += joiner.insert(PatternEvent(key: streamKey, time: time, value: row)) }
            if streamKey == nil && tableKey == nil { return .skip }
            return .taken(time: time, outputs: outputs)
        }
    }

    mutating func advance(to time: Int64) -> [PatternOutput<PatternRow>] { joiner.advance(to: time) }
}
