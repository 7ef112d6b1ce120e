import Foundation
import SteleProcessing
import SteleStore
import SteleWire

extension ProcessorDefinition {
    /// The processor a window definition declares (`FROM TABLE(TUMBLE|HOP|SESSION(…))`), over
    /// `store`, keeping its checkpoint in `checkpoints`; `generation` goes into its outputs' ids.
    public func makeProcessor(store: EventStore, checkpoints: any CheckpointStore, generation: String = "") -> WindowProcessor {
        guard let window else { preconditionFailure("\(name) declares a pattern: makePatternProcessor") }
        let compiled = CompiledWindowQuery(self)
        var processor = WindowProcessor(name: name, sources: sources, output: output, deadLetters: deadLetters, store: store, checkpoints: checkpoints,
                                        window: window, aggregates: aggregates,
                                        input: { compiled.input($0) }, emit: { compiled.emit($0) })
        processor.outOfOrderness = outOfOrderness
        processor.allowedLateness = allowedLateness
        processor.maxOpenWindows = maxOpenWindows
        processor.generation = generation
        return processor
    }
}

/// A definition's SQL turned into the two functions a ``WindowProcessor`` calls: what an event
/// gives the windows (WHERE, the key, the event time, the aggregated fields) and what a closed
/// window gives the output (HAVING, the SELECT items).
struct CompiledWindowQuery: Sendable {
    let query: WindowQuery
    let eventType: String
    let aggregates: [AggregateFunction]
    /// The columns the aggregates read, in the order of ``WindowAggregator/fields``.
    let fields: [SQLColumn]
    /// Whether the windows read the payload (the event time, the key or a field): an event
    /// the filter keeps whose payload is not JSON is refused then.
    let windowsReadPayload: Bool

    init(_ definition: ProcessorDefinition) {
        guard case let .window(windowQuery) = definition.statement else { preconditionFailure("a window processor's definition") }
        query = windowQuery
        eventType = definition.eventType
        aggregates = definition.aggregates
        fields = WindowAggregator(spec: windowQuery.window, aggregates: definition.aggregates).fields.map(SQLColumn.init(fieldName:))
        let columns = fields + [query.time] + (query.key.map { [$0] } ?? [])
        windowsReadPayload = columns.contains { if case .field = $0 { true } else { false } }
    }

    func input(_ event: RecordedEvent) -> WindowInput {
        // Parsed once, and only when a column of the payload is read: an event the filter
        // leaves out without reading its payload (`type = 'X' AND data.amount > 5` for
        // another type) is never refused for it; one whose payload was needed is.
        var parsed: JSONValue??
        var neededBrokenPayload = false
        func payload() -> JSONValue? {
            if let parsed { return parsed }
            let value = JSONValue.parse(event.data)
            parsed = .some(value)
            return value
        }
        func value(_ column: SQLColumn) -> AggregateValue {
            guard case .field = column else { return Self.value(of: column, in: event, payload: nil) }
            guard let payload = payload() else {
                neededBrokenPayload = true
                return .null
            }
            return Self.value(of: column, in: event, payload: payload)
        }
        let kept = query.filter.map { SQLExpression.truth($0.evaluate(column: value, aggregate: { _ in .null })) == true } ?? true
        if neededBrokenPayload || (kept && windowsReadPayload && payload() == nil) { return .refuse("the payload is not JSON") }
        if !kept { return .skip }
        guard let time = Self.milliseconds(value(query.time)) else {
            return .refuse("the event time \(query.time) is missing or not a time (epoch milliseconds or ISO 8601)")
        }
        var key = ""
        if let column = query.key {
            switch value(column) {
            case .null: return .refuse("the key \(column) is missing")
            case let .text(text) where text.isEmpty || text.utf8.count > StreamName.maxIdBytes:
                return .refuse("the key \(column) is empty or longer than \(StreamName.maxIdBytes) bytes (it names the output stream)")
            case let keyValue: key = keyValue.description
            }
        }
        return .event(WindowEvent(key: query.key == nil ? "all" : key, time: time, values: fields.map(value)))
    }

    /// The key as a value again: it travels as text (it names the output stream). A key from a
    /// payload field or a numeric attribute that reads as an integer is given back as one — so
    /// `HAVING data.bucket > 5` compares numbers; `stream_id` and the other text attributes stay
    /// text.
    func keyValue(_ key: String) -> AggregateValue {
        switch query.key {
        case .attribute(.version)?, .attribute(.schemaVersion)?, .attribute(.partition)?, .attribute(.offset)?,
             .attribute(.transactionId)?, .attribute(.appendedAtMs)?, .attribute(.occurredAtMs)?, .field?:
            if let number = Int64(key), String(number) == key { return .integer(number) }
            return .text(key)
        default:
            return .text(key)
        }
    }

