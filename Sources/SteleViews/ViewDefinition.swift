import Foundation
import SteleCore
import SteleStore

/// A view declared in SQL, with no Swift code: the tables, and for each event type the statements
/// that fold one event into them. `stele serve --views DIR` loads every `*.sql` file of `DIR`.
///
/// ```sql
/// -- @view balances
/// -- @categories account
/// -- @on-error park
/// CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL);
///
/// -- @on MoneyDeposited (amount integer)
/// INSERT INTO balances (account, balance) VALUES (:stream_id, :data.amount)
///     ON CONFLICT (account) DO UPDATE SET balance = balances.balance + :data.amount;
/// ```
///
/// Statements before the first `@on` create the tables (they run once, when the view is first
/// built). An `@on TYPE (field type, …)` declares the payload fields its statements use:
/// `:data.NAME` binds a declared field, and the event's attributes bind as `:stream_id`,
/// `:version` and the others in ``EventAttribute``. Types are `integer`, `real`, `text`,
/// `boolean` (bound as 0 or 1), `json` (the value as JSON text) and `any`; a `?` after the type
/// makes a field optional (NULL when absent). `@on TYPE vN` applies to schema version N only.
public struct ViewDefinition: Sendable {
    public var name: String
    /// The file it was read from (for errors), or a label for definitions given as text.
    public var file: String
    public var categories: [String]
    public var poisonPolicy: PoisonPolicy
    var tableStatements: [DefinedStatement]
    var handlers: [HandlerKey: Handler]
    /// A digest of the text: a view built from a different text must be rebuilt.
    public var fingerprint: String

    /// The event types the view folds, in the order they are declared.
    public var eventTypes: [String] { handlerOrder.map { $0.type + ($0.schemaVersion.map { " v\($0)" } ?? "") } }
    var handlerOrder: [HandlerKey]

    struct HandlerKey: Hashable, Sendable {
        var type: String
        var schemaVersion: Int?
    }

    struct Handler: Sendable {
        var fields: [String: Field]
        var statements: [DefinedStatement]
        var line: Int
        /// Whether any statement needs the payload parsed.
        var readsPayload: Bool
    }

    struct Field: Sendable {
        var path: [String]
        var type: FieldType
        var optional: Bool
    }

    /// A statement with its parameters renamed to what every SQL store accepts (`:p1`…) and
    /// where each value comes from.
    struct DefinedStatement: Sendable {
        var sql: String
        var bindings: [(parameter: String, source: Source)]
        var line: Int
    }

    enum Source: Sendable {
        case attribute(EventAttribute)
        case field(name: String, Field)
    }

    /// Reads a definition file; the view's name defaults to the file's name without `.sql`.
    public static func load(file path: String) throws(ViewDefinitionError) -> ViewDefinition {
        let url = URL(fileURLWithPath: path)
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ViewDefinitionError(file: path, line: 0, reason: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, file: path, defaultName: url.deletingPathExtension().lastPathComponent)
    }

