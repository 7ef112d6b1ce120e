import Foundation

/// How Stele connects, as a Kafka client, to another cluster (`stele mirror`'s source and
/// target): the security settings of a client properties file, in librdkafka's names
/// (`security.protocol`, `ssl.ca.location`, `sasl.mechanism`, `sasl.username`, …) so that a file
/// written for kcat or confluent-kafka works unchanged.
///
/// Parsing only: no file is read here. Secrets stay in the file, never on a command line
/// (where `ps` shows them) and never in ``description``.
public struct KafkaClientProperties: Sendable, Equatable, CustomStringConvertible {
    /// Kafka's `security.protocol`.
    public enum SecurityProtocol: String, Sendable, CaseIterable {
        case plaintext = "PLAINTEXT", ssl = "SSL", saslPlaintext = "SASL_PLAINTEXT", saslSSL = "SASL_SSL"

        public var usesTLS: Bool { self == .ssl || self == .saslSSL }
        public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
    }

    public var securityProtocol: SecurityProtocol = .plaintext
    /// PEM CA bundle the broker's certificate must chain to (nil: the system's trust store).
    public var caLocation: String?
    /// PEM certificate and key presented to the broker (mutual TLS).
    public var certificateLocation: String?
    public var keyLocation: String?
    /// Whether the broker's certificate must name the host connected to (librdkafka's
    /// `ssl.endpoint.identification.algorithm=https`, its default since 1.9).
    public var verifyHostname = true
    public var saslMechanism: SaslMechanism?
    public var saslUsername: String?
    public var saslPassword: String?
    /// The login module `sasl.jaas.config` named: it must fit `sasl.mechanism` (Java's client
    /// would log in with the module's mechanism).
    var jaasLoginModule: String?

    public init() {}

    /// The keys understood (and Java's `sasl.jaas.config` for the user and password); any other is refused by name (a misspelt key would otherwise
    /// silently connect in clear).
    public static let knownKeys: [String] = [
        "security.protocol", "ssl.ca.location", "ssl.certificate.location", "ssl.key.location",
        "ssl.endpoint.identification.algorithm", "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password",
        "sasl.jaas.config",
    ]

