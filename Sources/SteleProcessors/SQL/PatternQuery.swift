import SteleProcessing
import SteleStore

/// What a processor file's statement is.
enum ProcessorStatement: Sendable, Equatable {
    case window(WindowQuery)
    case pattern(PatternQuery)
    case join(JoinQuery)

    var windowQuery: WindowQuery? {
        switch self {
        case let .window(query): query
        case .pattern, .join: nil
        }
    }

    /// The categories it reads.
    var sources: [String] {
        switch self {
        case let .window(query): query.sources
        case let .pattern(query): query.sources
        case let .join(query): query.sources
        }
    }
}

/// A row pattern in the SQL of `MATCH_RECOGNIZE` (SQL:2016, as Flink writes it), over one
/// category or several:
///
/// ```sql
/// SELECT *
/// FROM (SELECT * FROM logins UNION ALL SELECT * FROM transfers)
/// MATCH_RECOGNIZE (
///     PARTITION BY stream_id
///     ORDER BY occurred_at
///     MEASURES L.data.country AS country, T.data.amount AS amount
///     ONE ROW PER MATCH
///     AFTER MATCH SKIP PAST LAST ROW
///     PATTERN (L X* T) WITHIN INTERVAL '5' MINUTES
///     DEFINE L AS L.type = 'LoginSucceeded' AND L.data.country <> L.data.homeCountry,
///            T AS T.type = 'MoneyTransferred' AND T.data.amount > 1000
/// )
/// ```
///
/// `PATTERN (A !S)` says absence: `A` not followed by an `S` within the `WITHIN` time.
/// In DEFINE, `V.column` is the row being tested when `V` is the variable defined, else the
/// last row `V` took; a bare column is the row being tested. In MEASURES, `V.column` is the
/// last row `V` took, a bare column the match's last row, and FIRST, LAST, COUNT, SUM, MIN,
/// MAX and AVG run over a variable's rows (or the match's, unqualified).
struct PatternQuery: Sendable, Equatable {
    var sources: [String]
    var key: SQLColumn
    var time: SQLColumn
    var measures: [WindowQuery.Item]
    var pattern: PatternSpec
    var defines: [String: SQLExpression]
    /// The SELECT list's names, or nil for `SELECT *` (the key and every measure).
    var selected: [String]?
}

