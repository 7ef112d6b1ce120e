/// A value an aggregate reads from an event or gives as its result.
public enum AggregateValue: Hashable, Sendable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    var number: Double? {
        switch self {
        case let .integer(value): Double(value)
        case let .real(value): value
        case .null, .text: nil
        }
    }

    public var description: String {
        switch self {
        case .null: "NULL"
        case let .integer(value): String(value)
        case let .real(value): String(value)
        case let .text(value): value
        }
    }

    /// SQL's ordering for MIN and MAX: numbers by value, text after numbers, by code point.
    static func less(_ a: AggregateValue, _ b: AggregateValue) -> Bool {
        switch (a, b) {
        case let (.integer(x), .integer(y)): x < y
        case let (.text(x), .text(y)): x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars)
        case (.text, _): false
        case (_, .text): true
        default: (a.number ?? 0) < (b.number ?? 0)
        }
    }
}

/// An aggregate over a window's events, as in SQL: NULL inputs are skipped (COUNT(*) counts
/// every event), an empty input gives NULL (COUNT gives 0).
public enum AggregateFunction: Hashable, Sendable {
    /// `COUNT(*)`.
    case countAll
    case count(field: String)
    case countDistinct(field: String)
    case sum(field: String)
    case min(field: String)
    case max(field: String)
    case avg(field: String)
    /// `FIRST_VALUE` / `LAST_VALUE` by event time (ties: the one that arrived first / last).
    case first(field: String)
    case last(field: String)

    /// The column the aggregate reads, nil for COUNT(*).
    public var field: String? {
        switch self {
        case .countAll: nil
        case let .count(field), let .countDistinct(field), let .sum(field), let .min(field), let .max(field),
             let .avg(field), let .first(field), let .last(field): field
        }
    }
}

/// One aggregate's running state. Each keeps O(1) state except COUNT DISTINCT, which keeps the
/// distinct values it saw (bounded by the window's events).
public struct Accumulator: Sendable {
    let function: AggregateFunction
    private var count: Int64 = 0
    private var integerSum: Int64 = 0
    private var realSum: Double = 0
    private var sawReal = false
    private var overflowed = false
    private var extreme: AggregateValue?
    private var distinct: Set<AggregateValue> = []
    private var chosen: (time: Int64, value: AggregateValue)?

    public init(_ function: AggregateFunction) { self.function = function }

    public mutating func add(_ value: AggregateValue, at time: Int64) {
        if case .countAll = function { count += 1; return }
        if value == .null { return }
        count += 1
        switch function {
        case .countAll, .count: break
        case .countDistinct: distinct.insert(value)
        case .sum, .avg:
            switch value {
            case let .integer(number):
                let (sum, overflow) = integerSum.addingReportingOverflow(number)
                if overflow { overflowed = true } else { integerSum = sum }
                realSum += Double(number)
            case let .real(number):
                sawReal = true
                realSum += number
            case .text, .null: break
            }
        case .min: if extreme.map({ AggregateValue.less(value, $0) }) ?? true { extreme = value }
        case .max: if extreme.map({ AggregateValue.less($0, value) }) ?? true { extreme = value }
        case .first: if chosen.map({ time < $0.time }) ?? true { chosen = (time, value) }
        case .last: if chosen.map({ time >= $0.time }) ?? true { chosen = (time, value) }
        }
    }

    /// Folds another accumulator of the same function in (two session windows merging).
    /// `other`'s values are later arrivals for FIRST/LAST ties.
    mutating func merge(_ other: Accumulator) {
        precondition(function == other.function, "only accumulators of one aggregate merge")
        count += other.count
        let (sum, overflow) = integerSum.addingReportingOverflow(other.integerSum)
        if overflow || other.overflowed { overflowed = true } else { integerSum = sum }
        realSum += other.realSum
        sawReal = sawReal || other.sawReal
        distinct.formUnion(other.distinct)
        if let value = other.extreme {
            switch function {
            case .min: if extreme.map({ AggregateValue.less(value, $0) }) ?? true { extreme = value }
            case .max: if extreme.map({ AggregateValue.less($0, value) }) ?? true { extreme = value }
            default: break
            }
        }
        if let theirs = other.chosen {
            switch function {
            case .first: if chosen.map({ theirs.time < $0.time }) ?? true { chosen = theirs }
            case .last: if chosen.map({ theirs.time >= $0.time }) ?? true { chosen = theirs }
            default: break
            }
        }
    }

    public var result: AggregateValue {
        switch function {
        case .countAll, .count: return .integer(count)
        case .countDistinct: return .integer(Int64(distinct.count))
        case .sum:
            if count == 0 { return .null }
            // An integer sum that overflows Int64 is given as a real, as PostgreSQL's numeric would not lose it.
            return sawReal || overflowed ? .real(realSum) : .integer(integerSum)
        case .avg: return count == 0 ? .null : .real(realSum / Double(count))
        case .min, .max: return extreme ?? .null
        case .first, .last: return chosen?.value ?? .null
        }
    }
}
