import SteleProcessing
import SteleStore

/// An interval join of two keyed streams, in the SQL of Flink's interval joins:
///
/// ```sql
/// SELECT o.stream_id AS order_id, o.data.amount AS amount, s.data.carrier AS carrier
/// FROM orders o
/// JOIN shipments s ON s.data.order = o.stream_id
///  AND s.occurred_at BETWEEN o.occurred_at AND o.occurred_at + INTERVAL '4' HOURS
/// WHERE o.type = 'OrderPlaced' AND s.type = 'OrderShipped'
/// ```
///
/// Each side is a category with an alias, and every column names its side (`o.data.amount`).
/// The conditions (ON and WHERE alike: the join is inner) hold one equality between the two
/// sides — the key, which names the output stream — and one `BETWEEN` of the two sides' event
/// times, which bounds how long a row waits for its partner; the conditions that read one side
/// filter its rows before they are held, the others test each pair. A category may be joined
/// with itself (two aliases, the same event time).
///
/// Or a temporal join of a stream with a versioned table, as Flink writes it:
///
/// ```sql
/// SELECT o.stream_id AS order_id, o.data.amount * r.data.rate AS euros
/// FROM orders o
/// LEFT JOIN rates FOR SYSTEM_TIME AS OF o.occurred_at AS r ON r.stream_id = o.data.currency
/// WHERE o.type = 'OrderPlaced' AND r.type = 'RateSet'
/// ```
///
/// The table is a category whose events, keyed by its side of the equality, are its rows'
/// versions, timed by the same column as the stream's (`r.occurred_at` here); each stream row
/// meets the version current at its time. The conditions that read the table choose which of its
/// events are versions; with `LEFT JOIN`, a stream row without a version is written alone (its
/// table columns NULL), and no condition may read both sides.
struct JoinQuery: Sendable, Equatable {
    struct Side: Sendable, Equatable {
        var alias: String
        var source: String
        var key: SQLColumn
        var time: SQLColumn
        /// The conditions that read this side only.
        var filter: SQLExpression?
    }

    var left: Side
    var right: Side
    /// The least and greatest `right time - left time` of a pair, in milliseconds.
    var lower: Int64
    var upper: Int64
    /// The conditions that read both sides.
    var condition: SQLExpression?
    var items: [WindowQuery.Item]
    /// `FOR SYSTEM_TIME AS OF`: the right side is a versioned table.
    var temporal = false
    /// `LEFT JOIN` (temporal joins only).
    var outer = false

    var sources: [String] { left.source == right.source ? [left.source] : [left.source, right.source] }
}

