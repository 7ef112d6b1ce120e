import Foundation

/// The server side of one SCRAM authentication (RFC 5802 §5), as Kafka runs it: two rounds,
/// no channel binding. Free of I/O: it takes the client's messages and returns the server's.
///
///     client-first   n,,n=alice,r=CNONCE
///     server-first   r=CNONCE SNONCE,s=SALT,i=4096
///     client-final   c=biws,r=CNONCE SNONCE,p=PROOF
///     server-final   v=SIGNATURE
public struct ScramServerExchange: Sendable {
    public enum Step: Sendable, Equatable {
        /// Send these bytes and wait for the client's next message.
        case challenge([UInt8])
        /// Authenticated as `user`; send these bytes (the server's signature) as the last.
        case success(user: String, final: [UInt8])
        /// Refused. `reason` is for the server's log; the client is told only that it failed.
        case failure(reason: String)
    }

    enum State: Sendable {
        case awaitingClientFirst
        case awaitingClientFinal(user: String, credential: ScramCredential, nonce: String, gs2Header: String, authMessagePrefix: String)
        case done
    }

    public let mechanism: ScramMechanism
    private var state = State.awaitingClientFirst
    private let serverNonce: String

    /// - Parameter serverNonce: the server's part of the nonce; random, printable, no comma
    ///   (``randomNonce()``), passed in so tests can be deterministic.
    public init(mechanism: ScramMechanism, serverNonce: String = ScramServerExchange.randomNonce()) {
        precondition(!serverNonce.isEmpty && !serverNonce.contains(","), "a SCRAM nonce is printable and has no comma")
        self.mechanism = mechanism
        self.serverNonce = serverNonce
    }

    /// 32 letters and digits (190 bits), as Kafka's `ScramFormatter.secureRandomString` makes
    /// them: no `=`, `+` or `/`, which some clients' attribute parsers trip over.
    public static func randomNonce() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// Consumes the client's next message. `credential` looks a user's credential up (nil:
    /// unknown user, refused with the same answer as a wrong password).
    public mutating func receive(_ message: [UInt8], credential: (String) -> ScramCredential?) -> Step {
        switch state {
        case .awaitingClientFirst:
            return clientFirst(message, credential: credential)
        case let .awaitingClientFinal(user, stored, nonce, gs2Header, prefix):
            return clientFinal(message, user: user, credential: stored, nonce: nonce, gs2Header: gs2Header, authMessagePrefix: prefix)
        case .done:
            return .failure(reason: "a SCRAM message after the exchange ended")
        }
    }

    private mutating func fail(_ reason: String) -> Step {
        state = .done
        return .failure(reason: reason)
    }

    private mutating func clientFirst(_ message: [UInt8], credential lookup: (String) -> ScramCredential?) -> Step {
        guard let text = String(validating: message, as: UTF8.self) else { return fail("client-first message is not UTF-8") }
        // gs2-header: channel-binding flag, optional authzid, then the bare message.
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return fail("malformed client-first message") }
        switch parts[0] {
        case "n", "y": break
        default: return fail("channel binding is not supported (gs2 flag '\(parts[0])')")
        }
        let bare = String(parts[2])
        let attributes = Self.attributes(bare)
        guard let encodedUser = attributes.first, encodedUser.key == "n", let user = Self.decodeName(encodedUser.value) else {
            return fail("client-first message names no user")
        }
        guard attributes.count >= 2, attributes[1].key == "r", let clientNonce = Optional(attributes[1].value), !clientNonce.isEmpty else {
            return fail("client-first message has no nonce")
        }
        // Extensions: Kafka's only one is delegation-token authentication, which Stele has not.
        for extra in attributes.dropFirst(2) {
            if extra.key == "tokenauth" && extra.value.lowercased() == "true" { return fail("delegation tokens are not supported") }
            if extra.key == "m" { return fail("mandatory SCRAM extension not supported") }
        }
        if parts[1].hasPrefix("a=") {
            // An authorization identity other than the user's own is refused (as Kafka does).
            guard Self.decodeName(String(parts[1].dropFirst(2))) == user else { return fail("authorization id differs from the user \(user)") }
        } else if !parts[1].isEmpty {
            return fail("malformed gs2 header")
        }
        guard let stored = lookup(user) else { return fail("unknown user \(user)") }
        guard (ScramMechanism.minIterations...ScramMechanism.maxIterations).contains(stored.iterations) else {
            return fail("the stored credential of \(user) has \(stored.iterations) iterations")
        }
        let nonce = clientNonce + serverNonce
        let serverFirst = "r=\(nonce),s=\(Data(stored.salt).base64EncodedString()),i=\(stored.iterations)"
        state = .awaitingClientFinal(user: user, credential: stored, nonce: nonce, gs2Header: "\(parts[0]),\(parts[1]),",
                                     authMessagePrefix: bare + "," + serverFirst)
        return .challenge(Array(serverFirst.utf8))
    }

    private mutating func clientFinal(_ message: [UInt8], user: String, credential: ScramCredential, nonce: String,
                                      gs2Header: String, authMessagePrefix: String) -> Step {
        guard let text = String(validating: message, as: UTF8.self) else { return fail("client-final message is not UTF-8") }
        let attributes = Self.attributes(text)
        guard attributes.count >= 3, attributes[0].key == "c", attributes[1].key == "r", let proofAttribute = attributes.last, proofAttribute.key == "p" else {
            return fail("malformed client-final message")
        }
        guard let binding = Data(base64Encoded: attributes[0].value), binding == Data(gs2Header.utf8) else {
            return fail("channel binding data differs from the gs2 header")
        }
        // Kafka accepts any nonce that ends with the server's (librdkafka before 2.2 sends its
        // own nonce, then the combined one); the proof covers the message as sent either way.
        guard attributes[1].value.hasSuffix(nonce) else { return fail("wrong nonce in client-final message") }
        guard let proof = Data(base64Encoded: proofAttribute.value).map(Array.init) else { return fail("proof is not base64") }
        // client-final-without-proof: everything before ",p=".
        guard let proofStart = text.range(of: ",p=", options: .backwards) else { return fail("malformed client-final message") }
        let authMessage = Array((authMessagePrefix + "," + text[..<proofStart.lowerBound]).utf8)
        let clientSignature = mechanism.hmac(key: credential.storedKey, authMessage)
        guard proof.count == clientSignature.count else { return fail("proof of the wrong length") }
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard constantTimeEqual(mechanism.hash(clientKey), credential.storedKey) else { return fail("invalid proof for user \(user)") }
        state = .done
        let signature = mechanism.hmac(key: credential.serverKey, authMessage)
        return .success(user: user, final: Array("v=\(Data(signature).base64EncodedString())".utf8))
    }

    /// `k=v` attributes separated by commas, in order.
    static func attributes(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: ",", omittingEmptySubsequences: false).compactMap { part in
            guard let equals = part.firstIndex(of: "=") else { return nil }
            return (key: String(part[..<equals]), value: String(part[equals...].dropFirst()))
        }
    }

    /// RFC 5802 saslname: `=2C` is a comma, `=3D` an equals sign; any other `=` is malformed.
    static func decodeName(_ encoded: String) -> String? {
        var result = ""
        var index = encoded.startIndex
        while index < encoded.endIndex {
            if encoded[index] == "=" {
                let code = encoded[index...].prefix(3)
                switch code {
                case "=2C": result.append(",")
                case "=3D": result.append("=")
                default: return nil
                }
                index = encoded.index(index, offsetBy: 3)
            } else {
                result.append(encoded[index])
                index = encoded.index(after: index)
            }
        }
        return result.isEmpty ? nil : result
    }
}
