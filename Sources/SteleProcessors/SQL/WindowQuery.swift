import SteleProcessing
import SteleStore

/// A windowed aggregation in the SQL of Flink's and RisingWave's window table functions:
///
/// ```sql
/// SELECT stream_id, window_start, window_end, COUNT(*) AS withdrawals, SUM(data.amount) AS total
/// FROM TABLE(TUMBLE(TABLE accounts, DESCRIPTOR(occurred_at), INTERVAL '10' MINUTES))
/// WHERE type = 'MoneyWithdrawn'
/// GROUP BY stream_id, window_start, window_end
/// HAVING SUM(data.amount) > 1000
/// ```
///
/// `HOP(TABLE c, DESCRIPTOR(t), slide, size)` and
/// `SESSION(TABLE c PARTITION BY key, DESCRIPTOR(t), gap)` take the other two kinds of window.
/// The table is a category; `GROUP BY` holds `window_start`, `window_end` and at most one key.
struct WindowQuery: Sendable, Equatable {
    struct Item: Sendable, Equatable {
        var name: String
        var expression: SQLExpression
        var line: Int
    }

    var items: [Item]
    /// The categories read: one, or several as `TABLE (SELECT * FROM a UNION ALL SELECT * FROM b)`.
    var sources: [String]
    var source: String { sources[0] }
    var window: WindowSpec
    var time: SQLColumn
    var key: SQLColumn?
    var filter: SQLExpression?
    var having: SQLExpression?
}

/// Parses one SELECT of a processor file into a ``WindowQuery``.
struct WindowQueryParser {
    var tokens: [SQLToken]
    var index = 0
    /// Parentheses, NOT and unary minus open inside each other, and binary operators in the
    /// whole statement: parsing and evaluating recurse once per level of the tree these make,
    /// so both are bounded well inside a thread's stack (a file of 100,000 `(` is refused).
    var nesting = 0
    var operators = 0
    static let maximumNesting = 64
    static let maximumOperators = 2_000
    let endLine: Int

    static let aggregates: Set<String> = ["COUNT", "SUM", "MIN", "MAX", "AVG", "FIRST_VALUE", "LAST_VALUE"]
    /// Columns a window's results have besides the key and the aggregates.
    static let windowColumns: Set<String> = ["window_start", "window_end"]

    /// Whether column names may be qualified by a pattern variable (`A.data.amount`).
    var allowsVariables = false

    init(tokens: [SQLToken]) {
        self.tokens = tokens
        endLine = tokens.last?.line ?? 1
    }

    static func parse(_ text: String, firstLine: Int) throws(SQLSyntaxError) -> WindowQuery {
        var parser = WindowQueryParser(tokens: try SQLLexer.tokens(text, firstLine: firstLine))
        return try parser.query()
    }

    // MARK: Tokens

    var current: SQLToken? { index < tokens.count ? tokens[index] : nil }
    var line: Int { current?.line ?? endLine }

    func failure(_ reason: String, at line: Int? = nil) -> SQLSyntaxError { SQLSyntaxError(line: line ?? self.line, reason: reason) }

    mutating func accept(keyword: String) -> Bool {
        guard current?.isKeyword(keyword) == true else { return false }
        index += 1
        return true
    }

    mutating func accept(symbol: String) -> Bool {
        guard current?.isSymbol(symbol) == true else { return false }
        index += 1
        return true
    }

    mutating func expect(keyword: String) throws(SQLSyntaxError) {
        guard accept(keyword: keyword) else { throw failure("expected \(keyword), found \(current?.text ?? "the end")") }
    }

    mutating func expect(symbol: String) throws(SQLSyntaxError) {
        guard accept(symbol: symbol) else { throw failure("expected '\(symbol)', found \(current?.text ?? "the end")") }
    }

    mutating func name() throws(SQLSyntaxError) -> String {
        switch current?.kind {
        case let .word(text)?, let .quoted(text)?:
            index += 1
            return text
        default: throw failure("expected a name, found \(current?.text ?? "the end")")
        }
    }

