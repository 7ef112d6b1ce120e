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
public struct PatternProcessor: KeyedRowsProcessor {
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
    let emitMatch: @Sendable (PatternMatch<PatternRow>) -> (type: String, data: [UInt8])?

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
        (self.pattern, self.input, self.condition, self.emitMatch) = (pattern, input, condition, emit)
        checkpointName = name
    }

    /// Follows the sources until the task is cancelled.
    public func run() async throws { try await runRows(until: nil) }

    /// Processes what the sources hold now, then returns (a batch run).
    public func runUntilCaughtUp() async throws { try await runRowsUntilCaughtUp() }

    func makeEngine() -> any RowEngine { MatcherEngine(matcher: PatternMatcher(spec: pattern, outOfOrderness: outOfOrderness, maxRunsPerKey: maxRunsPerKey, condition: condition), input: input) }

    func eventTime(_ row: PatternRow) -> Int64? {
        if case let .event(_, time) = input(row) { return time }
        return nil
    }

    func emit(_ match: PatternMatch<PatternRow>) -> (type: String, data: [UInt8])? { emitMatch(match) }
}

/// A pattern matcher as the run loop drives it.
struct MatcherEngine: RowEngine {
    var matcher: PatternMatcher<PatternRow>
    let input: @Sendable (PatternRow) -> PatternInput

    var watermark: Int64 { matcher.watermark }
    var sequenceOfNextEvent: UInt64 { matcher.sequenceOfNextEvent }
    var oldestHeldSequence: UInt64? { matcher.oldestHeldSequence }
    var openRuns: Int { matcher.openRuns }
    var feedsInTimeOrder: Bool { true }
    var matchesEndRuns: Bool { matcher.spec.absent == nil }
    var outputsAtLastRow: Bool { false }

    mutating func offer(_ row: PatternRow) -> RowOffer {
        switch input(row) {
        case .skip: return .skip
        case let .refuse(reason): return .refuse(reason)
        case let .event(key, time): return .taken(time: time, outputs: matcher.insert(PatternEvent(key: key, time: time, value: row), advancing: false))
        }
    }

    mutating func advance(to time: Int64) -> [PatternOutput<PatternRow>] { matcher.advance(to: time) }
}