extension WindowQueryParser {
    mutating func joinQuery() throws(SQLSyntaxError) -> JoinQuery {
        allowsVariables = true
        try expect(keyword: "SELECT")
        var selected: [(expression: SQLExpression, alias: String?, line: Int)] = []
        repeat {
            let itemLine = line
            if current?.isSymbol("*") == true { throw failure("a join's SELECT names its results (o.data.amount AS amount, …)") }
            let expression = try expression(aggregates: false)
            var alias: String?
            if accept(keyword: "AS") { alias = try name() }
            selected.append((expression, alias, itemLine))
        } while accept(symbol: ",")
        try expect(keyword: "FROM")
        let fromLine = line
        let (leftSource, leftAlias) = try joinSide()
        let joinLine = line
        let inner = accept(keyword: "INNER")
        let outer = !inner && accept(keyword: "LEFT")
        if outer { _ = accept(keyword: "OUTER") }
        if current?.isKeyword("RIGHT") == true || current?.isKeyword("FULL") == true {
            throw failure("RIGHT and FULL joins are not run: a join writes its left side's rows")
        }
        try expect(keyword: "JOIN")
        let rightLine = line
        let rightSource = try name()
        if let problem = CategoryName.validate(rightSource) { throw failure(problem, at: rightLine) }
        // `FOR SYSTEM_TIME AS OF o.time`: a temporal join, the right side a versioned table.
        var asOf: SQLColumn?
        if accept(keyword: "FOR") {
            try expect(keyword: "SYSTEM_TIME")
            try expect(keyword: "AS")
            try expect(keyword: "OF")
            guard case let .variable(alias, time) = try column(), alias == leftAlias else {
                throw failure("FOR SYSTEM_TIME AS OF takes the left side's event time (\(leftAlias).occurred_at)", at: rightLine)
            }
            switch time {
            case .attribute(.occurredAt), .attribute(.occurredAtMs), .attribute(.appendedAt), .attribute(.appendedAtMs), .field: break
            default: throw failure("FOR SYSTEM_TIME AS OF takes an event time (occurred_at, appended_at or data.NAME), not \(time)", at: rightLine)
            }
            asOf = time
        }
        let rightAlias = try alias()
        guard leftAlias != rightAlias else { throw failure("the two sides need two aliases (FROM orders o JOIN shipments s)", at: fromLine) }
        if outer, asOf == nil { throw failure("LEFT JOIN is run for temporal joins (FOR SYSTEM_TIME AS OF): an interval join writes pairs only", at: joinLine) }
        if asOf != nil, leftSource == rightSource { throw failure("a temporal join's table is another category than its stream", at: rightLine) }
        try expect(keyword: "ON")
        let aliases = [leftAlias, rightAlias]
        var conjuncts: [(expression: SQLExpression, line: Int)] = []
        var bounds: (lower: Int64, upper: Int64, leftTime: SQLColumn, rightTime: SQLColumn)?
        var clause = "ON"
        while true {
            let conjunctLine = line
            if let bound = try timeBound(aliases: aliases) {
                guard bounds == nil else { throw failure("the join has two time bounds: give one BETWEEN", at: conjunctLine) }
                bounds = bound
            } else {
                conjuncts.append((try negation(false), conjunctLine))
            }
            if accept(keyword: "AND") { continue }
            if clause == "ON", accept(keyword: "WHERE") { clause = "WHERE"; continue }
            break
        }
        _ = accept(symbol: ";")
        if let extra = current { throw failure("unexpected \(extra.text) after the statement (one SELECT per file)") }
        if let asOf {
            guard bounds == nil else { throw failure("a temporal join has no time bound: each row meets the version current at its time", at: fromLine) }
            bounds = (0, 0, asOf, asOf)
        }
        guard let bounds else {
            throw failure("an interval join bounds its time: ON … AND \(rightAlias).occurred_at BETWEEN \(leftAlias).occurred_at "
                          + "AND \(leftAlias).occurred_at + INTERVAL '5' MINUTES", at: fromLine)
        }
        // Every column names a side, and a side the query has.
        for (expression, expressionLine) in conjuncts.map({ ($0.expression, $0.line) }) + selected.map({ ($0.expression, $0.line) }) {
            var problem: String?
            expression.visit(columns: { column in
                guard problem == nil else { return }
                guard case let .variable(alias, _) = column else { problem = "\(column) needs its side: \(leftAlias).\(column) or \(rightAlias).\(column)"; return }
                if !aliases.contains(alias) { problem = "\(alias) is not a side of the join (\(leftAlias), \(rightAlias))" }
            }, aggregates: { _ in })
            if let problem { throw failure(problem, at: expressionLine) }
        }
        // The key: the first equality between a column of each side.
        var keys: (left: SQLColumn, right: SQLColumn)?
        var filters: [String: [SQLExpression]] = [:]
        var both: [SQLExpression] = []
        for (expression, _) in conjuncts {
            if keys == nil, case let .binary("=", .column(.variable(a, first)), .column(.variable(b, second))) = expression, a != b {
                keys = a == leftAlias ? (first, second) : (second, first)
                continue
            }
            var read: Set<String> = []
            expression.visit(columns: { if case let .variable(alias, _) = $0 { read.insert(alias) } }, aggregates: { _ in })
            if read.count == 1, let alias = read.first { filters[alias, default: []].append(expression) } else { both.append(expression) }
        }
        guard let keys else {
            throw failure("a join is keyed: ON needs an equality of the two sides (\(rightAlias).data.order = \(leftAlias).stream_id)", at: fromLine)
        }
        if asOf != nil, both.contains(where: { expression in
            if case let .binary("=", .column(.variable(a, _)), .column(.variable(b, _))) = expression { return a != b }
            return false
        }) {
            throw failure("a temporal join is keyed by one equality of the two sides (its table's versions are per key): "
                          + "put the other in the key (a stream id or a field that holds both)", at: fromLine)
        }
        if outer, !both.isEmpty {
            throw failure("a LEFT JOIN's conditions read one side each (a condition over both would decide whether the row is written alone)", at: fromLine)
        }
        if leftSource == rightSource, bounds.leftTime != bounds.rightTime {
            throw failure("a category joined with itself has one event time: \(bounds.leftTime) and \(bounds.rightTime) differ", at: fromLine)
        }
        func all(_ list: [SQLExpression]?) -> SQLExpression? { list?.dropFirst().reduce(list![0]) { .binary("AND", $0, $1) } }
        var items: [WindowQuery.Item] = []
        for (expression, alias, itemLine) in selected {
            let itemName: String
            if let alias { itemName = alias } else if case let .column(column) = expression { itemName = column.outputName } else {
                throw failure("name this result with AS: it becomes a field of the output event", at: itemLine)
            }
            guard !items.contains(where: { $0.name == itemName }) else { throw failure("two results are named \(itemName)", at: itemLine) }
            items.append(WindowQuery.Item(name: itemName, expression: expression, line: itemLine))
        }
        return JoinQuery(left: .init(alias: leftAlias, source: leftSource, key: keys.left, time: bounds.leftTime, filter: all(filters[leftAlias])),
                         right: .init(alias: rightAlias, source: rightSource, key: keys.right, time: bounds.rightTime, filter: all(filters[rightAlias])),
                         lower: bounds.lower, upper: bounds.upper, condition: all(both.isEmpty ? nil : both), items: items,
                         temporal: asOf != nil, outer: outer)
    }