extension WindowQueryParser {
    mutating func patternQuery() throws(SQLSyntaxError) -> PatternQuery {
        allowsVariables = true
        try expect(keyword: "SELECT")
        var selected: [String]?
        if !accept(symbol: "*") {
            var names: [String] = []
            repeat { names.append(try name()) } while accept(symbol: ",")
            selected = names
        }
        try expect(keyword: "FROM")
        let sources = try categories()
        try expect(keyword: "MATCH_RECOGNIZE")
        try expect(symbol: "(")
        try expect(keyword: "PARTITION")
        try expect(keyword: "BY")
        let keyLine = line
        let key = try column()
        if case .variable = key { throw failure("PARTITION BY takes an event's column", at: keyLine) }
        try expect(keyword: "ORDER")
        try expect(keyword: "BY")
        let timeLine = line
        let time = try column()
        switch time {
        case .attribute(.occurredAt), .attribute(.occurredAtMs), .attribute(.appendedAt), .attribute(.appendedAtMs), .field: break
        default: throw failure("ORDER BY takes the event time: occurred_at, appended_at or a payload field (data.NAME), not \(time)", at: timeLine)
        }
        var measures: [WindowQuery.Item] = []
        if accept(keyword: "MEASURES") {
            repeat {
                let itemLine = line
                let expression = try expression(aggregates: true)
                try expect(keyword: "AS")
                let itemName = try name()
                guard !measures.contains(where: { $0.name == itemName }) else { throw failure("two measures are named \(itemName)", at: itemLine) }
                measures.append(WindowQuery.Item(name: itemName, expression: expression, line: itemLine))
            } while accept(symbol: ",")
        }
        if accept(keyword: "ONE") {
            try expect(keyword: "ROW")
            try expect(keyword: "PER")
            try expect(keyword: "MATCH")
        } else if current?.isKeyword("ALL") == true {
            throw failure("ALL ROWS PER MATCH is not run: a match is one output event (ONE ROW PER MATCH)")
        }
        if accept(keyword: "AFTER") {
            let skipLine = line
            try expect(keyword: "MATCH")
            try expect(keyword: "SKIP")
            guard accept(keyword: "PAST") else { throw failure("the one AFTER MATCH rule run is SKIP PAST LAST ROW (the default)", at: skipLine) }
            try expect(keyword: "LAST")
            try expect(keyword: "ROW")
        }
        let patternLine = line
        try expect(keyword: "PATTERN")
        try expect(symbol: "(")
        var terms: [PatternSpec.Term] = []
        var absent: String?
        while !accept(symbol: ")") {
            if absent != nil { throw failure("an absence (!V) ends the pattern") }
            if accept(symbol: "!") { absent = try name(); continue }
            var variables: [String] = []
            if accept(symbol: "(") {
                repeat { variables.append(try name()) } while accept(symbol: "|")
                try expect(symbol: ")")
            } else {
                variables = [try name()]
            }
            terms.append(PatternSpec.Term(variables, try quantifier()))
        }
        // A processor's partial matches must end: without WITHIN, one for a key gone quiet would
        // live, and hold its events for a replay, forever.
        guard accept(keyword: "WITHIN") else { throw failure("a processor's pattern needs WITHIN (how long a match may take), so partial matches end", at: patternLine) }
        let within: Int64? = try interval()
        let pattern = PatternSpec(terms: terms, absent: absent, within: within)
        if let problem = pattern.problem { throw failure(problem, at: patternLine) }
        var defines: [String: SQLExpression] = [:]
        if accept(keyword: "DEFINE") {
            repeat {
                let defineLine = line
                let variable = try name()
                try expect(keyword: "AS")
                guard pattern.variables.contains(variable) else { throw failure("DEFINE \(variable): the pattern has no variable \(variable)", at: defineLine) }
                guard defines[variable] == nil else { throw failure("\(variable) is defined twice", at: defineLine) }
                defines[variable] = try expression(aggregates: false)
            } while accept(symbol: ",")
        }
        try expect(symbol: ")")
        _ = accept(symbol: ";")
        if let extra = current { throw failure("unexpected \(extra.text) after the statement (one SELECT per file)") }
        if let absent, defines[absent] == nil { throw failure("the absent variable \(absent) needs a DEFINE (what must not come)", at: patternLine) }
        // Every variable named is the pattern's.
        for expression in defines.values.map({ $0 }) + measures.map(\.expression) {
            var unknown: String?
            expression.visit(columns: { column in
                if case let .variable(name, _) = column, !pattern.variables.contains(name) { unknown = name }
            }, aggregates: { function in
                if let field = function.field, case let .variable(name, _) = SQLColumn(fieldName: field), !pattern.variables.contains(name) { unknown = name }
            })
            if let unknown { throw failure("\(unknown) is not a variable of the pattern (\(pattern.variables.joined(separator: ", ")))", at: patternLine) }
        }
        let names = [key.outputName] + measures.map(\.name)
        if let selected, let missing = selected.first(where: { !names.contains($0) }) {
            throw failure("SELECT \(missing): a pattern's results are the PARTITION BY column and the MEASURES (\(names.joined(separator: ", ")))", at: 1)
        }
        return PatternQuery(sources: sources, key: key, time: time, measures: measures, pattern: pattern, defines: defines, selected: selected)
    }

    /// `?`, `+`, `*`, `{n}`, `{n,}`, `{n,m}` after a variable, or none.
    mutating func quantifier() throws(SQLSyntaxError) -> PatternSpec.Quantifier {
        let quantifier: PatternSpec.Quantifier
        if accept(symbol: "?") { quantifier = .optional }
        else if accept(symbol: "+") { quantifier = .oneOrMore }
        else if accept(symbol: "*") { quantifier = .zeroOrMore }
        else if accept(symbol: "{") {
            guard case let .integer(low)? = current?.kind else { throw failure("expected {n}, {n,} or {n,m}") }
            index += 1
            var high: Int64? = low
            if accept(symbol: ",") {
                if case let .integer(value)? = current?.kind { high = value; index += 1 } else { high = nil }
            }
            try expect(symbol: "}")
            guard low <= 1_000, (high ?? 0) <= 1_000 else { throw failure("a quantifier may ask for at most 1,000 events") }
            quantifier = .between(min: Int(low), max: high.map { Int($0) })
        } else {
            quantifier = .one
        }
        if current?.isSymbol("?") == true { throw failure("reluctant quantifiers (*?, +?) are not run: a match is found at the first event that completes it") }
        return quantifier
    }
}
