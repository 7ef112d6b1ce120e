import SteleWire

/// Turns PostgreSQL's text output of a column into JSON: integers, finite floats and booleans as
/// JSON's own, everything else (numeric, timestamps, arrays, `json` and `jsonb`, …) as the
/// string PostgreSQL wrote, so nothing is rounded or reinterpreted (a `json` document is kept as
/// its text, as Debezium does: parsing it would round big numbers and drop repeated keys).
public enum PgValueJSON {
    /// Type OIDs from `pg_type.dat`, stable across PostgreSQL versions.
    static let booleans: Set<UInt32> = [16]
    static let integers: Set<UInt32> = [20, 21, 23, 26]
    static let floats: Set<UInt32> = [700, 701]

    public static func json(_ text: String, typeOID: UInt32) -> JSONValue {
        if booleans.contains(typeOID) {
            // pgoutput writes `t`/`f`; `true`/`false` come from casts.
            switch text {
            case "t", "true": return .bool(true)
            case "f", "false": return .bool(false)
            default: return .string(text)
            }
        }
        if integers.contains(typeOID), let value = Int64(text) { return .integer(value) }
        if floats.contains(typeOID), let value = Double(text), value.isFinite { return .number(value) }
        return .string(text)
    }
}

/// A captured table's shape: its columns in pgoutput's order, and its primary key, whose values
/// name each row's stream.
public struct CapturedTableShape: Sendable, Equatable {
    public struct Column: Sendable, Equatable {
        public var name: String
        public var typeOID: UInt32
        public init(name: String, typeOID: UInt32) {
            self.name = name
            self.typeOID = typeOID
        }
    }

    public var columns: [Column]
    /// Names of the primary key's columns, in the key's order.
    public var primaryKey: [String]

    public init(columns: [Column], primaryKey: [String]) {
        self.columns = columns
        self.primaryKey = primaryKey
    }

    /// The row as a JSON object, `nil` columns left out when `values` is a key-only tuple.
    /// Columns pgoutput did not resend (unchanged TOAST) are taken from `fallback` when it has
    /// them, else named in the second result.
    public func image(_ values: [PgColumnValue], keyOnly: Bool = false, fallback: [String: JSONValue]? = nil) -> (row: [String: JSONValue], unchanged: [String]) {
        var row: [String: JSONValue] = [:]
        var unchanged: [String] = []
        for (column, value) in zip(columns, values) {
            switch value {
            case .null:
                if !keyOnly || primaryKey.contains(column.name) { row[column.name] = .null }
            case let .text(text):
                row[column.name] = PgValueJSON.json(text, typeOID: column.typeOID)
            case .unchangedToast:
                if let previous = fallback?[column.name] { row[column.name] = previous } else { unchanged.append(column.name) }
            }
        }
        return (row, unchanged)
    }

    /// The stream id of the row `values` (the primary key's text, a JSON array of them for a
    /// key of several columns); `nil` when a key column is missing or null.
    public func streamId(_ values: [PgColumnValue]) -> String? {
        var parts: [JSONValue] = []
        for name in primaryKey {
            guard let index = columns.firstIndex(where: { $0.name == name }), index < values.count,
                  case let .text(text) = values[index] else { return nil }
            if primaryKey.count == 1 { return text }
            parts.append(PgValueJSON.json(text, typeOID: columns[index].typeOID))
        }
        return JSONValue.array(parts).jsonText
    }
}
