import Foundation
import SteleCore
import SteleProcessing
import SteleStore

/// A processor declared in SQL, with no Swift code: a windowed aggregation over a category whose
/// closed windows become events of an output category. `stele serve --views DIR` runs every
/// `*.sql` file of `DIR` that starts with `-- @processor` (the others are views).
///
/// ```sql
/// -- @processor withdrawal_bursts
/// -- @output bursts
/// -- @event-type WithdrawalBurst
/// -- @out-of-order 30 seconds
/// SELECT stream_id, window_start, window_end, COUNT(*) AS withdrawals, SUM(data.amount) AS total
/// FROM TABLE(TUMBLE(TABLE accounts, DESCRIPTOR(occurred_at), INTERVAL '10' MINUTES))
/// WHERE type = 'MoneyWithdrawn'
/// GROUP BY stream_id, window_start, window_end
/// HAVING SUM(data.amount) > 1000
/// ```
///
/// Directives (all but `@processor` optional):
/// - `@processor NAME`: letters, digits and `_`;
/// - `@output CATEGORY`: where results go, a stream per key (default: the name);
/// - `@dead-letters CATEGORY`: where late and refused events go with the reason (default
///   `NAME-dead-letters`);
/// - `@event-type TYPE`: the results' event type (default: the name in UpperCamelCase);
/// - `@out-of-order DURATION`: how far out of order events may arrive and still count
///   (the watermark's delay; default 0);
/// - `@lateness DURATION`: how long a window stays open after the watermark passes its end;
/// - `@max-open-windows N`: the state bound (default 1,000,000).
///
/// Each result is a JSON object with one member per SELECT item, named by its `AS` (a column
/// may go without); `window_start` and `window_end` are ISO 8601 UTC times.
public struct ProcessorDefinition: Sendable {
    public var name: String
    public var file: String
    /// The categories it reads (a window reads one).
    public var sources: [String]
    public var source: String { sources[0] }
    public var output: String
    public var deadLetters: String
    public var eventType: String
    /// The window of a windowed aggregation, or nil for a pattern.
    public var window: WindowSpec? { if case let .window(query) = statement { query.window } else { nil } }
    /// The pattern of a `MATCH_RECOGNIZE`, or nil for a window.
    public var pattern: PatternSpec? { if case let .pattern(query) = statement { query.pattern } else { nil } }
    /// Whether it joins two streams within an interval.
    public var isJoin: Bool { if case .join = statement { true } else { false } }
    public var outOfOrderness: Int64
    public var allowedLateness: Int64
    public var maxOpenWindows: Int
    /// A digest of the text: a processor whose definition changed is rebuilt.
    public var fingerprint: String
    let statement: ProcessorStatement
    /// A window's statement (tests read it).
    var query: WindowQuery { if case let .window(query) = statement { query } else { preconditionFailure("a pattern has no window query") } }
    /// Every aggregate a window's SELECT and HAVING use, once each, in order of appearance.
    let aggregates: [AggregateFunction]

    /// Whether `text` is a processor's definition (it has an `@processor` directive) rather
    /// than a view's.
    public static func declaresProcessor(_ text: String) -> Bool {
        lines(text).contains { Directive($0)?.name == "processor" }
    }

