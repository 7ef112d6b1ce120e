/// Who a connection or a request acts as, written as Kafka writes it: `User:alice`, or for a
/// client certificate `User:CN=alice,O=Example` (the certificate's subject, as Kafka's default
/// `ssl.principal.mapping.rules`). `User:ANONYMOUS` is a listener without authentication.
public struct Principal: Sendable, Hashable, Codable, CustomStringConvertible {
    public let type: String
    public let name: String

    public init(type: String = "User", name: String) {
        self.type = type
        self.name = name
    }

    public static func user(_ name: String) -> Principal { Principal(name: name) }

    /// Kafka's principal for a PLAINTEXT or SSL-without-client-certificate connection.
    public static let anonymous = Principal(name: "ANONYMOUS")

    /// Parses `Type:name` (the type is required, as in Kafka's ACL tools).
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let type = String(text[..<colon])
        let name = String(text[text.index(after: colon)...])
        guard !type.isEmpty, !name.isEmpty, type.allSatisfy({ $0.isLetter }) else { return nil }
        self.init(type: type, name: name)
    }

    public var description: String { "\(type):\(name)" }
}
