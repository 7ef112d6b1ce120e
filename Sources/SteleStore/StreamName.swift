import SteleCore

/// Names one stream: an entity's events (`account-123`) in its category (`accounts`).
///
/// The category is a topic; the stream id is the key of the stream's records. A stream lives in
/// one partition of its category, chosen by Kafka's default (murmur2) partitioner.
public struct StreamName: Hashable, Sendable, Codable, CustomStringConvertible {
    public let category: String
    public let id: String

    /// Stream ids are record keys; a bound keeps one id from bloating every index entry.
    public static let maxIdBytes = 1024

    public init(category: String, id: String) {
        self.category = category
        self.id = id
    }

    /// `category/id`.
    public var description: String { "\(category)/\(id)" }

    /// Why this stream id cannot be used, or `nil`.
    public var problem: String? {
        if let problem = CategoryName.validate(category) { return problem }
        if id.isEmpty { return "stream id is empty" }
        if id.utf8.count > Self.maxIdBytes { return "stream id is longer than \(Self.maxIdBytes) bytes" }
        return nil
    }
}

/// Categories are topics, so their names follow Kafka's topic-name rules; names starting with
/// `__` are Stele's internal topics.
package enum CategoryName {
    package static func validate(_ name: String) -> String? {
        if name.hasPrefix("__") { return "category names starting with '__' are reserved for Stele's internal topics" }
        return TopicName.validate(name).map { "category: \($0)" }
    }
}

/// The name ``StreamName`` had before the vocabulary was made one (a stream's *id* is the part
/// after the category, as in `stream_id` columns and the `:stream_id` view binding).
@available(*, deprecated, renamed: "StreamName")
public typealias StreamID = StreamName
