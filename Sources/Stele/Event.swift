import Foundation

/// A fact that happened, as a plain `Codable` value: a struct per event type, or an enum.
///
/// Its ``eventType`` names it in the log (readers decode by that name, so renaming the Swift type
/// must keep the name) and its ``schemaVersion`` says which shape of the type it is. When the
/// shape changes, bump the version and register an upcaster for the old one: events are kept
/// forever, so every old shape is read again one day.
public protocol Event: Codable, Sendable {
    /// The name stored with the event; by default the Swift type's name.
    static var eventType: String { get }
    /// The current schema version of the type; 1 unless it changed.
    static var schemaVersion: Int { get }
}

extension Event {
    public static var eventType: String { String(describing: Self.self) }
    public static var schemaVersion: Int { 1 }
}

/// A decoded event with what the store recorded about it.
public struct EventEnvelope<Payload: Sendable>: Sendable {
    public var event: Payload
    public var recorded: RecordedEvent

    public init(event: Payload, recorded: RecordedEvent) {
        self.event = event
        self.recorded = recorded
    }

    public var stream: StreamName { recorded.stream }
    public var version: Int64 { recorded.version }
    public var id: UUID? { recorded.id }
    public var appendedAt: Date { recorded.appendedAt }
    public var occurredAt: Date { recorded.occurredAt }
    public var metadata: EventMetadata { recorded.metadata }
}
