import SteleViews

/// Turns `:name` parameters (what view statements use, and SQLite understands) into the `$1`,
/// `$2`… PostgreSQL wants, leaving string literals, quoted identifiers, comments and `::` casts
/// alone. Each distinct name gets one number, so a parameter used twice is bound once.
enum NamedParameters {
    struct Translation: Equatable {
        var sql: String
        /// Parameter names in `$n` order.
        var names: [String]
    }

    static func translate(_ sql: String) throws -> Translation {
        let characters = Array(sql.unicodeScalars)
        var output = String.UnicodeScalarView()
        var names: [String] = []
        var index = 0
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c.properties.isAlphabetic && c.isASCII) }
        func isNameChar(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || ("0"..."9").contains(c) }
        while index < characters.count {
            let c = characters[index]
            switch c {
            case "'", "\"":
                // Copy the quoted text through its closing quote (a doubled quote stays inside).
                output.append(c)
                index += 1
                while index < characters.count {
                    output.append(characters[index])
                    if characters[index] == c {
                        if index + 1 < characters.count, characters[index + 1] == c {
                            output.append(c)
                            index += 2
                            continue
                        }
                        break
                    }
                    index += 1
                }
                guard index < characters.count else { throw ViewError.store("unterminated quote in: \(sql)") }
                index += 1
            case "-" where index + 1 < characters.count && characters[index + 1] == "-":
                while index < characters.count, characters[index] != "\n" { output.append(characters[index]); index += 1 }
            case ":" where index + 1 < characters.count && characters[index + 1] == ":":
                output.append(":"); output.append(":")
                index += 2
            case ":" where index + 1 < characters.count && isNameStart(characters[index + 1]):
                var end = index + 1
                while end < characters.count, isNameChar(characters[end]) { end += 1 }
                let name = String(String.UnicodeScalarView(characters[(index + 1)..<end]))
                let number = (names.firstIndex(of: name) ?? { names.append(name); return names.count - 1 }()) + 1
                output.append(contentsOf: "$\(number)".unicodeScalars)
                index = end
            default:
                output.append(c)
                index += 1
            }
        }
        return Translation(sql: String(output), names: names)
    }
}