    // MARK: The statement

    /// A processor's statement: a windowed aggregation, or a row pattern (`MATCH_RECOGNIZE`).
    mutating func statement() throws(SQLSyntaxError) -> ProcessorStatement {
        var lookahead = self
        try lookahead.expect(keyword: "SELECT")
        var depth = 0
        // Which it is shows after FROM: `TABLE(` is a window function; then JOIN makes a join,
        // anything else a pattern.
        var afterFrom = false
        while let token = lookahead.current {
            if token.isSymbol("(") { depth += 1 } else if token.isSymbol(")") { depth -= 1 }
            lookahead.index += 1
            if depth == 0, !afterFrom, token.isKeyword("FROM") {
                if lookahead.current?.isKeyword("TABLE") == true { return .window(try query()) }
                afterFrom = true
            }
            if depth == 0, afterFrom, token.isKeyword("JOIN") { return .join(try joinQuery()) }
            if depth == 0, afterFrom, token.isKeyword("MATCH_RECOGNIZE") { break }
        }
        if afterFrom { return .pattern(try patternQuery()) }
        return .window(try query())
    }

    mutating func query() throws(SQLSyntaxError) -> WindowQuery {
        try expect(keyword: "SELECT")
        var selected: [(expression: SQLExpression, alias: String?, line: Int)] = []
        repeat {
            let itemLine = line
            let expression = try expression(aggregates: true)
            var alias: String?
            if accept(keyword: "AS") { alias = try name() }
            else if case .quoted? = current?.kind { alias = try name() }
            else if case let .word(word)? = current?.kind, !["FROM"].contains(word.uppercased()) { alias = try name() }
            selected.append((expression, alias, itemLine))
        } while accept(symbol: ",")
        try expect(keyword: "FROM")
        let (sources, window, time, partitionKey) = try windowSource()
        var filter: SQLExpression?
        if accept(keyword: "WHERE") {
            let whereLine = line
            let condition = try expression(aggregates: false)
            var windowColumn: SQLColumn?
            condition.visit(columns: { if $0 == .windowStart || $0 == .windowEnd { windowColumn = $0 } }, aggregates: { _ in })
            if let windowColumn { throw failure("WHERE filters events, before they have a window: \(windowColumn) belongs in HAVING", at: whereLine) }
            filter = condition
        }
        try expect(keyword: "GROUP")
        try expect(keyword: "BY")
        let groupLine = line
        var grouped: [SQLColumn] = []
        repeat {
            guard case let .column(column) = try expression(aggregates: false) else {
                throw failure("GROUP BY takes columns (window_start, window_end and a key)", at: groupLine)
            }
            grouped.append(column)
        } while accept(symbol: ",")
        var having: SQLExpression?
        if accept(keyword: "HAVING") { having = try expression(aggregates: true) }
        _ = accept(symbol: ";")
        if let extra = current { throw failure("unexpected \(extra.text) after the statement (one SELECT per file)") }

        guard grouped.contains(.windowStart), grouped.contains(.windowEnd) else {
            throw failure("GROUP BY must hold window_start and window_end (results are per window)", at: groupLine)
        }
        var keys: [SQLColumn] = []
        for column in grouped where column != .windowStart && column != .windowEnd && !keys.contains(column) { keys.append(column) }
        guard keys.count <= 1 else {
            throw failure("GROUP BY holds at most one key besides the window (it names the output stream): \(keys.map(\.description).joined(separator: ", "))", at: groupLine)
        }
        let key = keys.first
        if case .session = window, partitionKey != key {
            throw failure("a SESSION window's PARTITION BY (\(partitionKey?.description ?? "none")) must be the GROUP BY key (\(key?.description ?? "none"))", at: groupLine)
        }
        var items: [WindowQuery.Item] = []
        for (expression, alias, itemLine) in selected {
            var stray: SQLColumn?
            expression.visit(columns: { column in
                if column != .windowStart, column != .windowEnd, column != key, stray == nil { stray = column }
            }, aggregates: { _ in })
            if let stray {
                throw failure("\(stray) is neither grouped nor in an aggregate: put it in GROUP BY or inside COUNT, SUM, …", at: itemLine)
            }
            let itemName: String
            if let alias { itemName = alias } else if case let .column(column) = expression { itemName = column.outputName } else {
                throw failure("name this result with AS (e.g. COUNT(*) AS n): it becomes a field of the output event", at: itemLine)
            }
            guard !items.contains(where: { $0.name == itemName }) else { throw failure("two results are named \(itemName)", at: itemLine) }
            items.append(WindowQuery.Item(name: itemName, expression: expression, line: itemLine))
        }
        if let having {
            var stray: SQLColumn?
            having.visit(columns: { column in
                if column != .windowStart, column != .windowEnd, column != key, stray == nil { stray = column }
            }, aggregates: { _ in })
            if let stray { throw failure("HAVING reads \(stray), which is neither grouped nor in an aggregate") }
        }
        return WindowQuery(items: items, sources: sources, window: window, time: time, key: key, filter: filter, having: having)
    }

