import SteleSecurity

/// Kafka's security protocols (`security.protocol`, the scheme of a `listeners` entry).
public enum SecurityProtocol: String, Sendable, CaseIterable {
    case plaintext = "PLAINTEXT"
    case ssl = "SSL"
    case saslPlaintext = "SASL_PLAINTEXT"
    case saslSSL = "SASL_SSL"

    public var usesTLS: Bool { self == .ssl || self == .saslSSL }
    public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
}

/// One `listeners` entry in Kafka's syntax: `SASL_SSL://0.0.0.0:9093`, `PLAINTEXT://[::1]:9092`,
/// `SSL://:9094` (no host: every interface, as Kafka reads it).
public struct KafkaListener: Sendable, Equatable, CustomStringConvertible {
    public var securityProtocol: SecurityProtocol
    public var host: String
    public var port: Int

    public init(securityProtocol: SecurityProtocol, host: String, port: Int) {
        self.securityProtocol = securityProtocol
        self.host = host
        self.port = port
    }

    public var description: String {
        "\(securityProtocol.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// Whether the address is reachable from this machine only.
    public var isLoopback: Bool { Self.isLoopback(host) }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Parses a comma-separated list, naming the first entry that is wrong and why.
    public static func parseList(_ text: String) -> Result<[KafkaListener], SecurityConfigurationError> {
        var listeners: [KafkaListener] = []
        for entry in text.split(separator: ",").map({ String($0).trimmingSpaces() }) where !entry.isEmpty {
            switch parse(entry) {
            case let .success(listener):
                if listeners.contains(where: { $0.port == listener.port && $0.port != 0 }) {
                    return .failure(.init("listener \(entry): port \(listener.port) is named twice"))
                }
                listeners.append(listener)
            case let .failure(error): return .failure(error)
            }
        }
        guard !listeners.isEmpty else { return .failure(.init("no listener named")) }
        return .success(listeners)
    }

    public static func parse(_ entry: String) -> Result<KafkaListener, SecurityConfigurationError> {
        let known = SecurityProtocol.allCases.map(\.rawValue).joined(separator: ", ")
        guard let separator = entry.range(of: "://") else {
            return .failure(.init("listener '\(entry)' is not PROTOCOL://HOST:PORT (protocols: \(known))"))
        }
        let name = entry[..<separator.lowerBound].uppercased()
        guard let securityProtocol = SecurityProtocol(rawValue: name) else {
            return .failure(.init("listener '\(entry)': unknown security protocol '\(name)' (known: \(known))"))
        }
        let address = entry[separator.upperBound...]
        let host: Substring
        let portText: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]"), address[address.index(after: close)...].hasPrefix(":") else {
                return .failure(.init("listener '\(entry)': an IPv6 address is written [ADDRESS]:PORT"))
            }
            host = address[address.index(after: address.startIndex)..<close]
            portText = address[address.index(close, offsetBy: 2)...]
        } else {
            guard let colon = address.lastIndex(of: ":") else { return .failure(.init("listener '\(entry)' has no port")) }
            host = address[..<colon]
            portText = address[address.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            return .failure(.init("listener '\(entry)': port must be 0–65535, not '\(portText)'"))
        }
        return .success(KafkaListener(securityProtocol: securityProtocol, host: host.isEmpty ? "0.0.0.0" : String(host), port: port))
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
