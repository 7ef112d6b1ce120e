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

/// Two keyed streams joined within an interval of event time (``IntervalJoiner``), kept running
/// over one category or two: each pair becomes an event in the output category, in the stream
/// of its key; each late or refused event a `LateEvent` with the reason in the dead-letter
/// category.
///
/// Exactly once across crashes, as ``PatternProcessor``: a pair's id comes from the processor,
/// the generation, the key and the positions of its two events; the checkpoint of each source
/// is the oldest event the join still holds, with the watermark it was read at and how far each
/// source was read — a restart replays from there, finds again the pairs of the rows it holds
/// (written once: same ids), and writes no dead letter twice. A pair whose other row the join
/// had let go of was written before the checkpoint that let it go.
public struct JoinProcessor: KeyedRowsProcessor {
    public let name: String
    public let sources: [String]
    public let output: String
    public let deadLetters: String
    public let store: EventStore
    public let checkpoints: any CheckpointStore
    public let join: (left: String, right: String, lower: Int64, upper: Int64)
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
    let condition: IntervalJoiner<PatternRow>.Condition
    let emitPair: @Sendable (PatternMatch<PatternRow>) -> (type: String, data: [UInt8])?

    /// - Parameters:
    ///   - left, right: the sides' names (the rows of a pair carry them as their variables).
    ///   - lower, upper: the least and greatest `right time - left time` of a pair.
    ///   - input: an event's time and keys, nothing, or a refusal.
    ///   - condition: whether a left and a right row of the same key within the interval pair.
    ///   - emit: the output event of a pair (its rows are the left one, then the right one).
    public init(name: String, sources: [String], output: String, deadLetters: String, store: EventStore, checkpoints: any CheckpointStore,
                left: String, right: String, lower: Int64, upper: Int64,
                input: @escaping @Sendable (PatternRow) -> JoinInput,
                condition: @escaping IntervalJoiner<PatternRow>.Condition = { _, _ in true },
                emit: @escaping @Sendable (PatternMatch<PatternRow>) -> (type: String, data: [UInt8])?) {
        precondition(!sources.isEmpty && Set(sources).count == sources.count, "a join processor reads one or two distinct categories")
        precondition(lower <= upper && abs(lower) <= WindowSpec.maxTime && abs(upper) <= WindowSpec.maxTime)
        (self.name, self.sources, self.output, self.deadLetters, self.store, self.checkpoints) = (name, sources, output, deadLetters, store, checkpoints)
        (join, self.input, self.condition, emitPair) = ((left, right, lower, upper), input, condition, emit)
        checkpointName = name
    }

    /// Follows the sources until the task is cancelled.
    public func run() async throws { try await runRows(until: nil) }

    /// Processes what the sources hold now, then returns (a batch run).
    public func runUntilCaughtUp() async throws { try await runRowsUntilCaughtUp() }

    func makeEngine() -> any RowEngine {
        JoinEngine(joiner: IntervalJoiner(leftName: join.left, rightName: join.right, lower: join.lower, upper: join.upper,
                                          maxRowsPerKey: maxRowsPerKey, condition: condition), input: input)
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
