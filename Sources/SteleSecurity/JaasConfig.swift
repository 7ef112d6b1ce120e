/// One login module entry of Java's JAAS syntax, as Kafka's `sasl.jaas.config` holds it:
/// `<login module class> <flag> name="value" … ;` — values quoted, with `\"` and `\\` escaped
/// inside (as JAAS's own parser reads them), so a password may hold quotes, spaces and `=`.
struct JaasConfig: Equatable {
    var loginModule: String
    var flag: String
    var options: [String: String]

    /// Parses one entry; `nil` with the reason when it is not of that shape.
    static func parse(_ text: String) -> Result<JaasConfig, SecurityConfigurationError> {
        var characters = Array(text)[...]
        func skipBlanks() { while let first = characters.first, first.isWhitespace { characters.removeFirst() } }
        func word() -> String {
            skipBlanks()
            var word = ""
            while let first = characters.first, !first.isWhitespace, first != "=", first != ";", first != "\"" {
                word.append(first)
                characters.removeFirst()
            }
            return word
        }
        let module = word()
        let flag = word()
        guard !module.isEmpty, ["required", "requisite", "sufficient", "optional"].contains(flag) else {
            return .failure(.init("sasl.jaas.config starts with a login module and a flag (… ScramLoginModule required …)"))
        }
        var options: [String: String] = [:]
        while true {
            skipBlanks()
            if characters.first == ";" {
                characters.removeFirst()
                skipBlanks()
                guard characters.isEmpty else { return .failure(.init("sasl.jaas.config holds one login module: text follows its ';'")) }
                return .success(JaasConfig(loginModule: module, flag: flag, options: options))
            }
            let name = word()
            guard !name.isEmpty else { return .failure(.init("sasl.jaas.config must end with ';'")) }
            skipBlanks()
            guard characters.first == "=" else { return .failure(.init("sasl.jaas.config: \(name) needs =\"…\"")) }
            characters.removeFirst()
            skipBlanks()
            guard characters.first == "\"" else { return .failure(.init("sasl.jaas.config: the value of \(name) must be quoted")) }
            characters.removeFirst()
            var value = ""
            var closed = false
            while let next = characters.popFirst() {
                if next == "\\" {
                    guard let escaped = characters.popFirst() else { break }
                    value.append(escaped)
                } else if next == "\"" {
                    closed = true
                    break
                } else {
                    value.append(next)
                }
            }
            guard closed else { return .failure(.init("sasl.jaas.config: the value of \(name) is not closed")) }
            guard options.updateValue(value, forKey: name) == nil else { return .failure(.init("sasl.jaas.config: \(name) is given twice")) }
        }
    }
}
