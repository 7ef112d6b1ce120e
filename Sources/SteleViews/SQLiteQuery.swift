import Dispatch
import Foundation
import GRDBSQLite
import Synchronization

/// A view query over HTTP on a connection of its own, opened read-only for the query and closed
/// after it, with an authorizer that lets through nothing but reading: no ATTACH or DETACH, no
/// PRAGMA (the pragma table-valued functions included), no temporary object, no write, no
/// transaction, and no function outside an allowlist of SQLite's pure functions. Strings and
/// blobs a query builds are capped at ``QueryLimits/maxValueBytes`` (`randomblob(1e9)` fails
/// rather than allocating), and the time limit interrupts it between steps. Nothing a request
/// does outlives it. Known limit: one step on large values (a naive `instr` over megabytes)
/// runs to its end before the limit can stop it; the value cap keeps that to seconds.
enum SQLiteQuery {
    /// Functions a query may call: SQLite's core scalar, aggregate, window, date, math and JSON
    /// functions that read only their arguments. Missing on purpose: `load_extension`,
    /// `readfile`/`writefile`/`edit`, `fts3_tokenizer`, `randomblob`/`zeroblob` (memory),
    /// `sqlite_*` introspection, `changes`/`last_insert_rowid`.
    static let allowedFunctions: Set<String> = [
        "abs", "avg", "char", "coalesce", "concat", "concat_ws", "count", "format", "glob", "group_concat", "hex", "ifnull",
        "iif", "instr", "length", "like", "likelihood", "likely", "lower", "ltrim", "max", "min", "nullif", "octet_length",
        "printf", "quote", "replace", "round", "rtrim", "sign", "soundex", "string_agg", "substr", "substring", "sum", "total",
        "trim", "typeof", "unhex", "unicode", "unlikely", "upper", "random",
        "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos", "cosh", "degrees", "exp",
        "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
        "json", "jsonb", "json_array", "json_array_length", "json_extract", "json_insert", "json_object", "json_patch", "json_quote",
        "json_remove", "json_replace", "json_set", "json_type", "json_valid", "json_group_array", "json_group_object",
        "json_each", "json_tree", "json_pretty", "json_error_position", "->", "->>",
    ]

    /// Four queries at a time over all views, each on a lane of its own (blocking SQLite calls
    /// stay off Swift's cooperative pool, and a thousand requests do not make a thousand threads).
    /// A query takes the first free lane, so one slow query delays nobody while another lane is
    /// idle; at most ``maxWaiting`` wait for one.
    private static let pool = LanePool(lanes: 4, maxWaiting: 1_000)