    func emit(_ result: WindowResult) -> (type: String, data: [UInt8])? {
        func column(_ column: SQLColumn) -> AggregateValue {
            switch column {
            case .windowStart: .text(ISO8601Milliseconds.format(result.window.start))
            case .windowEnd: .text(ISO8601Milliseconds.format(result.window.end))
            default: keyValue(result.key)
            }
        }
        func aggregate(_ function: AggregateFunction) -> AggregateValue {
            guard let index = aggregates.firstIndex(of: function) else { preconditionFailure("an aggregate the definition did not collect") }
            return result.values[index]
        }
        if let having = query.having, SQLExpression.truth(having.evaluate(column: column, aggregate: aggregate)) != true { return nil }
        var members: [String: JSONValue] = [:]
        for item in query.items {
            members[item.name] = Self.json(item.expression.evaluate(column: column, aggregate: aggregate))
        }
        return (eventType, Array(JSONValue.object(members).jsonText.utf8))
    }

    /// A result as JSON: NULL is null, a real that is not finite too (JSON has no NaN).
    static func json(_ value: AggregateValue) -> JSONValue {
        switch value {
        case .null: .null
        case let .integer(number): .integer(number)
        case let .real(number): number.isFinite ? .number(number) : .null
        case let .text(text): .string(text)
        }
    }

    static func value(of column: SQLColumn, in event: RecordedEvent, payload: JSONValue?) -> AggregateValue {
        switch column {
        case .windowStart, .windowEnd, .variable: return .null
        case let .field(path):
            switch payload?.value(at: path) {
            case nil, .null?: return .null
            case let .bool(flag)?: return .integer(flag ? 1 : 0)
            case let .integer(number)?: return .integer(number)
            case let .number(number)?: return .real(number)
            case let .string(text)?: return .text(text)
            case let nested?: return .text(nested.jsonText)
            }
        case let .attribute(attribute):
            switch attribute {
            case .stream: return .text(event.stream.description)
            case .streamId: return .text(event.stream.id)
            case .category: return .text(event.stream.category)
            case .version: return .integer(event.version)
            case .type: return event.type.map(AggregateValue.text) ?? .null
            case .schemaVersion: return .integer(Int64(event.schemaVersion))
            case .eventId: return event.id.map { .text($0.uuidString.lowercased()) } ?? .null
            case .appendedAt: return .text(ISO8601Milliseconds.format(event.appendedAt.epochMilliseconds))
            case .appendedAtMs: return .integer(event.appendedAt.epochMilliseconds)
            case .occurredAt: return .text(ISO8601Milliseconds.format(event.occurredAt.epochMilliseconds))
            case .occurredAtMs: return .integer(event.occurredAt.epochMilliseconds)
            case .partition: return .integer(Int64(event.position.partition))
            case .offset: return .integer(event.position.offset)
            case .transactionId: return .integer(event.position.transaction)
            case .position: return .text(event.position.description)
            case .correlationId: return event.metadata.correlationId.map(AggregateValue.text) ?? .null
            case .causationId: return event.metadata.causationId.map(AggregateValue.text) ?? .null
            case .data: return .text(String(decoding: event.data, as: UTF8.self))
            }
        }
    }

    /// An event time: epoch milliseconds as a number, or an ISO 8601 time.
    static func milliseconds(_ value: AggregateValue) -> Int64? {
        switch value {
        case let .integer(number): return number
        case let .real(number): return number.isFinite && abs(number) < 9e15 ? Int64(number) : nil
        case let .text(text):
            return ISO8601Milliseconds.parseInternetTime(text)
        case .null: return nil
        }
    }
}

extension SQLColumn {
    /// The column an aggregate's field name (its ``description``) stands for.
    init(fieldName: String) {
        let first = fieldName.prefix { $0 != "." }
        if first != "data", EventAttribute(rawValue: String(first)) == nil, first.count < fieldName.count {
            self = .variable(String(first), SQLColumn(fieldName: String(fieldName.dropFirst(first.count + 1))))
        } else if fieldName.hasPrefix("data.") {
            self = .field(fieldName.dropFirst(5).split(separator: ".").map(String.init))
        } else if let attribute = EventAttribute(rawValue: fieldName) {
            self = .attribute(attribute)
        } else {
            preconditionFailure("aggregate field \(fieldName) is no column")
        }
    }
}
