import Foundation

/// The client's side of SCRAM (RFC 5802), as Kafka clients run it: no channel binding, the user
/// name escaped as `saslname`. Free of I/O: ``firstMessage`` goes out, the server's first
/// message comes back into ``finalMessage(serverFirst:)``, and ``verify(serverFinal:)`` checks
/// that the server knew the credential. Stele uses it to measure handshakes (`stele bench
/// tls`) and to log in to other brokers.
public struct ScramClientExchange: Sendable {
    public let mechanism: ScramMechanism
    let user: String
    let password: String
    let nonce: String
    private var expectedServerSignature: [UInt8]?

    public init(mechanism: ScramMechanism, user: String, password: String, nonce: String? = nil) {
        self.mechanism = mechanism
        self.user = user
        self.password = password
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        self.nonce = nonce ?? String((0..<24).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    var firstBare: String {
        "n=\(user.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")),r=\(nonce)"
    }

    /// `n,,n=user,r=nonce`.
    public var firstMessage: [UInt8] { Array("n,,\(firstBare)".utf8) }

    /// The client-final message for the server's first message; throws when that message is
    /// malformed, does not extend the client's nonce, or asks for too few or too many iterations.
    public mutating func finalMessage(serverFirst bytes: [UInt8]) throws -> [UInt8] {
        let serverFirst = String(decoding: bytes, as: UTF8.self)
        var fields: [Character: String] = [:]
        for part in serverFirst.split(separator: ",") where part.count >= 2 && part.dropFirst().first == "=" {
            fields[part.first!] = String(part.dropFirst(2))
        }
        guard let combined = fields["r"], combined.hasPrefix(nonce), combined.count > nonce.count else {
            throw SecurityConfigurationError("the server's nonce does not extend ours")
        }
        guard let saltText = fields["s"], let salt = Data(base64Encoded: saltText) else { throw SecurityConfigurationError("no salt from the server") }
        guard let iterations = fields["i"].flatMap({ Int($0) }),
              (ScramMechanism.minIterations...ScramMechanism.maxIterations).contains(iterations) else {
            throw SecurityConfigurationError("the server asks for iterations outside \(ScramMechanism.minIterations)...\(ScramMechanism.maxIterations)")
        }
        let salted = mechanism.saltedPassword(password, salt: Array(salt), iterations: iterations)
        let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
        let storedKey = mechanism.hash(clientKey)
        let withoutProof = "c=biws,r=\(combined)"
        let authMessage = Array("\(firstBare),\(serverFirst),\(withoutProof)".utf8)
        let signature = mechanism.hmac(key: storedKey, authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        expectedServerSignature = mechanism.hmac(key: mechanism.hmac(key: salted, Array("Server Key".utf8)), authMessage)
        return Array("\(withoutProof),p=\(Data(proof).base64EncodedString())".utf8)
    }

    /// Whether the server's final message proves it holds the user's credential.
    public func verify(serverFinal bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let expected = expectedServerSignature, text.hasPrefix("v="), let signature = Data(base64Encoded: String(text.dropFirst(2))) else {
            return false
        }
        return constantTimeEqual(Array(signature), expected)
    }
}
