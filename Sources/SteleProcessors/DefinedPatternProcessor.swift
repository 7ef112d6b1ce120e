import Foundation
import SteleProcessing
import SteleStore
import SteleWire

/// A processor a server runs: a window, pattern or join processor, named, checkpointed, reporting
/// its progress.
public protocol RunnableProcessor: Sendable {
    var checkpointName: String { get set }
    var onProgress: (@Sendable (WindowProcessor.Progress) -> Void)? { get set }
    func run() async throws
    func runUntilCaughtUp() async throws
}

extension WindowProcessor: RunnableProcessor {}

extension ProcessorDefinition {
    /// The processor the definition declares: a window, a pattern or a join.
    public func makeRunnable(store: EventStore, checkpoints: any CheckpointStore, generation: String = "") -> any RunnableProcessor {
        switch statement {
        case .window: makeProcessor(store: store, checkpoints: checkpoints, generation: generation)
        case .pattern: makePatternProcessor(store: store, checkpoints: checkpoints, generation: generation)
        case .join: makeJoinProcessor(store: store, checkpoints: checkpoints, generation: generation)
        }
    }

    /// The processor a `MATCH_RECOGNIZE` definition declares.
    public func makePatternProcessor(store: EventStore, checkpoints: any CheckpointStore, generation: String = "") -> PatternProcessor {
        guard case let .pattern(query) = statement else { preconditionFailure("\(name) declares a window: makeProcessor") }
        let compiled = CompiledPatternQuery(query: query, eventType: eventType)
        var processor = PatternProcessor(name: name, sources: sources, output: output, deadLetters: deadLetters, store: store, checkpoints: checkpoints,
                                         pattern: query.pattern, input: { compiled.input($0) },
                                         condition: { compiled.condition($0, $1, $2) }, emit: { compiled.emit($0) })
        processor.outOfOrderness = outOfOrderness
        processor.generation = generation
        return processor
    }
}

/// A `MATCH_RECOGNIZE` turned into the three functions a ``PatternProcessor`` calls.
struct CompiledPatternQuery: Sendable {
    let query: PatternQuery
    let eventType: String

    func value(_ column: SQLColumn, of row: PatternRow) -> AggregateValue {
        CompiledWindowQuery.value(of: column, in: row.event, payload: row.payload)
    }

    func input(_ row: PatternRow) -> PatternInput {
        func needsPayload(_ column: SQLColumn) -> Bool { if case .field = column { true } else { false } }
        if needsPayload(query.key) || needsPayload(query.time), row.payload == nil { return .refuse("the payload is not JSON") }
        guard let time = CompiledWindowQuery.milliseconds(value(query.time, of: row)) else {
            return .refuse("the event time \(query.time) is missing or not a time (epoch milliseconds or ISO 8601)")
        }
        switch value(query.key, of: row) {
        case .null: return .refuse("the key \(query.key) is missing")
        case let .text(text) where text.isEmpty || text.utf8.count > StreamName.maxIdBytes:
            return .refuse("the key \(query.key) is empty or longer than \(StreamName.maxIdBytes) bytes (it names the output stream)")
        case let key: return .event(key: key.description, time: time)
        }
    }

    /// DEFINE: `V.column` is the row tested when `V` is the variable defined, else the last row
    /// `V` took; a bare column is the row tested. A variable with no DEFINE takes any row.
    func condition(_ variable: String, _ event: PatternEvent<PatternRow>, _ matched: [MatchedRow<PatternRow>]) -> Bool {
        guard let define = query.defines[variable] else { return true }
        let result = define.evaluate(column: { column in
            if case let .variable(name, inner) = column {
                if name == variable { return value(inner, of: event.value) }
                guard let row = matched.last(where: { $0.variable == name }) else { return .null }
                return value(inner, of: row.event.value)
            }
            return value(column, of: event.value)
        }, aggregate: { _ in .null })
        return SQLExpression.truth(result) == true
    }

    /// MEASURES: `V.column` is the last row `V` took, a bare column the match's last row; an
    /// aggregate runs over a variable's rows, or the match's.
    func emit(_ match: PatternMatch<PatternRow>) -> (type: String, data: [UInt8])? {
        func measure(_ expression: SQLExpression) -> AggregateValue {
            expression.evaluate(column: { column in
                if case let .variable(name, inner) = column {
                    guard let row = match.rows.last(where: { $0.variable == name }) else { return .null }
                    return value(inner, of: row.event.value)
                }
                guard let last = match.rows.last else { return .null }
                return value(column, of: last.event.value)
            }, aggregate: { function in
                var accumulator = Accumulator(function)
                var column = function.field.map(SQLColumn.init(fieldName:))
                var rows = match.rows
                if case let .variable(name, inner)? = column {
                    rows = rows.filter { $0.variable == name }
                    column = inner
                }
                for row in rows {
                    accumulator.add(column.map { value($0, of: row.event.value) } ?? .null, at: row.event.time)
                }
                return accumulator.result
            })
        }
        var members: [String: JSONValue] = [:]
        let key = match.key
        members[query.key.outputName] = .string(key)
        for item in query.measures {
            members[item.name] = CompiledWindowQuery.json(measure(item.expression))
        }
        if let selected = query.selected { members = members.filter { selected.contains($0.key) } }
        return (eventType, Array(JSONValue.object(members).jsonText.utf8))
    }
}