    /// Parses a definition from its text; `file` names it in errors.
    public static func parse(_ text: String, file: String, defaultName: String? = nil) throws(ViewDefinitionError) -> ViewDefinition {
        func failure(_ line: Int, _ reason: String) -> ViewDefinitionError { ViewDefinitionError(file: file, line: line, reason: reason) }
        let items: [SQLScript.Item]
        do { items = try SQLScript.parse(text) } catch { throw failure(error.line, error.reason) }

        var name = defaultName
        var nameLine = 0
        var categories: [String] = []
        var policy = PoisonPolicy.stop
        var schema: [DefinedStatement] = []
        var handlers: [HandlerKey: Handler] = [:]
        var order: [HandlerKey] = []
        var current: HandlerKey?
        for item in items {
            switch item {
            case let .directive(directive, argument, line):
                switch directive {
                case "view":
                    guard current == nil, schema.isEmpty else { throw failure(line, "@view must come before the statements") }
                    name = argument
                    nameLine = line
                case "categories":
                    guard current == nil else { throw failure(line, "@categories must come before the first @on") }
                    categories = argument.split(separator: ",").map { String($0).trimmingSpace() }
                    for category in categories {
                        if let problem = CategoryName.validate(category) { throw failure(line, problem) }
                    }
                    guard !categories.isEmpty else { throw failure(line, "@categories names no category") }
                    guard Set(categories).count == categories.count else { throw failure(line, "@categories names a category twice") }
                case "on-error":
                    guard let chosen = PoisonPolicy(rawValue: argument) else { throw failure(line, "@on-error is stop or park, not '\(argument)'") }
                    policy = chosen
                case "on":
                    let (key, fields) = try parseHandler(argument, line: line, file: file)
                    guard handlers[key] == nil else {
                        throw failure(line, "\(key.type)\(key.schemaVersion.map { " v\($0)" } ?? "") already has an @on (line \(handlers[key]!.line))")
                    }
                    handlers[key] = Handler(fields: fields, statements: [], line: line, readsPayload: false)
                    order.append(key)
                    current = key
                default:
                    throw failure(line, "unknown directive @\(directive) (known: @view, @categories, @on-error, @on)")
                }
            case let .statement(sql, line):
                if let key = current {
                    let statement = try compile(sql, line: line, fields: handlers[key]!.fields, eventType: key.type, file: file)
                    handlers[key]!.statements.append(statement)
                    if statement.bindings.contains(where: { if case .attribute(.data) = $0.source { true } else if case .field = $0.source { true } else { false } }) {
                        handlers[key]!.readsPayload = true
                    }
                } else {
                    let statement = try compile(sql, line: line, fields: [:], eventType: nil, file: file)
                    guard statement.bindings.isEmpty else { throw failure(line, "statements that create the tables take no parameters") }
                    schema.append(statement)
                }
            }
        }
        guard let name else { throw failure(1, "the view has no name: add '-- @view NAME'") }
        if let problem = ViewName.problem(name) { throw failure(nameLine, problem) }
        guard !categories.isEmpty else { throw failure(1, "the view reads no category: add '-- @categories NAME[, NAME…]'") }
        guard !schema.isEmpty else { throw failure(1, "the view creates no table: statements before the first @on create its tables") }
        guard !order.isEmpty else { throw failure(1, "the view folds no event: add '-- @on EventType (field type, …)' and its statements") }
        for key in order where handlers[key]!.statements.isEmpty {
            throw failure(handlers[key]!.line, "@on \(key.type) has no statement")
        }
        return ViewDefinition(name: name, file: file, categories: categories, poisonPolicy: policy, tableStatements: schema,
                              handlers: handlers, fingerprint: Fingerprint.of(text), handlerOrder: order)
    }

    private static func parseHandler(_ argument: String, line: Int, file: String) throws(ViewDefinitionError) -> (HandlerKey, [String: Field]) {
        func failure(_ reason: String) -> ViewDefinitionError { ViewDefinitionError(file: file, line: line, reason: reason) }
        var head = argument
        var declarations = ""
        if let open = argument.firstIndex(of: "(") {
            guard argument.hasSuffix(")") else { throw failure("the field list of @on must end with ')'") }
            head = String(argument[..<open]).trimmingSpace()
            declarations = String(argument[argument.index(after: open)..<argument.index(before: argument.endIndex)])
        }
        let words = head.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let type = words.first else { throw failure("@on names no event type") }
        var version: Int?
        if words.count == 2, words[1].hasPrefix("v"), let number = Int(words[1].dropFirst()), number >= 1 {
            version = number
        } else if words.count != 1 {
            throw failure("expected '@on EventType [vN] (field type, …)', got '@on \(argument)'")
        }
        var fields: [String: Field] = [:]
        for declaration in declarations.split(separator: ",") {
            let parts = declaration.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard parts.count == 2 else { throw failure("a field is declared as 'name type', got '\(String(declaration).trimmingSpace())'") }
            var typeName = parts[1].lowercased()
            let optional = typeName.hasSuffix("?")
            if optional { typeName.removeLast() }
            guard let fieldType = FieldType(rawValue: typeName) else {
                throw failure("field \(parts[0]) has unknown type '\(parts[1])' (types: \(FieldType.allCases.map(\.rawValue).joined(separator: ", ")), with ? for optional)")
            }
            let path = parts[0].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard path.allSatisfy({ !$0.isEmpty }) else { throw failure("field name '\(parts[0])' has an empty part") }
            guard fields[parts[0]] == nil else { throw failure("field \(parts[0]) is declared twice") }
            fields[parts[0]] = Field(path: path, type: fieldType, optional: optional)
        }
        return (HandlerKey(type: type, schemaVersion: version), fields)
    }