    /// The text's lines, with `\r\n` endings as well as `\n` (Swift takes `\r\n` for one
    /// character, which a split on `\n` would not cut).
    static func lines(_ text: String) -> [String] {
        text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    public static func load(file path: String) throws(ProcessorDefinitionError) -> ProcessorDefinition {
        let text: String
        do { text = try String(contentsOf: URL(fileURLWithPath: path), encoding: .utf8) } catch {
            throw ProcessorDefinitionError(file: path, line: 0, reason: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(ProcessorDefinitionError) -> ProcessorDefinition {
        func failure(_ line: Int, _ reason: String) -> ProcessorDefinitionError { ProcessorDefinitionError(file: file, line: line, reason: reason) }
        var settings: [String: (argument: String, line: Int)] = [:]
        for (offset, line) in lines(text).enumerated() {
            guard let directive = Directive(line) else { continue }
            let known = ["processor", "output", "dead-letters", "event-type", "out-of-order", "lateness", "max-open-windows"]
            guard known.contains(directive.name) else {
                throw failure(offset + 1, "unknown directive @\(directive.name) (a processor takes \(known.map { "@" + $0 }.joined(separator: ", ")))")
            }
            if let earlier = settings[directive.name] { throw failure(offset + 1, "@\(directive.name) is already given on line \(earlier.line)") }
            settings[directive.name] = (directive.argument, offset + 1)
        }
        guard let (name, nameLine) = settings["processor"] else { throw failure(1, "a processor file starts with -- @processor NAME") }
        if let problem = ProcessorName.problem(name) { throw failure(nameLine, problem) }
        func category(_ directive: String, default value: String) throws(ProcessorDefinitionError) -> String {
            guard let (argument, line) = settings[directive] else { return value }
            if let problem = CategoryName.validate(argument) { throw failure(line, "@\(directive): \(problem)") }
            return argument
        }
        func duration(_ directive: String) throws(ProcessorDefinitionError) -> Int64 {
            guard let (argument, line) = settings[directive] else { return 0 }
            guard let value = IntervalText.milliseconds(argument) else { throw failure(line, "@\(directive) takes a duration such as '30 seconds', not '\(argument)'") }
            return value
        }
        let output = try category("output", default: name)
        let deadLetters = try category("dead-letters", default: name + "-dead-letters")
        for (directive, category) in [("output", output), ("dead-letters", deadLetters)] where settings[directive] == nil {
            if let problem = CategoryName.validate(category) { throw failure(nameLine, "the default @\(directive) \(category) cannot be used (\(problem)): give one") }
        }
        guard output != deadLetters else { throw failure(settings["dead-letters"]?.line ?? nameLine, "@output and @dead-letters must differ") }
        var eventType = name.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        if let (argument, line) = settings["event-type"] {
            guard !argument.isEmpty, !argument.contains(" ") else { throw failure(line, "@event-type takes one word") }
            eventType = argument
        }
        guard !eventType.isEmpty else { throw failure(nameLine, "the name \(name) makes no event type: give one with @event-type") }
        var maxOpenWindows = 1_000_000
        if let (argument, line) = settings["max-open-windows"] {
            guard let value = Int(argument), (1...100_000_000).contains(value) else { throw failure(line, "@max-open-windows is a number from 1 to 100000000, not '\(argument)'") }
            maxOpenWindows = value
        }
        let statement: ProcessorStatement
        let tokens: [SQLToken]
        do {
            tokens = try SQLLexer.tokens(text)
            var parser = WindowQueryParser(tokens: tokens)
            statement = try parser.statement()
        } catch { throw failure(error.line, error.reason) }
        var aggregates: [AggregateFunction] = []
        let sources = statement.sources
        if let query = statement.windowQuery {
            for expression in query.items.map(\.expression) + (query.having.map { [$0] } ?? []) {
                expression.visit(columns: { _ in }, aggregates: { if !aggregates.contains($0) { aggregates.append($0) } })
            }
        } else if let (_, line) = settings["lateness"] {
            throw failure(line, "@lateness is for windows; a pattern or a join waits @out-of-order")
        }
        for source in sources where output == source || deadLetters == source {
            throw failure(1, "a processor cannot write to a category it reads (\(source))")
        }
        return ProcessorDefinition(name: name, file: file, sources: sources, output: output, deadLetters: deadLetters, eventType: eventType,
                                   outOfOrderness: try duration("out-of-order"), allowedLateness: try duration("lateness"),
                                   maxOpenWindows: maxOpenWindows, fingerprint: Self.fingerprint(tokens: tokens, settings: settings),
                                   statement: statement, aggregates: aggregates)
    }

    /// Tells one definition from another by what decides its results — the statement's tokens
    /// and the directives — so an edited comment or a reindented line does not start a new
    /// generation (not a security boundary).
    static func fingerprint(tokens: [SQLToken], settings: [String: (argument: String, line: Int)]) -> String {
        let directives = settings.keys.sorted().map { "@\($0) \(settings[$0]!.argument)" }
        let text = (directives + tokens.map(\.text)).joined(separator: "\n")
        let hex = String(CRC32C.checksum(Array(text.utf8)), radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// The names of the results' members, in SELECT order.
    public var resultNames: [String] {
        switch statement {
        case let .window(query): query.items.map(\.name)
        case let .pattern(query): query.selected ?? ([query.key.outputName] + query.measures.map(\.name))
        case let .join(query): query.items.map(\.name)
        }
    }

    /// A `-- @name argument` line.
    struct Directive {
        var name: String
        var argument: String

        init?(_ line: String) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix("--") else { return nil }
            let rest = trimmed.dropFirst(2).drop { $0 == " " || $0 == "\t" }
            guard rest.hasPrefix("@") else { return nil }
            let words = rest.dropFirst().split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = words.first else { return nil }
            name = String(first)
            argument = words.count > 1 ? String(words[1]).trimmingCharacters(in: .whitespaces) : ""
        }
    }
}

/// A processor definition refused, with the file and line at fault.
public struct ProcessorDefinitionError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { "\(file):\(line): \(reason)" }
}

/// Processor names become file names (checkpoints) and parts of event ids.
enum ProcessorName {
    static func problem(_ name: String) -> String? {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return "processor name '\(name)' must start with a letter or '_'"
        }
        guard name.unicodeScalars.allSatisfy({ $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }) else {
            return "processor name '\(name)' may hold only letters, digits and '_'"
        }
        guard name.utf8.count <= 48 else { return "processor name '\(name)' is longer than 48 characters" }
        return nil
    }
}