    /// `TABLE(TUMBLE(TABLE c, DESCRIPTOR(t), size))` and its HOP and SESSION siblings.
    private mutating func windowSource() throws(SQLSyntaxError) -> ([String], WindowSpec, SQLColumn, SQLColumn?) {
        let start = line
        try expect(keyword: "TABLE")
        try expect(symbol: "(")
        let function = try name().uppercased()
        guard ["TUMBLE", "HOP", "SESSION"].contains(function) else {
            throw failure("FROM reads a window of a category: TABLE(TUMBLE(…)), TABLE(HOP(…)) or TABLE(SESSION(…)), not \(function)", at: start)
        }
        try expect(symbol: "(")
        _ = accept(keyword: "TABLE")
        let sources = try categories()
        var partitionKey: SQLColumn?
        if accept(keyword: "PARTITION") {
            try expect(keyword: "BY")
            guard function == "SESSION" else { throw failure("PARTITION BY belongs to SESSION windows") }
            guard case let .column(column) = try expression(aggregates: false) else { throw failure("PARTITION BY takes a column") }
            partitionKey = column
        }
        try expect(symbol: ",")
        try expect(keyword: "DESCRIPTOR")
        try expect(symbol: "(")
        let timeLine = line
        guard case let .column(time) = try expression(aggregates: false) else { throw failure("DESCRIPTOR takes the event-time column") }
        switch time {
        case .attribute(.occurredAt), .attribute(.occurredAtMs), .attribute(.appendedAt), .attribute(.appendedAtMs), .field: break
        default: throw failure("the event time is occurred_at, appended_at or a payload field (data.NAME), not \(time)", at: timeLine)
        }
        try expect(symbol: ")")
        try expect(symbol: ",")
        let first = try interval()
        var second: Int64?
        if accept(symbol: ",") { second = try interval() }
        try expect(symbol: ")")
        try expect(symbol: ")")
        if accept(keyword: "AS") { _ = try name() }
        let spec: WindowSpec
        switch (function, second) {
        case ("TUMBLE", nil): spec = .tumbling(size: first)
        case ("HOP", let size?): spec = .hopping(size: size, slide: first)
        case ("SESSION", nil): spec = .session(gap: first)
        case ("HOP", nil): throw failure("HOP takes a slide and a size: HOP(TABLE c, DESCRIPTOR(t), INTERVAL '1' MINUTE, INTERVAL '5' MINUTES)", at: start)
        default: throw failure("\(function) takes one interval", at: start)
        }
        if let problem = spec.problem { throw failure(problem, at: start) }
        // Each category's replay point is the first event it still needs; with sessions, whose
        // bounds depend on every event met, a replay could then meet the categories' events in
        // another order and merge a session that had closed (a reviewer's model found it).
        if case .session = spec, sources.count > 1 {
            throw failure("a SESSION window reads one category (TUMBLE and HOP windows may read several)", at: start)
        }
        return (sources, spec, time, partitionKey)
    }

