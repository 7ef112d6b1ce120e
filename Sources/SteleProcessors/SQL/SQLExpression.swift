import SteleProcessing
import SteleStore

/// A column a processor's SQL reads: an attribute of the event (`stream_id`, `type`,
/// `occurred_at`, … — the names views bind), a payload field (`data.amount`,
/// `data.card.country`), or a window's bounds once it closes.
indirect enum SQLColumn: Hashable, Sendable, CustomStringConvertible {
    case attribute(EventAttribute)
    case field([String])
    case windowStart
    case windowEnd
    /// A column of the row a pattern variable took (`A.data.amount`).
    case variable(String, SQLColumn)

    var description: String {
        switch self {
        case let .attribute(attribute): attribute.rawValue
        case let .field(path): (["data"] + path).joined(separator: ".")
        case .windowStart: "window_start"
        case .windowEnd: "window_end"
        case let .variable(name, column): name + "." + column.description
        }
    }

    /// The name an output gives it when the SELECT does not say `AS`.
    var outputName: String {
        switch self {
        case let .field(path): path.last ?? "data"
        case let .variable(_, column): column.outputName
        default: description
        }
    }
}

/// An expression of a processor's SQL, evaluated with SQL's rules (SQLite's where SQL leaves a
/// choice): NULL propagates and makes a condition unknown, which `WHERE` and `HAVING` treat as
/// false; booleans are 1 and 0; integer arithmetic that would overflow turns real; dividing by
/// zero gives NULL.
indirect enum SQLExpression: Equatable, Sendable {
    case literal(AggregateValue)
    case column(SQLColumn)
    /// An aggregate over the window's events (only in SELECT and HAVING).
    case aggregate(AggregateFunction)
    case negate(SQLExpression)
    case not(SQLExpression)
    case binary(String, SQLExpression, SQLExpression)
    case isNull(SQLExpression, negated: Bool)
    case inList(SQLExpression, [SQLExpression], negated: Bool)
    case between(SQLExpression, SQLExpression, SQLExpression, negated: Bool)
    case like(SQLExpression, SQLExpression, negated: Bool)
    /// A scalar function: LOWER, UPPER, LENGTH, ABS, COALESCE.
    case call(String, [SQLExpression])

    static let scalarFunctions: Set<String> = ["LOWER", "UPPER", "LENGTH", "ABS", "COALESCE"]

    /// Every column read outside an aggregate, and every aggregate.
    func visit(columns: (SQLColumn) -> Void, aggregates: (AggregateFunction) -> Void) {
        switch self {
        case .literal: break
        case let .column(column): columns(column)
        case let .aggregate(function): aggregates(function)
        case let .negate(operand), let .not(operand), let .isNull(operand, _): operand.visit(columns: columns, aggregates: aggregates)
        case let .binary(_, left, right), let .like(left, right, _):
            left.visit(columns: columns, aggregates: aggregates)
            right.visit(columns: columns, aggregates: aggregates)
        case let .inList(operand, list, _):
            operand.visit(columns: columns, aggregates: aggregates)
            for element in list { element.visit(columns: columns, aggregates: aggregates) }
        case let .between(operand, low, high, _):
            for part in [operand, low, high] { part.visit(columns: columns, aggregates: aggregates) }
        case let .call(_, arguments):
            for argument in arguments { argument.visit(columns: columns, aggregates: aggregates) }
        }
    }

    /// The value, reading columns and aggregates through the two closures.
    func evaluate(column: (SQLColumn) -> AggregateValue, aggregate: (AggregateFunction) -> AggregateValue) -> AggregateValue {
        func value(_ expression: SQLExpression) -> AggregateValue { expression.evaluate(column: column, aggregate: aggregate) }
        switch self {
        case let .literal(literal): return literal
        case let .column(name): return column(name)
        case let .aggregate(function): return aggregate(function)
        case let .negate(operand):
            switch value(operand) {
            case let .integer(number): return number == .min ? .real(-Double(number)) : .integer(-number)
            case let .real(number): return .real(-number)
            case .null, .text: return .null
            }
        case let .not(operand):
            guard let truth = Self.truth(value(operand)) else { return .null }
            return .integer(truth ? 0 : 1)
        case let .binary(op, left, right):
            if op == "AND" || op == "OR" {
                let a = Self.truth(value(left))
                // Short-circuit as SQL's three-valued logic allows.
                if op == "AND", a == false { return .integer(0) }
                if op == "OR", a == true { return .integer(1) }
                let b = Self.truth(value(right))
                if op == "AND" { return b == false ? .integer(0) : (a == nil || b == nil ? .null : .integer(1)) }
                return b == true ? .integer(1) : (a == nil || b == nil ? .null : .integer(0))
            }
            return Self.apply(op, value(left), value(right))
        case let .isNull(operand, negated):
            let isNull = value(operand) == .null
            return .integer(isNull != negated ? 1 : 0)
        case let .inList(operand, list, negated):
            let subject = value(operand)
            if subject == .null { return .null }
            var sawNull = false
            for element in list {
                let candidate = value(element)
                if candidate == .null { sawNull = true; continue }
                if Self.compare(subject, candidate) == 0 { return .integer(negated ? 0 : 1) }
            }
            return sawNull ? .null : .integer(negated ? 1 : 0)
        case let .between(operand, low, high, negated):
            let subject = value(operand)
            let result = Self.apply("AND", Self.apply(">=", subject, value(low)), Self.apply("<=", subject, value(high)))
            guard let truth = Self.truth(result) else { return .null }
            return .integer(truth != negated ? 1 : 0)
        case let .like(operand, pattern, negated):
            guard case let .text(subject) = Self.asText(value(operand)), case let .text(pattern) = Self.asText(value(pattern)) else { return .null }
            return .integer(Self.like(Self.asciiLowercased(subject), Self.asciiLowercased(pattern)) != negated ? 1 : 0)
        case let .call(name, arguments):
            let values = arguments.map(value)
            switch name {
            case "COALESCE": return values.first { $0 != .null } ?? .null
            case "LOWER", "UPPER":
                guard case let .text(text) = Self.asText(values[0]) else { return .null }
                return .text(name == "LOWER" ? text.lowercased() : text.uppercased())
            case "LENGTH":
                guard case let .text(text) = Self.asText(values[0]) else { return .null }
                return .integer(Int64(text.count))
            case "ABS":
                switch values[0] {
                case let .integer(number): return number == .min ? .real(-Double(number)) : .integer(abs(number))
                case let .real(number): return .real(abs(number))
                default: return .null
                }
            default: preconditionFailure("unknown function \(name) passed the parser")
            }
        }
    }

    /// A condition's truth: nil for NULL (unknown); numbers are true when not zero, text never.
    static func truth(_ value: AggregateValue) -> Bool? {
        switch value {
        case .null: nil
        case let .integer(number): number != 0
        case let .real(number): number != 0
        case .text: false
        }
    }

    static func asText(_ value: AggregateValue) -> AggregateValue {
        switch value {
        case .null: .null
        case .text: value
        case .integer, .real: .text(value.description)
        }
    }

    /// -1, 0 or 1; nil when either side is NULL. Numbers compare by value, text after numbers.
    static func compare(_ a: AggregateValue, _ b: AggregateValue) -> Int? {
        if a == .null || b == .null { return nil }
        switch (a, b) {
        case let (.integer(x), .integer(y)): return x < y ? -1 : (x == y ? 0 : 1)
        case let (.text(x), .text(y)):
            if x == y { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case (.text, _): return 1
        case (_, .text): return -1
        default:
            let x = a.doubleValue, y = b.doubleValue
            return x < y ? -1 : (x == y ? 0 : 1)
        }
    }

    static func apply(_ op: String, _ a: AggregateValue, _ b: AggregateValue) -> AggregateValue {
        switch op {
        case "=", "<>", "!=", "<", "<=", ">", ">=":
            guard let order = compare(a, b) else { return .null }
            let holds = switch op {
            case "=": order == 0
            case "<>", "!=": order != 0
            case "<": order < 0
            case "<=": order <= 0
            case ">": order > 0
            default: order >= 0
            }
            return .integer(holds ? 1 : 0)
        case "AND", "OR":
            return SQLExpression.binary(op, .literal(a), .literal(b)).evaluate(column: { _ in .null }, aggregate: { _ in .null })
        case "||":
            guard case let .text(x) = asText(a), case let .text(y) = asText(b) else { return .null }
            return .text(x + y)
        default:
            return arithmetic(op, a, b)
        }
    }

    static func arithmetic(_ op: String, _ a: AggregateValue, _ b: AggregateValue) -> AggregateValue {
        switch (a, b) {
        case let (.integer(x), .integer(y)):
            let (result, overflow): (Int64, Bool)
            switch op {
            case "+": (result, overflow) = x.addingReportingOverflow(y)
            case "-": (result, overflow) = x.subtractingReportingOverflow(y)
            case "*": (result, overflow) = x.multipliedReportingOverflow(by: y)
            case "/":
                if y == 0 { return .null }
                (result, overflow) = x.dividedReportingOverflow(by: y)
            default:
                if y == 0 { return .null }
                (result, overflow) = x.remainderReportingOverflow(dividingBy: y)
            }
            if overflow { return arithmetic(op, .real(Double(x)), .real(Double(y))) }
            return .integer(result)
        case (.null, _), (_, .null), (.text, _), (_, .text):
            return .null
        default:
            let x = a.doubleValue, y = b.doubleValue
            switch op {
            case "+": return .real(x + y)
            case "-": return .real(x - y)
            case "*": return .real(x * y)
            case "/": return y == 0 ? .null : .real(x / y)
            default: return y == 0 ? .null : .real(x.truncatingRemainder(dividingBy: y))
            }
        }
    }

    /// LIKE ignores the case of ASCII letters only, as SQLite's does.
    static func asciiLowercased(_ text: String) -> [Unicode.Scalar] {
        text.unicodeScalars.map { ("A"..."Z").contains($0) ? Unicode.Scalar($0.value + 32)! : $0 }
    }

    /// SQL LIKE (already lowercased: LIKE ignores ASCII case, as SQLite's does): `%` any run,
    /// `_` one character.
    static func like(_ text: [Unicode.Scalar], _ pattern: [Unicode.Scalar]) -> Bool {
        // Iterative with one backtrack point: linear in practice, never exponential.
        var t = 0, p = 0, starP = -1, starT = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "_" || (pattern[p] != "%" && pattern[p] == text[t]) {
                t += 1; p += 1
            } else if p < pattern.count, pattern[p] == "%" {
                starP = p; starT = t; p += 1
            } else if starP >= 0 {
                p = starP + 1; starT += 1; t = starT
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "%" { p += 1 }
        return p == pattern.count
    }
}

extension AggregateValue {
    var doubleValue: Double {
        switch self {
        case let .integer(value): Double(value)
        case let .real(value): value
        case .null, .text: 0
        }
    }
}
