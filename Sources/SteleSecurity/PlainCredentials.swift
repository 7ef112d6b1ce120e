/// A SASL PLAIN message (RFC 4616): `authzid NUL authcid NUL passwd`.
public struct PlainCredentials: Sendable, Equatable {
    public let user: String
    public let password: String

    /// Parses the message; the authorization id must be empty or the user's own (as Kafka
    /// requires). The reason names no password.
    public static func parse(_ message: [UInt8]) -> Result<PlainCredentials, SecurityConfigurationError> {
        let fields = message.split(separator: 0, omittingEmptySubsequences: false)
        guard fields.count == 3 else { return .failure(.init("a PLAIN message has three NUL-separated fields")) }
        guard let authzid = String(validating: fields[0], as: UTF8.self),
              let user = String(validating: fields[1], as: UTF8.self),
              let password = String(validating: fields[2], as: UTF8.self) else {
            return .failure(.init("a PLAIN message is UTF-8"))
        }
        guard !user.isEmpty else { return .failure(.init("a PLAIN message names no user")) }
        guard !password.isEmpty else { return .failure(.init("a PLAIN message has no password")) }
        guard authzid.isEmpty || authzid == user else { return .failure(.init("authorization id differs from the user \(user)")) }
        return .success(PlainCredentials(user: user, password: password))
    }
}