    /// A category, or several: `(SELECT * FROM a UNION ALL SELECT * FROM b)`, each read once.
    mutating func categories() throws(SQLSyntaxError) -> [String] {
        let sourcesLine = line
        var sources: [String] = []
        if accept(symbol: "(") {
            while true {
                try expect(keyword: "SELECT")
                try expect(symbol: "*")
                try expect(keyword: "FROM")
                sources.append(try name())
                guard accept(keyword: "UNION") else { break }
                _ = accept(keyword: "ALL")
            }
            try expect(symbol: ")")
        } else {
            sources.append(try name())
        }
        for source in sources {
            if let problem = CategoryName.validate(source) { throw failure(problem, at: sourcesLine) }
        }
        guard Set(sources).count == sources.count else { throw failure("a category is read twice", at: sourcesLine) }
        return sources
    }

    /// `INTERVAL '10' MINUTES` or `INTERVAL '10 minutes'`, in milliseconds.
    mutating func interval() throws(SQLSyntaxError) -> Int64 {
        let start = line
        try expect(keyword: "INTERVAL")
        guard case let .string(text)? = current?.kind else { throw failure("expected INTERVAL 'N' UNIT") }
        index += 1
        var words = text.split(separator: " ").map(String.init)
        if words.count == 1, case let .word(unit)? = current?.kind {
            words.append(unit)
            index += 1
        }
        guard words.count == 2, let milliseconds = IntervalText.milliseconds(words[0], unit: words[1]) else {
            throw failure("'\(text)' is not an interval: INTERVAL '10' MINUTES, or INTERVAL '10 minutes'", at: start)
        }
        return milliseconds
    }

    // MARK: Expressions

    mutating func expression(aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        try enter()
        defer { nesting -= 1 }
        var left = try conjunction(aggregates)
        while accept(keyword: "OR") { try countOperator(); left = .binary("OR", left, try conjunction(aggregates)) }
        return left
    }

    /// One level deeper: refused past ``maximumNesting``.
    private mutating func enter() throws(SQLSyntaxError) {
        nesting += 1
        guard nesting <= Self.maximumNesting else {
            nesting -= 1
            throw failure("an expression nested more than \(Self.maximumNesting) deep")
        }
    }

    private mutating func countOperator() throws(SQLSyntaxError) {
        operators += 1
        guard operators <= Self.maximumOperators else { throw failure("more than \(Self.maximumOperators) operators in one statement") }
    }

    private mutating func conjunction(_ aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        var left = try negation(aggregates)
        while accept(keyword: "AND") { try countOperator(); left = .binary("AND", left, try negation(aggregates)) }
        return left
    }

    mutating func negation(_ aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        if accept(keyword: "NOT") {
            try enter()
            defer { nesting -= 1 }
            return .not(try negation(aggregates))
        }
        return try comparison(aggregates)
    }

    private mutating func comparison(_ aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        let left = try additive(aggregates)
        for op in ["=", "<>", "!=", "<=", ">=", "<", ">"] where accept(symbol: op) {
            return .binary(op, left, try additive(aggregates))
        }
        if accept(keyword: "IS") {
            let negated = accept(keyword: "NOT")
            try expect(keyword: "NULL")
            return .isNull(left, negated: negated)
        }
        let negated = accept(keyword: "NOT")
        if accept(keyword: "IN") {
            try expect(symbol: "(")
            var list: [SQLExpression] = []
            repeat { list.append(try additive(aggregates)) } while accept(symbol: ",")
            try expect(symbol: ")")
            return .inList(left, list, negated: negated)
        }
        if accept(keyword: "BETWEEN") {
            let low = try additive(aggregates)
            try expect(keyword: "AND")
            return .between(left, low, try additive(aggregates), negated: negated)
        }
        if accept(keyword: "LIKE") { return .like(left, try additive(aggregates), negated: negated) }
        if negated { throw failure("expected IN, BETWEEN or LIKE after NOT") }
        return left
    }