    /// Runs `statement` against the database at `path`; throws ``ViewError``. The time limit
    /// counts from the call: time spent waiting for a lane is part of it.
    static func run(path: String, _ statement: SQLStatement, timeout: Duration) async throws -> [[String: SQLValue]] {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout.components.seconds) * 1_000_000_000
            + UInt64(timeout.components.attoseconds / 1_000_000_000)
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = pool.submit {
                continuation.resume(with: Result { try runBlocking(path: path, statement, timeout: timeout, deadline: deadline) })
            }
            if !accepted {
                continuation.resume(throwing: ViewError.timedOut("\(pool.maxWaiting) queries are already waiting for their turn"))
            }
        }
    }

    /// The authorizer: reading tables and calling allowed functions, nothing else.
    private static let authorizer: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
                                                   UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32 = { _, action, first, second, _, _ in
        switch action {
        case SQLITE_SELECT, SQLITE_RECURSIVE:
            return SQLITE_OK
        case SQLITE_READ:
            // The pragma table-valued functions (pragma_table_info, …) are pragmas by another name.
            guard let table = first.map({ String(cString: $0) }) else { return SQLITE_OK }
            return table.lowercased().hasPrefix("pragma_") ? SQLITE_DENY : SQLITE_OK
        case SQLITE_FUNCTION:
            guard let name = second.map({ String(cString: $0).lowercased() }) else { return SQLITE_DENY }
            return allowedFunctions.contains(name) ? SQLITE_OK : SQLITE_DENY
        default:
            return SQLITE_DENY
        }
    }

    private static func runBlocking(path: String, _ statement: SQLStatement, timeout: Duration, deadline: UInt64) throws -> [[String: SQLValue]] {
        guard DispatchTime.now().uptimeNanoseconds < deadline else { throw ViewError.timedOut("it waited longer than \(timeout) for its turn") }
        var connection: OpaquePointer?
        guard sqlite3_open_v2(path, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let connection else {
            defer { sqlite3_close_v2(connection) }
            throw ViewError.store("cannot open \(path) to query it: \(connection.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory")")
        }
        defer { sqlite3_close_v2(connection) }
        sqlite3_limit(connection, SQLITE_LIMIT_ATTACHED, 0)
        // A value, a row's columns and a LIKE pattern are bounded so no single step (which the
        // time limit cannot interrupt) works on gigabytes.
        sqlite3_limit(connection, SQLITE_LIMIT_LENGTH, Int32(QueryLimits.maxValueBytes))
        sqlite3_limit(connection, SQLITE_LIMIT_COLUMN, 500)
        sqlite3_limit(connection, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10_000)
        let remaining = Int64(deadline) - Int64(DispatchTime.now().uptimeNanoseconds)
        sqlite3_busy_timeout(connection, Int32(clamping: max(1, remaining / 1_000_000)))
        sqlite3_set_authorizer(connection, authorizer, nil)
        let box = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        box.initialize(to: deadline)
        defer { box.deallocate() }
        sqlite3_progress_handler(connection, 1000, { context in
            DispatchTime.now().uptimeNanoseconds > context!.load(as: UInt64.self) ? 1 : 0
        }, box)

        func failure(_ code: Int32) -> ViewError {
            let message = String(cString: sqlite3_errmsg(connection))
            // A denial while preparing comes back as SQLITE_ERROR with this message.
            if message.hasPrefix("not authorized") { return .readOnly("not allowed in a query: \(message)") }
            switch code & 0xff {
            case SQLITE_AUTH: return .readOnly("not allowed in a query: \(message)")
            case SQLITE_INTERRUPT: return .timedOut("it ran longer than \(timeout)")
            case SQLITE_READONLY: return .readOnly(message)
            case SQLITE_TOOBIG: return .resultTooLarge("a value larger than \(QueryLimits.maxValueBytes >> 20) MiB: \(message)")
            default: return .store(message)
            }
        }
        var prepared: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let status = statement.sql.withCString { sqlite3_prepare_v2(connection, $0, -1, &prepared, &tail) }
        guard status == SQLITE_OK, let prepared else { throw failure(status) }
        defer { sqlite3_finalize(prepared) }
        if let tail, tail.pointee != 0, !String(cString: tail).allSatisfy({ $0.isWhitespace || $0 == ";" }) {
            throw ViewError.readOnly("one statement per query")
        }
        guard sqlite3_stmt_readonly(prepared) != 0, sqlite3_column_count(prepared) > 0 else {
            throw ViewError.readOnly("only a query that returns rows may run")
        }
        for index in 0..<sqlite3_bind_parameter_count(prepared) {
            let position = index + 1
            guard let rawName = sqlite3_bind_parameter_name(prepared, position) else {
                throw ViewError.store("positional parameters are not supported; name them (:name)")
            }
            let name = String(String(cString: rawName).dropFirst())
            guard let value = statement.parameters[name] else { throw ViewError.store("parameter :\(name) has no value") }
            let bound: Int32 = switch value {
            case .null: sqlite3_bind_null(prepared, position)
            case let .integer(number): sqlite3_bind_int64(prepared, position, number)
            case let .real(number): sqlite3_bind_double(prepared, position, number)
            case let .text(text): sqlite3_bind_text(prepared, position, text, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            case let .blob(bytes): bytes.withUnsafeBytes { sqlite3_bind_blob(prepared, position, $0.baseAddress, Int32($0.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self)) }
            }
            guard bound == SQLITE_OK else { throw failure(bound) }
        }
        let columns = (0..<sqlite3_column_count(prepared)).map { String(cString: sqlite3_column_name(prepared, $0)) }
        var rows: [[String: SQLValue]] = []
        var bytes = 0
        while true {
            let step = sqlite3_step(prepared)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else { throw failure(step) }
            var row: [String: SQLValue] = [:]
            for (index, column) in columns.enumerated() {
                let at = Int32(index)
                switch sqlite3_column_type(prepared, at) {
                case SQLITE_INTEGER: row[column] = .integer(sqlite3_column_int64(prepared, at))
                case SQLITE_FLOAT: row[column] = .real(sqlite3_column_double(prepared, at))
                case SQLITE_TEXT: row[column] = .text(String(cString: sqlite3_column_text(prepared, at)))
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(prepared, at))
                    let base = sqlite3_column_blob(prepared, at)
                    row[column] = .blob(base.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? [])
                default: row[column] = .null
                }
            }
            try QueryLimits.admit(row: row, rows: rows.count + 1, bytes: &bytes)
            rows.append(row)
        }
        return rows
    }
}
