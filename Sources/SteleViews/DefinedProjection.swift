import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SteleStore
import SteleWire

extension ViewDefinition: Projection {
    public var schema: [SQLStatement] {
        tableStatements.map { SQLStatement($0.sql, origin: "\(file):\($0.line)") }
    }

    public var checks: [SQLStatement] {
        handlerOrder.flatMap { key in
            handlers[key]!.statements.map { statement in
                SQLStatement(statement.sql, Dictionary(uniqueKeysWithValues: statement.bindings.map { ($0.parameter, SQLValue.null) }),
                             origin: "\(file):\(statement.line)")
            }
        }
    }

    public func statements(for event: RecordedEvent) throws -> [SQLStatement] {
        guard let type = event.type,
              let handler = handlers[HandlerKey(type: type, schemaVersion: event.schemaVersion)] ?? handlers[HandlerKey(type: type, schemaVersion: nil)]
        else { return [] }
        var payload: JSONValue?
        if handler.readsPayload {
            guard let parsed = JSONValue.parse(event.data) else { throw ViewDefinitionError(file: file, line: handler.line, reason: "the \(type) event's payload is not JSON") }
            payload = parsed
        }
        return try handler.statements.map { statement in
            var parameters: [String: SQLValue] = [:]
            parameters.reserveCapacity(statement.bindings.count)
            for (parameter, source) in statement.bindings {
                switch source {
                case let .attribute(attribute): parameters[parameter] = Self.value(of: attribute, in: event)
                case let .field(name, field):
                    do throws(FieldMismatch) { parameters[parameter] = try field.bind(payload?.value(at: field.path)) } catch {
                        throw ViewDefinitionError(file: file, line: statement.line, reason: "the \(type) event's field \(name) \(error.reason)")
                    }
                }
            }
            return SQLStatement(statement.sql, parameters, origin: "\(file):\(statement.line)")
        }
    }

    static func value(of attribute: EventAttribute, in event: RecordedEvent) -> SQLValue {
        switch attribute {
        case .stream: .text(event.stream.description)
        case .streamId: .text(event.stream.id)
        case .category: .text(event.stream.category)
        case .version: .integer(event.version)
        case .type: event.type.map(SQLValue.text) ?? .null
        case .schemaVersion: .integer(Int64(event.schemaVersion))
        case .eventId: event.id.map { .text($0.uuidString.lowercased()) } ?? .null
        case .appendedAt: .text(ISO8601Milliseconds.format(event.appendedAt.epochMilliseconds))
        case .appendedAtMs: .integer(event.appendedAt.epochMilliseconds)
        case .occurredAt: .text(ISO8601Milliseconds.format(event.occurredAt.epochMilliseconds))
        case .occurredAtMs: .integer(event.occurredAt.epochMilliseconds)
        case .partition: .integer(Int64(event.position.partition))
        case .offset: .integer(event.position.offset)
        case .transactionId: .integer(event.position.transaction)
        case .position: .text(event.position.description)
        case .correlationId: event.metadata.correlationId.map(SQLValue.text) ?? .null
        case .causationId: event.metadata.causationId.map(SQLValue.text) ?? .null
        case .data: .text(String(decoding: event.data, as: UTF8.self))
        }
    }
}

struct FieldMismatch: Error {
    var reason: String
}

extension ViewDefinition.Field {
    /// The SQL value of a payload field, checked against its declared type.
    func bind(_ value: JSONValue?) throws(FieldMismatch) -> SQLValue {
        guard let value, value != .null else {
            if optional { return .null }
            throw FieldMismatch(reason: value == nil ? "is missing (declare it '\(type.rawValue)?' if it is optional)" : "is null (declare it '\(type.rawValue)?' if it may be)")
        }
        switch (type, value) {
        case let (.integer, .integer(number)): return .integer(number)
        case let (.integer, .number(number)) where number.rounded() == number && abs(number) < 9.2e18: return .integer(Int64(number))
        case let (.real, .integer(number)): return .real(Double(number))
        case let (.real, .number(number)): return .real(number)
        case let (.text, .string(text)): return .text(text)
        case let (.boolean, .bool(flag)): return .integer(flag ? 1 : 0)
        case (.json, _): return .text(value.jsonText)
        case let (.any, .string(text)): return .text(text)
        case let (.any, .integer(number)): return .integer(number)
        case let (.any, .number(number)): return .real(number)
        case let (.any, .bool(flag)): return .integer(flag ? 1 : 0)
        case (.any, _): return .text(value.jsonText)
        default: throw FieldMismatch(reason: "is \(value.kind), declared \(type.rawValue)")
        }
    }
}
