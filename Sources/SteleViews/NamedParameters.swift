/// Finds the `:name` parameters of a statement, leaving string literals, quoted identifiers,
/// comments and `::` casts alone, and rewrites each one: into the `$1`, `$2`… PostgreSQL wants,
/// or (for view definition files) from `:data.amount` into a name SQLite accepts.
package enum NamedParameters {
    package struct Translation: Equatable {
        package var sql: String
        /// Parameter names in `$n` order.
        package var names: [String]
    }

    /// The `$n` form: each distinct name gets one number, so a parameter used twice is bound once.
    package static func translate(_ sql: String) throws -> Translation {
        var names: [String] = []
        var numbers: [String: Int] = [:]  // a statement may name 100,000 parameters: no search per name
        let output = try rewrite(sql) { name in
            if let number = numbers[name] { return "$\(number)" }
            names.append(name)
            numbers[name] = names.count
            return "$\(names.count)"
        }
        return Translation(sql: output, names: names)
    }

    /// Replaces every parameter by what `replacement` returns for its name (without the colon).
    /// Names are letters, digits and `_`, with `.` between parts (`data.address.city`).
    package static func rewrite(_ sql: String, _ replacement: (String) throws -> String) throws -> String {
        let characters = Array(sql.unicodeScalars)
        var output = String.UnicodeScalarView()
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
            case "/" where index + 1 < characters.count && characters[index + 1] == "*":
                output.append("/"); output.append("*")
                index += 2
                while index < characters.count {
                    output.append(characters[index])
                    index += 1
                    if characters[index - 1] == "*", index < characters.count, characters[index] == "/" {
                        output.append("/")
                        index += 1
                        break
                    }
                }
            case ":" where index + 1 < characters.count && characters[index + 1] == ":":
                output.append(":"); output.append(":")
                index += 2
            case ":" where index + 1 < characters.count && isNameStart(characters[index + 1]):
                var end = index + 1
                while end < characters.count {
                    if isNameChar(characters[end]) { end += 1; continue }
                    // A dot continues the name only when a name part follows it.
                    if characters[end] == ".", end + 1 < characters.count, isNameChar(characters[end + 1]) { end += 1; continue }
                    break
                }
                let name = String(String.UnicodeScalarView(characters[(index + 1)..<end]))
                output.append(contentsOf: try replacement(name).unicodeScalars)
                index = end
            default:
                output.append(c)
                index += 1
            }
        }
        return String(output)
    }
}
