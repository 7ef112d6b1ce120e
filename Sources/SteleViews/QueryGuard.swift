/// What a read-only query over HTTP may be, checked before any store sees it: one query — a
/// `SELECT`, `WITH … SELECT` or `VALUES` — never a statement that attaches a database, changes
/// a setting, creates a temporary object, copies to a file or program, or calls a function that
/// reaches outside the view. The stores add their own walls (SQLite: read-only connections, no
/// attached databases; PostgreSQL: a read-only transaction under a role that can only read the
/// view's schema); this check makes the refusal clear and early. No I/O.
public enum QueryGuard {
    /// Statements a query may begin with.
    static let leadingKeywords: Set<String> = ["select", "with", "values"]

    /// Functions no query may call, whatever the role: they change the session (a role, a
    /// setting), read or write server files, or reach other databases.
    static let forbiddenFunctions: Set<String> = [
        "set_config", "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_file_write", "pg_logdir_ls",
        "lo_import", "lo_export", "lo_from_bytea", "lo_put", "pg_terminate_backend", "pg_cancel_backend",
        "pg_reload_conf", "pg_rotate_logfile", "pg_promote", "pg_switch_wal", "pg_create_restore_point",
        "dblink", "dblink_exec", "dblink_connect", "dblink_send_query", "pg_advisory_lock", "pg_advisory_xact_lock",
        "query_to_xml", "query_to_xml_and_xmlschema", "table_to_xml", "cursor_to_xml", "pg_notify",
    ]

    /// Throws ``ViewError/readOnly(_:)`` naming what is not allowed.
    public static func check(_ sql: String) throws(ViewError) {
        let words = SQLWords(sql)
        guard let first = words.first else { throw .readOnly("the query is empty") }
        guard leadingKeywords.contains(first) else {
            throw .readOnly("only a query may run (SELECT, WITH … SELECT or VALUES), not \(first.uppercased())")
        }
        for (word, isCall) in words.all where isCall && forbiddenFunctions.contains(word) {
            throw .readOnly("the function \(word) is not allowed in a query")
        }
        if words.statementCount > 1 { throw .readOnly("one statement per query") }
    }
}

/// How much one query may return: results are held in memory and serialised whole, so they
/// are bounded in rows and in bytes (a query over a big table must say LIMIT).
public enum QueryLimits {
    public static let maxRows = 100_000
    public static let maxBytes = 32 << 20

    /// Counts a row against both limits; throws ``ViewError/resultTooLarge(_:)`` past either.
    package static func admit(row values: [String: SQLValue], rows: Int, bytes: inout Int) throws(ViewError) {
        for (column, value) in values {
            bytes += column.utf8.count + 8
            switch value {
            case let .text(text): bytes += text.utf8.count
            case let .blob(blob): bytes += blob.count
            default: break
            }
        }
        if rows > maxRows { throw .resultTooLarge("more than \(maxRows) rows; add LIMIT (and page with OFFSET or a key)") }
        if bytes > maxBytes { throw .resultTooLarge("more than \(maxBytes >> 20) MiB; add LIMIT or select fewer columns") }
    }
}

/// The words of SQL text outside strings and comments, lowercased, with whether each is called
/// (followed by `(`), and how many statements the text holds. Quoted identifiers count as
/// words too (`"pg_read_file"(…)` is still a call of pg_read_file).
struct SQLWords {
    private(set) var all: [(word: String, isCall: Bool)] = []
    private(set) var statementCount = 0
    var first: String? { all.first?.word }

    init(_ sql: String) {
        let text = Array(sql.utf8)
        var index = 0
        var statementHasContent = false
        func isWordByte(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5f || byte == 0x24 || byte >= 0x80
        }
        func nextSignificant(from start: Int) -> UInt8? {
            var position = start
            while position < text.count, text[position] == 0x20 || text[position] == 0x0a || text[position] == 0x09 || text[position] == 0x0d { position += 1 }
            return position < text.count ? text[position] : nil
        }
        func addWord(_ word: String, endingAt end: Int) {
            all.append((word.lowercased(), nextSignificant(from: end) == 0x28))
            statementHasContent = true
        }
        while index < text.count {
            let byte = text[index]
            switch byte {
            case 0x2d where index + 1 < text.count && text[index + 1] == 0x2d: // -- comment
                while index < text.count && text[index] != 0x0a { index += 1 }
            case 0x2f where index + 1 < text.count && text[index + 1] == 0x2a: // /* comment */
                index += 2
                while index + 1 < text.count && !(text[index] == 0x2a && text[index + 1] == 0x2f) { index += 1 }
                index += 2
            case 0x27: // 'string' ('' escapes)
                index += 1
                while index < text.count {
                    if text[index] == 0x27 { if index + 1 < text.count && text[index + 1] == 0x27 { index += 2; continue }; break }
                    index += 1
                }
                index += 1
                statementHasContent = true
            case 0x22, 0x60, 0x5b: // "identifier", `identifier`, [identifier]
                let close: UInt8 = byte == 0x5b ? 0x5d : byte
                let start = index + 1
                index = start
                while index < text.count && text[index] != close { index += 1 }
                addWord(String(decoding: text[start..<min(index, text.count)], as: UTF8.self), endingAt: min(index + 1, text.count))
                index += 1
            case 0x3b: // ;
                if statementHasContent { statementCount += 1 }
                statementHasContent = false
                index += 1
            default:
                if isWordByte(byte) {
                    let start = index
                    while index < text.count && isWordByte(text[index]) { index += 1 }
                    addWord(String(decoding: text[start..<index], as: UTF8.self), endingAt: index)
                } else {
                    if byte != 0x20 && byte != 0x0a && byte != 0x09 && byte != 0x0d { statementHasContent = true }
                    index += 1
                }
            }
        }
        if statementHasContent { statementCount += 1 }
    }
}
