/// A value bound to a view statement's named parameter, or read from a view.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var description: String {
        switch self {
        case .null: "NULL"
        case let .integer(value): String(value)
        case let .real(value): String(value)
        case let .text(value): "'\(value.replacingOccurrences(of: "'", with: "''"))'"
        case let .blob(bytes): "x'" + bytes.map { String(format: "%02x", $0) }.joined() + "'"
        }
    }
}

/// One SQL statement with its named parameters (`:amount` in the text, `"amount"` here).
public struct SQLStatement: Sendable, Hashable {
    public var sql: String
    public var parameters: [String: SQLValue]
    /// Where the statement was written (`balances.sql:12`), named when it fails.
    public var origin: String?

    public init(_ sql: String, _ parameters: [String: SQLValue] = [:], origin: String? = nil) {
        self.sql = sql
        self.parameters = parameters
        self.origin = origin
    }
}
