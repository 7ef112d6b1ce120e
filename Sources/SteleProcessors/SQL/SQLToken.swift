/// One token of a processor's SQL, with the line it starts on (for errors that name file and line).
struct SQLToken: Equatable, Sendable {
    enum Kind: Equatable, Sendable {
        /// A name or keyword, as written (keywords are matched case-insensitively).
        case word(String)
        /// A `"quoted"` name: never a keyword.
        case quoted(String)
        /// A `'string'` literal, `''` unescaped.
        case string(String)
        case integer(Int64)
        case real(Double)
        /// Punctuation and operators: `( ) , . ; * + - / % = <> != < <= > >= ||`, and a
        /// pattern's `! | ? { }`.
        case symbol(String)
    }

    var kind: Kind
    var line: Int

    /// Whether this is the keyword `word` (any case).
    func isKeyword(_ word: String) -> Bool {
        if case let .word(text) = kind { return text.uppercased() == word }
        return false
    }

    func isSymbol(_ symbol: String) -> Bool { kind == .symbol(symbol) }

    var text: String {
        switch kind {
        case let .word(text), let .symbol(text): text
        case let .quoted(text): "\"\(text)\""
        case let .string(text): "'\(text)'"
        case let .integer(value): String(value)
        case let .real(value): String(value)
        }
    }
}

/// A mistake in a processor's SQL, at a line of its text.
struct SQLSyntaxError: Error, Sendable {
    var line: Int
    var reason: String
}

/// Splits SQL text into tokens; comments (`-- …` to the end of the line, `/* … */`) are skipped.
enum SQLLexer {
    static func tokens(_ text: String, firstLine: Int = 1) throws(SQLSyntaxError) -> [SQLToken] {
        let scalars = Array(text.unicodeScalars)
        var tokens: [SQLToken] = []
        var index = 0
        var line = firstLine
        func peek(_ offset: Int = 0) -> Unicode.Scalar? { index + offset < scalars.count ? scalars[index + offset] : nil }
        while let scalar = peek() {
            if scalar == "\n" { line += 1; index += 1; continue }
            if scalar.properties.isWhitespace { index += 1; continue }
            if scalar == "-", peek(1) == "-" {
                while let next = peek(), next != "\n" { index += 1 }
                continue
            }
            if scalar == "/", peek(1) == "*" {
                let start = line
                index += 2
                while true {
                    guard let next = peek() else { throw SQLSyntaxError(line: start, reason: "a /* comment is not closed") }
                    if next == "*", peek(1) == "/" { index += 2; break }
                    if next == "\n" { line += 1 }
                    index += 1
                }
                continue
            }
            if scalar == "_" || scalar.properties.isAlphabetic {
                var word = ""
                while let next = peek(), next == "_" || next.properties.isAlphabetic || ("0"..."9").contains(next) {
                    word.unicodeScalars.append(next)
                    index += 1
                }
                tokens.append(SQLToken(kind: .word(word), line: line))
                continue
            }
            if ("0"..."9").contains(scalar) {
                var digits = ""
                var isReal = false
                while let next = peek(), ("0"..."9").contains(next) || (next == "." && !isReal && peek(1).map { ("0"..."9").contains($0) } == true) {
                    if next == "." { isReal = true }
                    digits.unicodeScalars.append(next)
                    index += 1
                }
                if isReal {
                    guard let value = Double(digits) else { throw SQLSyntaxError(line: line, reason: "'\(digits)' is not a number") }
                    tokens.append(SQLToken(kind: .real(value), line: line))
                } else {
                    guard let value = Int64(digits) else { throw SQLSyntaxError(line: line, reason: "\(digits) does not fit 64 bits") }
                    tokens.append(SQLToken(kind: .integer(value), line: line))
                }
                continue
            }
            if scalar == "'" || scalar == "\"" {
                let quote = scalar
                let start = line
                var text = ""
                index += 1
                while true {
                    guard let next = peek() else { throw SQLSyntaxError(line: start, reason: "a \(quote) quote is not closed") }
                    index += 1
                    if next == quote {
                        if peek() == quote { text.unicodeScalars.append(quote); index += 1; continue }
                        break
                    }
                    if next == "\n" { line += 1 }
                    text.unicodeScalars.append(next)
                }
                tokens.append(SQLToken(kind: quote == "'" ? .string(text) : .quoted(text), line: start))
                continue
            }
            let pair = peek(1).map { String(scalar) + String($0) }
            if let pair, ["<>", "!=", "<=", ">=", "||"].contains(pair) {
                tokens.append(SQLToken(kind: .symbol(pair), line: line))
                index += 2
                continue
            }
            if "(),.;*+-/%=<>!|?{}".unicodeScalars.contains(scalar) {
                tokens.append(SQLToken(kind: .symbol(String(scalar)), line: line))
                index += 1
                continue
            }
            throw SQLSyntaxError(line: line, reason: "unexpected character '\(scalar)'")
        }
        return tokens
    }
}