    private static func compile(_ sql: String, line: Int, fields: [String: Field], eventType: String?,
                                file: String) throws(ViewDefinitionError) -> DefinedStatement {
        var bindings: [(parameter: String, source: Source)] = []
        var byName: [String: String] = [:]
        var problem: String?
        let rewritten: String
        do {
            rewritten = try NamedParameters.rewrite(sql) { name in
                if let existing = byName[name] { return ":" + existing }
                let source: Source
                if name.hasPrefix("data.") {
                    let fieldName = String(name.dropFirst(5))
                    guard let field = fields[fieldName] else {
                        let declared = fields.keys.sorted().joined(separator: ", ")
                        problem = problem ?? "unknown event field :\(name): \(eventType.map { "@on \($0)" } ?? "this statement") declares \(declared.isEmpty ? "no fields" : declared)"
                        return ":x"
                    }
                    source = .field(name: fieldName, field)
                } else if let attribute = EventAttribute(rawValue: name) {
                    source = .attribute(attribute)
                } else {
                    problem = problem ?? "unknown parameter :\(name) (event attributes: \(EventAttribute.allCases.map { ":" + $0.rawValue }.joined(separator: ", ")); payload fields: :data.NAME)"
                    return ":x"
                }
                let parameter = "p\(bindings.count + 1)"
                byName[name] = parameter
                bindings.append((parameter, source))
                return ":" + parameter
            }
        } catch {
            throw ViewDefinitionError(file: file, line: line, reason: "\(error)")
        }
        if let problem { throw ViewDefinitionError(file: file, line: line, reason: problem) }
        if let reserved = ReservedNames.firstUse(in: rewritten) {
            throw ViewDefinitionError(file: file, line: line, reason: "'\(reserved)': names beginning with stele_ are Stele's own (checkpoints, parked events, table format)")
        }
        return DefinedStatement(sql: rewritten, bindings: bindings, line: line)
    }
}

/// Tables and other names beginning with `stele_` hold a view's bookkeeping beside its own
/// tables; a definition may neither create nor touch them (its statements run in the same
/// transaction as the checkpoint they would otherwise corrupt).
enum ReservedNames {
    static let prefix = "stele_"

    /// The first identifier (bare or double-quoted) in `sql` beginning with the reserved
    /// prefix, case-insensitively; string literals and comments are skipped.
    static func firstUse(in sql: String) -> String? {
        let scalars = Array(sql.unicodeScalars)
        var index = 0
        func isWord(_ scalar: Unicode.Scalar) -> Bool { scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) }
        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case "'", "\"", "`":
                // A literal or quoted identifier; a doubled quote inside it is the quote itself.
                var end = index + 1
                var text = ""
                while end < scalars.count {
                    if scalars[end] == scalar {
                        if end + 1 < scalars.count, scalars[end + 1] == scalar { text.unicodeScalars.append(scalar); end += 2; continue }
                        break
                    }
                    text.unicodeScalars.append(scalars[end])
                    end += 1
                }
                // A quoted identifier; or a string literal that is a whole name, which SQLite
                // accepts where a table name goes (`DELETE FROM 'stele_parked'`).
                let lowered = text.lowercased()
                if scalar != "'" ? lowered.hasPrefix(prefix)
                    : lowered.hasPrefix(prefix) && lowered.unicodeScalars.allSatisfy({ isWord($0) }) {
                    return text
                }
                index = end + 1
            case "-" where index + 1 < scalars.count && scalars[index + 1] == "-":
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
            case "/" where index + 1 < scalars.count && scalars[index + 1] == "*":
                index += 2
                while index + 1 < scalars.count, !(scalars[index] == "*" && scalars[index + 1] == "/") { index += 1 }
                index += 2
            case _ where isWord(scalar):
                var word = ""
                while index < scalars.count, isWord(scalars[index]) { word.unicodeScalars.append(scalars[index]); index += 1 }
                if word.lowercased().hasPrefix(prefix) { return word }
            default:
                index += 1
            }
        }
        return nil
    }
}

/// A mistake in a view definition, with the file and line it is on.
public struct ViewDefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var reason: String

    public var description: String { "\(file):\(line): \(reason)" }
}

/// What a view does with an event it cannot apply.
public enum PoisonPolicy: String, Sendable, Equatable {
    /// Stop at the event, its error visible in the view's status, until it is fixed.
    case stop
    /// Set the event aside with its error and go on; later events of its stream wait behind it.
    case park
}

/// The types a definition's payload fields are declared with.
public enum FieldType: String, Sendable, CaseIterable {
    case integer, real, text, boolean, json, any
}

/// View names become file and schema names: a plain identifier, short enough for PostgreSQL.
package enum ViewName {
    package static func problem(_ name: String) -> String? {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return "view name '\(name)' must start with a letter or '_'"
        }
        guard name.unicodeScalars.allSatisfy({ $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }) else {
            return "view name '\(name)' may hold only letters, digits and '_'"
        }
        guard name.utf8.count <= 48 else { return "view name '\(name)' is longer than 48 characters" }
        return nil
    }
}

enum Fingerprint {
    /// Tells one definition text from another (not a security boundary).
    static func of(_ text: String) -> String {
        let hex = String(CRC32C.checksum(Array(text.utf8)), radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}