    private mutating func additive(_ aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        var left = try multiplicative(aggregates)
        while true {
            if accept(symbol: "+") { try countOperator(); left = .binary("+", left, try multiplicative(aggregates)) }
            else if accept(symbol: "-") { try countOperator(); left = .binary("-", left, try multiplicative(aggregates)) }
            else { return left }
        }
    }

    private mutating func multiplicative(_ aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        var left = try concatenation(aggregates)
        while true {
            if accept(symbol: "*") { try countOperator(); left = .binary("*", left, try concatenation(aggregates)) }
            else if accept(symbol: "/") { try countOperator(); left = .binary("/", left, try concatenation(aggregates)) }
            else if accept(symbol: "%") { try countOperator(); left = .binary("%", left, try concatenation(aggregates)) }
            else { return left }
        }
    }

    /// `||` binds tightest of the binary operators, as in SQLite.
    private mutating func concatenation(_ aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        var left = try unary(aggregates)
        while accept(symbol: "||") { try countOperator(); left = .binary("||", left, try unary(aggregates)) }
        return left
    }

    private mutating func unary(_ aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        if accept(symbol: "-") {
            try enter()
            defer { nesting -= 1 }
            let operand = try unary(aggregates)
            if case let .literal(.integer(value)) = operand { return .literal(.integer(-value)) }
            if case let .literal(.real(value)) = operand { return .literal(.real(-value)) }
            return .negate(operand)
        }
        if accept(symbol: "+") {
            try enter()
            defer { nesting -= 1 }
            return try unary(aggregates)
        }
        return try primary(aggregates)
    }

    private mutating func primary(_ aggregates: Bool) throws(SQLSyntaxError) -> SQLExpression {
        guard let token = current else { throw failure("expected an expression, found the end") }
        switch token.kind {
        case let .integer(value): index += 1; return .literal(.integer(value))
        case let .real(value): index += 1; return .literal(.real(value))
        case let .string(text): index += 1; return .literal(.text(text))
        case .symbol("("):
            index += 1
            let inner = try expression(aggregates: aggregates)
            try expect(symbol: ")")
            return inner
        case let .word(word):
            let upper = word.uppercased()
            if upper == "NULL" { index += 1; return .literal(.null) }
            if upper == "TRUE" { index += 1; return .literal(.integer(1)) }
            if upper == "FALSE" { index += 1; return .literal(.integer(0)) }
            if index + 1 < tokens.count, tokens[index + 1].isSymbol("(") {
                index += 2
                if Self.aggregates.contains(upper) || (allowsVariables && (upper == "FIRST" || upper == "LAST")) {
                    return try aggregate(upper, allowed: aggregates, line: token.line)
                }
                guard SQLExpression.scalarFunctions.contains(upper) else {
                    throw failure("unknown function \(word) (aggregates: COUNT, SUM, MIN, MAX, AVG, FIRST_VALUE, LAST_VALUE; "
                                  + "functions: \(SQLExpression.scalarFunctions.sorted().joined(separator: ", ")))", at: token.line)
                }
                var arguments: [SQLExpression] = []
                if !accept(symbol: ")") {
                    repeat { arguments.append(try expression(aggregates: aggregates)) } while accept(symbol: ",")
                    try expect(symbol: ")")
                }
                guard upper == "COALESCE" ? !arguments.isEmpty : arguments.count == 1 else {
                    throw failure("\(upper) takes \(upper == "COALESCE" ? "one or more arguments" : "one argument")", at: token.line)
                }
                return .call(upper, arguments)
            }
            return .column(try column())
        case .quoted:
            return .column(try column())
        default:
            throw failure("expected an expression, found \(token.text)")
        }
    }

