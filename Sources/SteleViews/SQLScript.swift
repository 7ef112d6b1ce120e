/// A view definition file read as a sequence of statements and `-- @` directives, each with the
/// line it starts on (for errors that name file and line).
///
/// Statements end at `;` outside string literals, quoted identifiers, comments and PostgreSQL
/// dollar-quoted bodies. A directive is a whole-line comment starting `-- @`; one found inside an
/// unfinished statement means a `;` is missing, which is said so.
struct SQLScript {
    enum Item: Equatable {
        case directive(name: String, argument: String, line: Int)
        case statement(sql: String, line: Int)
    }

    struct Failure: Error, Equatable {
        var line: Int
        var reason: String
    }

    static func parse(_ text: String) throws(Failure) -> [Item] {
        let characters = Array(text.unicodeScalars)
        var items: [Item] = []
        var statement = String.UnicodeScalarView()
        var statementLine = 1
        var line = 1
        var index = 0
        // Whether the statement holds more than whitespace, kept as it grows: asking the text
        // each time was quadratic in a statement's length (found fuzzing).
        var statementHasContent = false
        func statementIsEmpty() -> Bool { !statementHasContent }
        func add(_ scalar: Unicode.Scalar) {
            statement.append(scalar)
            if !statementHasContent, !scalar.properties.isWhitespace { statementHasContent = true }
        }
        func add<Scalars: Sequence<Unicode.Scalar>>(contentsOf scalars: Scalars) {
            for scalar in scalars { add(scalar) }
        }
        func finishStatement() {
            let sql = String(statement).trimmingSpace()
            if !sql.isEmpty { items.append(.statement(sql: sql, line: statementLine)) }
            statement = String.UnicodeScalarView()
            statementHasContent = false
        }

        while index < characters.count {
            let c = characters[index]
            if statementIsEmpty(), !c.properties.isWhitespace { statementLine = line }
            switch c {
            case "\n":
                add(c)
                line += 1
                index += 1
                continue
            case "-" where index + 1 < characters.count && characters[index + 1] == "-":
                var end = index
                while end < characters.count, characters[end] != "\n" { end += 1 }
                let comment = String(String.UnicodeScalarView(characters[(index + 2)..<end])).trimmingSpace()
                if comment.hasPrefix("@"), lineIsBlankSoFar(characters, before: index) {
                    guard statementIsEmpty() else {
                        throw Failure(line: line, reason: "directive inside a statement: is a ';' missing after the statement on line \(statementLine)?")
                    }
                    let body = comment.dropFirst()
                    let name = String(body.prefix { !$0.isWhitespace })
                    let argument = String(body.dropFirst(name.count)).trimmingSpace()
                    items.append(.directive(name: name, argument: argument, line: line))
                } else if !statementIsEmpty() {
                    add(contentsOf: characters[index..<end])
                }
                index = end
                continue
            case "/" where index + 1 < characters.count && characters[index + 1] == "*":
                let startLine = line
                var end = index + 2
                while end + 1 < characters.count, !(characters[end] == "*" && characters[end + 1] == "/") {
                    if characters[end] == "\n" { line += 1 }
                    end += 1
                }
                guard end + 1 < characters.count else { throw Failure(line: startLine, reason: "comment not closed with */") }
                add(" ")
                index = end + 2
            case "'", "\"":
                let startLine = line
                add(c)
                index += 1
                var closed = false
                while index < characters.count {
                    let inner = characters[index]
                    add(inner)
                    index += 1
                    if inner == "\n" { line += 1 }
                    if inner == c {
                        if index < characters.count, characters[index] == c { add(c); index += 1; continue }
                        closed = true
                        break
                    }
                }
                guard closed else { throw Failure(line: startLine, reason: "\(c == "'" ? "string" : "quoted name") not closed") }
            case "$":
                // PostgreSQL dollar quoting: $$…$$ or $tag$…$tag$.
                var end = index + 1
                while end < characters.count, characters[end] == "_" || characters[end].properties.isAlphabetic || (end > index + 1 && ("0"..."9").contains(characters[end])) { end += 1 }
                if end < characters.count, characters[end] == "$" {
                    let tag = Array(characters[index...end])
                    let startLine = line
                    add(contentsOf: tag)
                    index = end + 1
                    var closed = false
                    while index < characters.count {
                        if characters[index] == "$", index + tag.count <= characters.count, Array(characters[index..<(index + tag.count)]) == tag {
                            add(contentsOf: tag)
                            index += tag.count
                            closed = true
                            break
                        }
                        if characters[index] == "\n" { line += 1 }
                        add(characters[index])
                        index += 1
                    }
                    guard closed else { throw Failure(line: startLine, reason: "\(String(String.UnicodeScalarView(tag))) body not closed") }
                } else {
                    add(c)
                    index += 1
                }
            case ";":
                finishStatement()
                index += 1
            default:
                add(c)
                index += 1
            }
        }
        if !statementIsEmpty() {
            throw Failure(line: statementLine, reason: "the last statement does not end with ';'")
        }
        return items
    }

    private static func lineIsBlankSoFar(_ characters: [Unicode.Scalar], before index: Int) -> Bool {
        var position = index - 1
        while position >= 0, characters[position] != "\n" {
            if characters[position] != " ", characters[position] != "\t" { return false }
            position -= 1
        }
        return true
    }
}

extension String {
    func trimmingSpace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