    /// `category [AS] alias`.
    private mutating func joinSide() throws(SQLSyntaxError) -> (String, String) {
        let sourceLine = line
        let source = try name()
        if let problem = CategoryName.validate(source) { throw failure(problem, at: sourceLine) }
        return (source, try alias())
    }

    /// `[AS] alias`: a word that is no keyword of the join.
    private mutating func alias() throws(SQLSyntaxError) -> String {
        _ = accept(keyword: "AS")
        guard case let .word(word)? = current?.kind, !["JOIN", "INNER", "LEFT", "RIGHT", "FULL", "ON", "FOR", "WHERE"].contains(word.uppercased()) else {
            throw failure("name each side of a join with an alias (FROM orders o JOIN shipments s)")
        }
        // `data.amount` must stay a payload field, `type` an event's column.
        if word == "data" || word == "window_start" || word == "window_end" || EventAttribute(rawValue: word) != nil {
            throw failure("\(word) is a column's name: give the side another alias")
        }
        return try name()
    }

    /// `X.time BETWEEN Y.time [± INTERVAL …] AND Y.time [± INTERVAL …]` with X and Y the two
    /// sides, as the bounds of `right time - left time`; nil (and nothing read) for any other
    /// condition.
    private mutating func timeBound(aliases: [String]) throws(SQLSyntaxError) -> (lower: Int64, upper: Int64, leftTime: SQLColumn, rightTime: SQLColumn)? {
        let start = index
        let boundLine = line
        guard case .word? = current?.kind, let subject = try? column(), case let .variable(x, xTime) = subject,
              aliases.contains(x), accept(keyword: "BETWEEN"),
              let low = try? timeOperand(), let high = (accept(keyword: "AND") ? try? timeOperand() : nil) else {
            index = start
            return nil
        }
        guard case let .variable(y, yTime) = low.column, case let .variable(y2, yTime2) = high.column, y == y2, yTime == yTime2, y != x, aliases.contains(y) else {
            index = start
            return nil
        }
        for time in [xTime, yTime] {
            switch time {
            case .attribute(.occurredAt), .attribute(.occurredAtMs), .attribute(.appendedAt), .attribute(.appendedAtMs), .field: break
            default: throw failure("a join's time bound compares event times (occurred_at, appended_at or data.NAME), not \(time)", at: boundLine)
            }
        }
        guard low.offset <= high.offset else { throw failure("the time bound's low end is after its high end", at: boundLine) }
        guard abs(low.offset) <= WindowSpec.maxTime, abs(high.offset) <= WindowSpec.maxTime else {
            throw failure("the time bound's intervals are at most \(WindowSpec.maxTime) ms", at: boundLine)
        }
        // x - y within [low, high]: with x the right side that is right - left; else negated.
        if x == aliases[1] { return (low.offset, high.offset, yTime, xTime) }
        return (-high.offset, -low.offset, xTime, yTime)
    }

    /// `Y.time`, `Y.time + INTERVAL …` or `Y.time - INTERVAL …`: the column and the offset.
    private mutating func timeOperand() throws(SQLSyntaxError) -> (column: SQLColumn, offset: Int64) {
        let operand = try column()
        if accept(symbol: "+") { return (operand, try interval()) }
        if accept(symbol: "-") { return (operand, -(try interval())) }
        return (operand, 0)
    }
}
