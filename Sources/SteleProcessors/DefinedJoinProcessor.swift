import SteleProcessing
import SteleStore
import SteleWire

extension ProcessorDefinition {
    /// The processor a join definition declares.
    public func makeJoinProcessor(store: EventStore, checkpoints: any CheckpointStore, generation: String = "") -> JoinProcessor {
        guard case let .join(query) = statement else { preconditionFailure("\(name) declares no join: makeRunnable") }
        let compiled = CompiledJoinQuery(query: query, eventType: eventType)
        var processor = JoinProcessor(name: name, sources: sources, output: output, deadLetters: deadLetters, store: store, checkpoints: checkpoints,
                                      left: query.left.alias, right: query.right.alias,
                                      kind: query.temporal ? .temporal(outer: query.outer) : .interval(lower: query.lower, upper: query.upper),
                                      input: { compiled.input($0) }, condition: { compiled.condition($0, $1) }, emit: { compiled.emit($0) })
        processor.outOfOrderness = outOfOrderness
        processor.generation = generation
        return processor
    }
}

/// A join turned into the three functions a ``JoinProcessor`` calls.
struct CompiledJoinQuery: Sendable {
    let query: JoinQuery
    let eventType: String

    /// A column of one side's row: `o.data.amount` read from the row `o` took.
    func value(_ column: SQLColumn, rows: [String: PatternRow]) -> AggregateValue {
        guard case let .variable(alias, inner) = column, let row = rows[alias] else { return .null }
        return CompiledWindowQuery.value(of: inner, in: row.event, payload: row.payload)
    }

    /// The key of each side the row belongs to (its category, then the side's own conditions),
    /// and its time. A row one side cannot take (no key, no time) may still be the other's (a
    /// category joined with itself); it is refused only when no side takes it.
    func input(_ row: PatternRow) -> JoinInput {
        var keys: [String?] = [nil, nil]
        var time: Int64?
        var refusal: String?
        for (index, side) in [query.left, query.right].enumerated() where side.source == row.category {
            let rows = [side.alias: row]
            if let filter = side.filter, SQLExpression.truth(filter.evaluate(column: { value($0, rows: rows) }, aggregate: { _ in .null })) != true { continue }
            func needsPayload(_ column: SQLColumn) -> Bool { if case .field = column { true } else { false } }
            if needsPayload(side.key) || needsPayload(side.time), row.payload == nil {
                refusal = "the payload is not JSON"
                continue
            }
            guard let sideTime = CompiledWindowQuery.milliseconds(CompiledWindowQuery.value(of: side.time, in: row.event, payload: row.payload)) else {
                refusal = "the event time \(side.alias).\(side.time) is missing or not a time (epoch milliseconds or ISO 8601)"
                continue
            }
            switch CompiledWindowQuery.value(of: side.key, in: row.event, payload: row.payload) {
            case .null: refusal = "the key \(side.alias).\(side.key) is missing"
            case let .text(text) where text.isEmpty || text.utf8.count > StreamName.maxIdBytes:
                refusal = "the key \(side.alias).\(side.key) is empty or longer than \(StreamName.maxIdBytes) bytes (it names the output stream)"
            case let key:
                keys[index] = key.description
                time = sideTime
            }
        }
        guard let time else { return refusal.map(JoinInput.refuse) ?? .skip }
        return .event(time: time, leftKey: keys[0], rightKey: keys[1])
    }

    /// The join's conditions that read both sides.
    func condition(_ left: PatternEvent<PatternRow>, _ right: PatternEvent<PatternRow>) -> Bool {
        guard let condition = query.condition else { return true }
        let rows = [query.left.alias: left.value, query.right.alias: right.value]
        return SQLExpression.truth(condition.evaluate(column: { value($0, rows: rows) }, aggregate: { _ in .null })) == true
    }

    /// The SELECT list over the pair (its rows: the left one, then the right one — none for a
    /// LEFT JOIN's row without a version: its columns are NULL).
    func emit(_ pair: PatternMatch<PatternRow>) -> (type: String, data: [UInt8])? {
        guard let first = pair.rows.first else { return nil }
        var rows = [query.left.alias: first.event.value]
        if pair.rows.count > 1 { rows[query.right.alias] = pair.rows[1].event.value }
        var members: [String: JSONValue] = [:]
        for item in query.items {
            members[item.name] = CompiledWindowQuery.json(item.expression.evaluate(column: { value($0, rows: rows) }, aggregate: { _ in .null }))
        }
        return (eventType, Array(JSONValue.object(members).jsonText.utf8))
    }
}
