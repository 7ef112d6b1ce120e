import Foundation

/// Decodes stored events into `Family` — usually an enum with one case per event type of an
/// aggregate — and encodes them back, by type name; and turns old schema versions into current
/// ones when they are read (upcasting).
///
/// ```swift
/// var events = EventRegistry<AccountEvent>()
/// events.register(AccountOpened.self, embed: AccountEvent.opened) { if case let .opened(e) = $0 { e } else { nil } }
/// events.upcast(MoneyDepositedV1.self, named: "MoneyDeposited", schemaVersion: 1) { MoneyDeposited(amount: Decimal($0.cents) / 100) }
/// ```
public struct EventRegistry<Family: Sendable>: Sendable {
    private struct Registration: Sendable {
        var schemaVersion: Int
        var decode: @Sendable (Data) throws -> Family
        var encode: @Sendable (Family) throws -> Data?
    }

    private var registrations: [String: Registration] = [:]
    /// Upcasters by (type name, old schema version).
    private var upcasters: [String: [Int: @Sendable (Data) throws -> Family]] = [:]
    /// Encoding order: the first registration whose `extract` accepts a value encodes it.
    private var order: [String] = []

    public init() {}

    /// Registers an event type: `embed` wraps it into the family, `extract` takes it back out
    /// (returning `nil` for other members of the family).
    public mutating func register<E: Event>(_ type: E.Type, embed: @escaping @Sendable (E) -> Family,
                                            extract: @escaping @Sendable (Family) -> E?) {
        precondition(registrations[E.eventType] == nil, "event type \(E.eventType) is registered twice")
        let decoder = JSONDecoder.events, encoder = JSONEncoder.events
        registrations[E.eventType] = Registration(
            schemaVersion: E.schemaVersion,
            decode: { data in embed(try decoder.decode(E.self, from: data)) },
            encode: { family in try extract(family).map { try encoder.encode($0) } })
        order.append(E.eventType)
    }


    /// Reads events stored as `name` with schema version `schemaVersion` — an old shape decoded
    /// as `Old` — by turning them into the current family value.
    public mutating func upcast<Old: Decodable & Sendable>(_ old: Old.Type, named name: String, schemaVersion: Int,
                                                to current: @escaping @Sendable (Old) throws -> Family) {
        let decoder = JSONDecoder.events
        upcasters[name, default: [:]][schemaVersion] = { data in try current(try decoder.decode(Old.self, from: data)) }
    }

    @available(*, deprecated, renamed: "upcast(_:named:schemaVersion:to:)")
    public mutating func upcast<Old: Decodable & Sendable>(_ old: Old.Type, named name: String, version: Int,
                                                to current: @escaping @Sendable (Old) throws -> Family) {
        upcast(old, named: name, schemaVersion: version, to: current)
    }

    /// The family value of a stored event, upcast if it was written with an older schema.
    public func decode(_ recorded: RecordedEvent) throws -> Family {
        guard let type = recorded.type else { throw EventDecodingError.untyped(recorded.stream, recorded.version) }
        let data = Data(recorded.data)
        do {
            if let registration = registrations[type], registration.schemaVersion == recorded.schemaVersion {
                return try registration.decode(data)
            }
            if let upcaster = upcasters[type]?[recorded.schemaVersion] { return try upcaster(data) }
        } catch let error as DecodingError {
            throw EventDecodingError.malformed(type: type, schemaVersion: recorded.schemaVersion, stream: recorded.stream,
                                               version: recorded.version, reason: "\(error)")
        }
        if registrations[type] == nil && upcasters[type] == nil { throw EventDecodingError.unknownType(type, recorded.stream, recorded.version) }
        throw EventDecodingError.noUpcaster(type: type, schemaVersion: recorded.schemaVersion, current: registrations[type]?.schemaVersion)
    }

    public func envelope(_ recorded: RecordedEvent) throws -> EventEnvelope<Family> {
        EventEnvelope(event: try decode(recorded), recorded: recorded)
    }

    /// The event to append for a family value, with a fresh id unless one is given.
    public func encode(_ event: Family, id: UUID = UUID(), metadata: EventMetadata = EventMetadata()) throws -> EventData {
        for name in order {
            let registration = registrations[name]!
            if let data = try registration.encode(event) {
                return EventData(id: id, type: name, schemaVersion: registration.schemaVersion, data: Array(data), metadata: metadata)
            }
        }
        throw EventDecodingError.unregistered("\(event)")
    }

    /// Whether events stored under `type` can be decoded (at some schema version).
    public func knows(_ type: String) -> Bool { registrations[type] != nil || upcasters[type] != nil }
}

extension EventRegistry where Family: Event {
    /// Registers the family itself as the one event type (a `Codable` enum or struct).
    public mutating func registerFamily() {
        register(Family.self, embed: { $0 }, extract: { $0 })
    }
}

public enum EventDecodingError: Error, Equatable, CustomStringConvertible {
    case untyped(StreamName, Int64)
    case unknownType(String, StreamName, Int64)
    case noUpcaster(type: String, schemaVersion: Int, current: Int?)
    case malformed(type: String, schemaVersion: Int, stream: StreamName, version: Int64, reason: String)
    case unregistered(String)

    public var description: String {
        switch self {
        case let .untyped(stream, version): "event \(version) of \(stream) has no stele.type header"
        case let .unknownType(type, stream, version): "event \(version) of \(stream) has type \(type), which is not registered"
        case let .noUpcaster(type, schemaVersion, current):
            "\(type) schema version \(schemaVersion) has no upcaster" + (current.map { " to the current version \($0)" } ?? "")
        case let .malformed(type, schemaVersion, stream, version, reason):
            "event \(version) of \(stream) (\(type) v\(schemaVersion)) does not decode: \(reason)"
        case let .unregistered(value): "no registered event type encodes \(value)"
        }
    }
}

extension JSONEncoder {
    /// Events' JSON: sorted keys (stable bytes for the same event), dates as ISO 8601. Made
    /// once per registration: a coder is costly to create, cheap to reuse.
    static var events: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    static var events: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