    mutating func column() throws(SQLSyntaxError) -> SQLColumn {
        let start = line
        var path = [try name()]
        while accept(symbol: ".") { path.append(try name()) }
        // `A.data.amount`, `A.type`: a pattern variable's row (any first name that is no column).
        if allowsVariables, path.count >= 2, path[0] != "data", EventAttribute(rawValue: path[0]) == nil,
           path[0] != "window_start", path[0] != "window_end" {
            let inner = try resolve(Array(path.dropFirst()), at: start)
            if inner == .windowStart || inner == .windowEnd { throw failure("a pattern's rows have no \(inner): it is a window's column", at: start) }
            return .variable(path[0], inner)
        }
        return try resolve(path, at: start)
    }

    /// The column a name's parts (`data.card.country`, `stream_id`) stand for.
    func resolve(_ path: [String], at start: Int) throws(SQLSyntaxError) -> SQLColumn {
        if path[0] == "data" {
            guard path.count > 1 else { throw failure("name a payload field: data.NAME", at: start) }
            // A path's parts are joined with '.' in aggregates' field names: a part may hold none.
            if let odd = path.first(where: { $0.isEmpty || $0.contains(".") }) {
                throw failure("a payload field's name may not be empty or hold '.': \"\(odd)\"", at: start)
            }
            return .field(Array(path.dropFirst()))
        }
        guard path.count == 1 else { throw failure("unknown column \(path.joined(separator: ".")): payload fields are data.NAME", at: start) }
        if path[0] == "window_start" { return .windowStart }
        if path[0] == "window_end" { return .windowEnd }
        guard let attribute = EventAttribute(rawValue: path[0]), attribute != .data else {
            throw failure("unknown column \(path[0]): payload fields are data.\(path[0]); the event's columns are "
                          + EventAttribute.allCases.filter { $0 != .data }.map(\.rawValue).joined(separator: ", "), at: start)
        }
        return .attribute(attribute)
    }

    private mutating func aggregate(_ function: String, allowed: Bool, line: Int) throws(SQLSyntaxError) -> SQLExpression {
        guard allowed else { throw failure("\(function) is an aggregate: it belongs in SELECT or HAVING, not WHERE or GROUP BY", at: line) }
        if function == "COUNT", accept(symbol: "*") {
            try expect(symbol: ")")
            return .aggregate(.countAll)
        }
        let distinct = accept(keyword: "DISTINCT")
        if distinct, function != "COUNT" { throw failure("DISTINCT is taken by COUNT only", at: line) }
        guard case let .column(column) = try expression(aggregates: false) else {
            throw failure("\(function) takes a column (data.NAME or an event column)", at: line)
        }
        if column == .windowStart || column == .windowEnd { throw failure("\(function) takes an event's column, not \(column)", at: line) }
        try expect(symbol: ")")
        let field = column.description
        let aggregate: AggregateFunction = switch function {
        case "COUNT": distinct ? .countDistinct(field: field) : .count(field: field)
        case "SUM": .sum(field: field)
        case "MIN": .min(field: field)
        case "MAX": .max(field: field)
        case "AVG": .avg(field: field)
        case "FIRST_VALUE", "FIRST": .first(field: field)
        default: .last(field: field)
        }
        return .aggregate(aggregate)
    }
}

/// Durations as processor files write them: `30 seconds`, `10 MINUTES`, `1 hour`.
enum IntervalText {
    static func milliseconds(_ amount: String, unit: String) -> Int64? {
        guard let count = Int64(amount), count >= 0 else { return nil }
        let scale: Int64
        switch unit.lowercased() {
        case "millisecond", "milliseconds", "ms": scale = 1
        case "second", "seconds", "s": scale = 1000
        case "minute", "minutes", "min": scale = 60_000
        case "hour", "hours", "h": scale = 3_600_000
        case "day", "days", "d": scale = 86_400_000
        default: return nil
        }
        let (result, overflow) = count.multipliedReportingOverflow(by: scale)
        return overflow ? nil : result
    }

    /// `30 seconds` (the text of a directive).
    static func milliseconds(_ text: String) -> Int64? {
        let words = text.split(separator: " ").map(String.init)
        guard words.count == 2 else { return nil }
        return milliseconds(words[0], unit: words[1])
    }
}
