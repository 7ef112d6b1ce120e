import Foundation

/// An event to append: its payload and what the store records about it.
public struct EventData: Sendable, Equatable {
    /// Unique per event; re-appending an event with the same id is recognised and not repeated.
    public var id: UUID
    /// The event's type name (`MoneyDeposited`), by which readers decode it.
    public var type: String
    /// The version of the type's schema the payload was written with (old versions are upcast
    /// when read).
    public var schemaVersion: Int
    /// The payload, JSON by convention.
    public var data: [UInt8]
    public var metadata: EventMetadata

    public init(id: UUID = UUID(), type: String, schemaVersion: Int = 1, data: [UInt8], metadata: EventMetadata = EventMetadata()) {
        self.id = id
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
    }
}

/// What an event says about where it came from and when it happened.
public struct EventMetadata: Sendable, Equatable, Codable {
    /// Shared by every event of one business transaction or conversation.
    public var correlationId: String?
    /// The id of the event or command that caused this one.
    public var causationId: String?
    /// When the fact happened in the world (valid time), if it differs from when it was
    /// recorded (the append time). Together they answer bitemporal questions.
    public var occurredAt: Date?

    public init(correlationId: String? = nil, causationId: String? = nil, occurredAt: Date? = nil) {
        self.correlationId = correlationId
        self.causationId = causationId
        self.occurredAt = occurredAt
    }
}

/// Where an event sits in the log: its category's partition and its offset there.
public struct EventPosition: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var partition: Int32
    public var offset: Int64
    /// For backends whose offsets are not given out in commit order (PostgreSQL's sequences),
    /// the id of the transaction that wrote the event; events are delivered in (transaction,
    /// offset) order. Always 0 in the embedded log, where offsets are commit order.
    public var transaction: Int64

    public init(partition: Int32, offset: Int64, transaction: Int64 = 0) {
        self.partition = partition
        self.offset = offset
        self.transaction = transaction
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.partition, lhs.transaction, lhs.offset) < (rhs.partition, rhs.transaction, rhs.offset)
    }

    /// `partition:offset`, or `partition:transaction/offset` with a transaction.
    public var description: String { transaction == 0 ? "\(partition):\(offset)" : "\(partition):\(transaction)/\(offset)" }

    @available(*, deprecated, renamed: "transaction")
    public var commit: Int64 { transaction }

    @available(*, deprecated, renamed: "init(partition:offset:transaction:)")
    public init(partition: Int32, offset: Int64, commit: Int64) { self.init(partition: partition, offset: offset, transaction: commit) }

    private enum CodingKeys: String, CodingKey {
        case partition, offset, transaction
        /// The key JSON written before the rename holds the transaction under.
        case commit
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        partition = try container.decode(Int32.self, forKey: .partition)
        offset = try container.decode(Int64.self, forKey: .offset)
        transaction = try container.decodeIfPresent(Int64.self, forKey: .transaction)
            ?? container.decodeIfPresent(Int64.self, forKey: .commit) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(partition, forKey: .partition)
        try container.encode(offset, forKey: .offset)
        try container.encode(transaction, forKey: .transaction)
    }
}

/// An event as the store holds it.
public struct RecordedEvent: Sendable, Equatable {
    public var stream: StreamName
    /// The event's number within its stream, from 0.
    public var version: Int64
    public var position: EventPosition
    /// `nil` for a record produced without a `stele.id` header (by a plain Kafka producer).
    public var id: UUID?
    /// `nil` for a record without a `stele.type` header.
    public var type: String?
    public var schemaVersion: Int
    public var data: [UInt8]
    /// When the store appended the event (transaction time).
    public var appendedAt: Date
    public var metadata: EventMetadata

    public init(stream: StreamName, version: Int64, position: EventPosition, id: UUID?, type: String?, schemaVersion: Int,
                data: [UInt8], appendedAt: Date, metadata: EventMetadata) {
        self.stream = stream
        self.version = version
        self.position = position
        self.id = id
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
        self.appendedAt = appendedAt
        self.metadata = metadata
    }

    /// The valid time of the event: when it occurred, or when it was recorded if it did not say.
    public var occurredAt: Date { metadata.occurredAt ?? appendedAt }
}

/// What an append did.
public struct AppendOutcome: Sendable, Equatable {
    /// The version of the first event appended (or found, for a repeated append).
    public var firstVersion: Int64
    /// The stream's version after the append: the version of its last event appended.
    public var lastVersion: Int64
    public var firstPosition: EventPosition
    /// True when every event was already in the stream (same ids, same positions) and nothing
    /// was written.
    public var wasAlreadyAppended: Bool

    public init(firstVersion: Int64, lastVersion: Int64, firstPosition: EventPosition, wasAlreadyAppended: Bool) {
        self.firstVersion = firstVersion
        self.lastVersion = lastVersion
        self.firstPosition = firstPosition
        self.wasAlreadyAppended = wasAlreadyAppended
    }
}

extension Date {
    /// Milliseconds since the Unix epoch, the unit of Kafka timestamps and of Stele's headers.
    /// Saturates at `Int64.min`/`.max`: a Kafka producer chooses its timestamps, and
    /// `Int64.max` milliseconds comes back from a `Date` as 2^63, one past what `Int64` holds.
    package var epochMilliseconds: Int64 {
        let milliseconds = (timeIntervalSince1970 * 1000).rounded()
        guard milliseconds < 9_223_372_036_854_775_807.0 else { return .max }
        guard milliseconds > -9_223_372_036_854_775_808.0 else { return .min }
        return Int64(milliseconds)
    }

    package init(epochMilliseconds: Int64) { self.init(timeIntervalSince1970: Double(epochMilliseconds) / 1000) }
}