    /// Parses the text of a properties file (`key=value` or `key: value` per line, `#` and `!`
    /// comments, surrounding blanks ignored) and checks that the settings fit together.
    /// (Lines end at any newline: "\r\n" is one Character in Swift, which a split at "\n" would
    /// not cut.)
    public static func parse(_ text: String) -> Result<KafkaClientProperties, SecurityConfigurationError> {
        var properties = KafkaClientProperties()
        var seen: Set<String> = []
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            guard let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                return .failure(.init("line \(index + 1): expected key=value"))
            }
            let key = line[..<separator].trimmingCharacters(in: .whitespacesAndNewlines)
            let value = line[line.index(after: separator)...].trimmingCharacters(in: .whitespacesAndNewlines)
            guard knownKeys.contains(key) else {
                return .failure(.init("line \(index + 1): unknown key '\(key)' (known: \(knownKeys.joined(separator: ", ")))"))
            }
            let canonical = key == "sasl.mechanisms" ? "sasl.mechanism" : key
            guard seen.insert(canonical).inserted else { return .failure(.init("line \(index + 1): \(key) is set twice")) }
            guard !value.isEmpty || key == "ssl.endpoint.identification.algorithm" else {
                return .failure(.init("line \(index + 1): \(key) has no value"))
            }
            switch canonical {
            case "security.protocol":
                guard let parsed = SecurityProtocol(rawValue: value.uppercased()) else {
                    return .failure(.init("line \(index + 1): security.protocol '\(value)' is not one of \(SecurityProtocol.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
                properties.securityProtocol = parsed
            case "ssl.ca.location": properties.caLocation = value
            case "ssl.certificate.location": properties.certificateLocation = value
            case "ssl.key.location": properties.keyLocation = value
            case "ssl.endpoint.identification.algorithm":
                switch value.lowercased() {
                case "https": properties.verifyHostname = true
                case "none", "": properties.verifyHostname = false
                default: return .failure(.init("line \(index + 1): ssl.endpoint.identification.algorithm is https or none, not '\(value)'"))
                }
            case "sasl.mechanism":
                guard let mechanism = SaslMechanism(rawValue: value.uppercased()) else {
                    return .failure(.init("line \(index + 1): sasl.mechanism '\(value)' is not one of \(SaslMechanism.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
                properties.saslMechanism = mechanism
            case "sasl.username":
                guard properties.saslUsername == nil else { return .failure(.init("line \(index + 1): the user is named twice (sasl.username and sasl.jaas.config)")) }
                properties.saslUsername = value
            case "sasl.password":
                guard properties.saslPassword == nil else { return .failure(.init("line \(index + 1): the password is given twice (sasl.password and sasl.jaas.config)")) }
                properties.saslPassword = value
            case "sasl.jaas.config":
                // Java's form: `org.apache.kafka.common.security.scram.ScramLoginModule required username="…" password="…";`
                let jaas: JaasConfig
                switch JaasConfig.parse(value) {
                case .success(let parsed): jaas = parsed
                case .failure(let error): return .failure(.init("line \(index + 1): \(error.reason)"))
                }
                guard let user = jaas.options["username"], let password = jaas.options["password"] else {
                    return .failure(.init("line \(index + 1): sasl.jaas.config needs username=\"…\" and password=\"…\""))
                }
                guard properties.saslUsername == nil, properties.saslPassword == nil else {
                    return .failure(.init("line \(index + 1): sasl.jaas.config and sasl.username/sasl.password both name the login"))
                }
                (properties.saslUsername, properties.saslPassword) = (user, password)
                properties.jaasLoginModule = jaas.loginModule
            default: preconditionFailure("a known key without a case: \(key)")
            }
        }
        return properties.validated()
    }

    /// The settings checked together: what a protocol needs is there, and nothing is set that
    /// the protocol would ignore (a password given for a connection in clear, say).
    func validated() -> Result<KafkaClientProperties, SecurityConfigurationError> {
        let name = securityProtocol.rawValue
        if securityProtocol.usesSASL {
            guard saslMechanism != nil else { return .failure(.init("security.protocol \(name) needs sasl.mechanism")) }
            guard let saslUsername, !saslUsername.isEmpty else { return .failure(.init("security.protocol \(name) needs sasl.username")) }
            guard let saslPassword, !saslPassword.isEmpty else { return .failure(.init("security.protocol \(name) needs sasl.password")) }
            if let module = jaasLoginModule {
                let expected = saslMechanism == .plain ? "PlainLoginModule" : "ScramLoginModule"
                guard module.split(separator: ".").last.map(String.init) == expected else {
                    return .failure(.init("sasl.jaas.config names \(module), but sasl.mechanism \(saslMechanism!.rawValue) logs in with \(expected)"))
                }
            }
            if saslMechanism == .plain && !securityProtocol.usesTLS {
                return .failure(.init("sasl.mechanism PLAIN sends the password itself: use it with SASL_SSL, or a SCRAM mechanism"))
            }
        } else if saslMechanism != nil || saslUsername != nil || saslPassword != nil {
            return .failure(.init("sasl.* settings are used only with security.protocol SASL_PLAINTEXT or SASL_SSL, not \(name)"))
        }
        if !securityProtocol.usesTLS && (caLocation != nil || certificateLocation != nil || keyLocation != nil) {
            return .failure(.init("ssl.* settings are used only with security.protocol SSL or SASL_SSL, not \(name)"))
        }
        if (certificateLocation == nil) != (keyLocation == nil) {
            return .failure(.init("ssl.certificate.location and ssl.key.location go together"))
        }
        return .success(self)
    }

    /// Whether the settings hold a secret (a password or a private key's location): the file
    /// should then be readable by its owner only.
    public var holdsSecret: Bool { saslPassword != nil }

    /// The settings without secrets, for logs.
    public var description: String {
        var parts = ["security.protocol=\(securityProtocol.rawValue)"]
        if let caLocation { parts.append("ssl.ca.location=\(caLocation)") }
        if let certificateLocation { parts.append("ssl.certificate.location=\(certificateLocation)") }
        if securityProtocol.usesTLS && !verifyHostname { parts.append("ssl.endpoint.identification.algorithm=none") }
        if let saslMechanism { parts.append("sasl.mechanism=\(saslMechanism.rawValue)") }
        if let saslUsername { parts.append("sasl.username=\(saslUsername)") }
        return parts.joined(separator: " ")
    }
}
