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
        "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "table_to_xml", "cursor_to_xml", "pg_notify",
        "database_to_xml", "database_to_xml_and_xmlschema", "schema_to_xml", "schema_to_xml_and_xmlschema", "ts_stat",
    ]

    /// Words no query may hold anywhere, in a string or a comment included: the names of what
    /// changes the role or runs a query string (`query_to_xml('select set_config(…)')` builds its
    /// call in a string). Unicode escapes (`U&"set\005fconfig"`), which could spell any name,
    /// are refused too.
    static let forbiddenWords = ["set_config", "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "ts_stat",
                                 "dblink", "dblink_exec", "dblink_open", "dblink_send_query"]

    /// The SQL dialect a query is read in: what quotes and brackets mean differs.
    public enum Dialect: Sendable { case sqlite, postgres }

    /// Throws ``ViewError/readOnly(_:)`` naming what is not allowed.
    public static func check(_ sql: String, dialect: Dialect) throws(ViewError) {
        let lowered = Array(sql.lowercased().utf8)
        func isWordByte(_ byte: UInt8) -> Bool { SQLWords.isWordByte(byte) }
        for word in forbiddenWords {
            let needle = Array(word.utf8)
            var index = 0
            while index + needle.count <= lowered.count {
                // First byte, then the rest in place: no copy per position (the fuzzer found
                // a copy per byte and word made long queries slow).
                if lowered[index] == needle[0], lowered[index..<index + needle.count].elementsEqual(needle),
                   index == 0 || !isWordByte(lowered[index - 1]),
                   index + needle.count == lowered.count || !isWordByte(lowered[index + needle.count]) {
                    throw .readOnly("\(word) may not appear in a query")
                }
                index += 1
            }
        }
        // U&'…' and U&"…" at the start of a token.
        for index in lowered.indices.dropLast(2) where lowered[index] == 0x75 && lowered[index + 1] == 0x26
            && (lowered[index + 2] == 0x27 || lowered[index + 2] == 0x22) && (index == 0 || !isWordByte(lowered[index - 1])) {
            throw .readOnly("Unicode escapes (U&) may not appear in a query")
        }
        let words = SQLWords(sql, dialect: dialect)
        guard words.isWellFormed else { throw .readOnly("the query has an unterminated string, identifier or comment") }
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
    /// Rows one result may hold: a page of a table, not the table.
    public static let maxRows = 100_000
    /// Bytes one result may hold in memory before it is serialised.
    public static let maxBytes = 32 << 20
    /// The largest string or blob a SQLite query may build (view tables hold derived values).
    public static let maxValueBytes = 4 << 20

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
/// words too (`"pg_read_file"(…)` is still a call of pg_read_file). Knows both dialects'
/// strings: `'…'` (with `''`), PostgreSQL's `E'…'` (backslash escapes) and dollar quotes
/// (`$$…$$`, `$tag$…$tag$`), and nested `/* */` comments — so no quote can hide a comment
/// start from it, nor a comment hide the rest of a line.
struct SQLWords {
    private(set) var all: [(word: String, isCall: Bool)] = []
    private(set) var statementCount = 0
    /// False when a string, quoted identifier or comment does not end.
    private(set) var isWellFormed = true
    var first: String? { all.first?.word }

    static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5f || byte == 0x24 || byte >= 0x80
    }

    init(_ sql: String, dialect: QueryGuard.Dialect) {
        let text = Array(sql.utf8)
        var index = 0
        var statementHasContent = false
        let postgres = dialect == .postgres
        func isWordByte(_ byte: UInt8) -> Bool { Self.isWordByte(byte) }
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
            case 0x2f where index + 1 < text.count && text[index + 1] == 0x2a: // /* comment */, nested in PostgreSQL
                index += 2
                var depth = 1
                while index + 1 < text.count && depth > 0 {
                    if text[index] == 0x2f && text[index + 1] == 0x2a { depth += 1; index += 2 } else if text[index] == 0x2a && text[index + 1] == 0x2f { depth -= 1; index += 2 } else { index += 1 }
                }
                if depth > 0 { isWellFormed = false; index = text.count }
            case 0x27: // 'string' ('' escapes)
                index = Self.endOfString(text, from: index + 1, backslashEscapes: false)
                if index > text.count { isWellFormed = false }
                statementHasContent = true
            // (A `where` clause guards only the pattern it follows: one per pattern.)
            case 0x65 where postgres && index + 1 < text.count && text[index + 1] == 0x27 && (index == 0 || !isWordByte(text[index - 1])),
                 0x45 where postgres && index + 1 < text.count && text[index + 1] == 0x27 && (index == 0 || !isWordByte(text[index - 1])): // E'…'
                index = Self.endOfString(text, from: index + 2, backslashEscapes: true)
                if index > text.count { isWellFormed = false }
                statementHasContent = true
            case 0x24 where postgres && index + 1 < text.count && (index == 0 || !isWordByte(text[index - 1])) && !(text[index + 1] >= 0x30 && text[index + 1] <= 0x39): // $tag$…$tag$
                var close = index + 1
                while close < text.count && text[close] != 0x24 && isWordByte(text[close]) { close += 1 }
                guard close < text.count, text[close] == 0x24 else { index += 1; continue }
                // The closing tag is a `$`, the same word bytes, a `$`. Each run of word bytes
                // after a `$` is read once and compared only when its length is the tag's, so
                // a body of many `$` costs its length, not its length times the tag's.
                let inner = text[(index + 1)..<close]
                var search = close + 1
                var found = false
                while search < text.count {
                    guard text[search] == 0x24 else { search += 1; continue }
                    var end = search + 1
                    while end < text.count && text[end] != 0x24 && isWordByte(text[end]) { end += 1 }
                    if end < text.count, text[end] == 0x24, end - search - 1 == inner.count, text[(search + 1)..<end].elementsEqual(inner) {
                        found = true
                        search = end + 1
                        break
                    }
                    search = end
                }
                if !found { isWellFormed = false; index = text.count } else { index = search }
                statementHasContent = true
            case 0x22, 0x60, 0x5b where !postgres: // "identifier", `identifier`, [identifier] (SQLite; in PostgreSQL [ ] subscript)
                let close: UInt8 = byte == 0x5b ? 0x5d : byte
                let start = index + 1
                index = start
                while index < text.count && text[index] != close { index += 1 }
                if index >= text.count { isWellFormed = false }
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

    /// The index after a string's closing quote (`''` is a quote inside it; with backslash
    /// escapes, `\'` too); past the end when it does not close.
    static func endOfString(_ text: [UInt8], from start: Int, backslashEscapes: Bool) -> Int {
        var index = start
        while index < text.count {
            if backslashEscapes && text[index] == 0x5c { index += 2; continue }
            if text[index] == 0x27 {
                if index + 1 < text.count && text[index + 1] == 0x27 { index += 2; continue }
                return index + 1
            }
            index += 1
        }
        return text.count + 1
    }
}
