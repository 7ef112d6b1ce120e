import Foundation

/// The SASL mechanisms Stele authenticates Kafka clients with, named as Kafka names them
/// (`sasl.mechanism`, `sasl.enabled.mechanisms`).
public enum SaslMechanism: String, Sendable, CaseIterable, Codable, Comparable {
    /// RFC 4616: the password itself crosses the connection, so only over TLS in production.
    case plain = "PLAIN"
    case scramSHA256 = "SCRAM-SHA-256"
    case scramSHA512 = "SCRAM-SHA-512"

    /// The SCRAM variant, if this is one.
    public var scram: ScramMechanism? {
        switch self {
        case .plain: nil
        case .scramSHA256: .sha256
        case .scramSHA512: .sha512
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Parses a comma-separated list (`PLAIN,SCRAM-SHA-256`), naming the first unknown entry.
    public static func parseList(_ text: String) -> Result<[SaslMechanism], SecurityConfigurationError> {
        var mechanisms: [SaslMechanism] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let mechanism = SaslMechanism(rawValue: part.uppercased()) else {
                return .failure(SecurityConfigurationError("unknown SASL mechanism '\(part)' (known: \(allCases.map(\.rawValue).joined(separator: ", ")))"))
            }
            if !mechanisms.contains(mechanism) { mechanisms.append(mechanism) }
        }
        guard !mechanisms.isEmpty else { return .failure(SecurityConfigurationError("no SASL mechanism named")) }
        return .success(mechanisms)
    }
}

/// A security setting that cannot be used, with the reason.
public struct SecurityConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
