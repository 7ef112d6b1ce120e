import Crypto
import Foundation

/// A bearer token for the HTTP API (`stele tokens create`): `stele_<id>_<secret>`. The id
/// (12 hex digits) names the token in lists and revocations; the secret (32 random bytes,
/// base64url) proves it. The server keeps only the secret's SHA-256: with 256 random bits there
/// is nothing for a slow hash to protect, and checking costs one hash per request.
public struct AccessToken: Sendable, Equatable {
    public let id: String
    public let secret: String

    /// A new token from the system's random number generator.
    public static func generate() -> AccessToken {
        var generator = SystemRandomNumberGenerator()
        let idBytes = (0..<6).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secretBytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secret = Data(secretBytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return AccessToken(id: idBytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(), secret: secret)
    }

    /// What a client sends after `Bearer `.
    public var text: String { "stele_\(id)_\(secret)" }

    /// Parses a token's text; nil when it is not one (the caller answers 401 either way).
    public init?(text: String) {
        guard text.hasPrefix("stele_"), text.utf8.count <= 128 else { return nil }
        let rest = text.dropFirst("stele_".count)
        guard let separator = rest.firstIndex(of: "_") else { return nil }
        let id = String(rest[..<separator])
        let secret = String(rest[rest.index(after: separator)...])
        guard id.count == 12, id.allSatisfy(\.isHexDigit), !secret.isEmpty else { return nil }
        self.init(id: id, secret: secret)
    }

    init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    /// The secret's SHA-256, as stored.
    public var secretHash: [UInt8] { Array(SHA256.hash(data: Array(secret.utf8))) }

    /// Whether `secretHash` is this token's, compared in constant time.
    public func matches(secretHash stored: [UInt8]) -> Bool {
        constantTimeEqual(secretHash, stored)
    }
}
