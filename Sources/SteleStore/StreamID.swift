/// Names one stream: an entity's events (`account-123`) in its category (`accounts`).
///
/// The category is a topic; the stream id is the key of the stream's records. A stream lives in
/// one partition of its category, chosen by Kafka's default (murmur2) partitioner.
public struct StreamID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let category: String
    public let id: String

    /// Stream ids are record keys; a bound keeps one id from bloating every index entry.
    public static let idBytesMax = 1024

    public init(category: String, id: String) {
        self.category = category
        self.id = id
    }

    /// `category/id`.
    public var description: String { "\(category)/\(id)" }

    var key: [UInt8] { Array(id.utf8) }

    /// Why this stream id cannot be used, or `nil`.
    public var problem: String? {
        if let problem = CategoryName.validate(category) { return problem }
        if id.isEmpty { return "stream id is empty" }
        if id.utf8.count > Self.idBytesMax { return "stream id is longer than \(Self.idBytesMax) bytes" }
        return nil
    }
}

/// Categories are topics, so their names follow Kafka's topic-name rules.
enum CategoryName {
    static func validate(_ name: String) -> String? {
        if name.isEmpty { return "category name is empty" }
        if name.hasPrefix("__") { return "category names starting with '__' are reserved for Stele's internal topics" }
        if name.utf8.count > 249 { return "category name is longer than 249 characters" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
        if !allowed || name == "." || name == ".." { return "category name '\(name)' must be a topic name: characters [a-zA-Z0-9._-]" }
        return nil
    }
}
