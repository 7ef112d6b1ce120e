/// The attributes of a recorded event, by one name everywhere: a view's statements bind them as
/// `:name`, a processor's SQL reads them as columns.
public enum EventAttribute: String, Sendable, CaseIterable {
    /// `category/id`.
    case stream
    /// The stream's id (the record key): usually the row key.
    case streamId = "stream_id"
    case category
    case version
    /// The event type.
    case type
    case schemaVersion = "schema_version"
    case eventId = "event_id"
    /// Append time, ISO 8601 UTC with milliseconds.
    case appendedAt = "appended_at"
    /// Append time in milliseconds since 1970.
    case appendedAtMs = "appended_at_ms"
    /// When it happened (the event's `occurred-at`, else its append time), ISO 8601.
    case occurredAt = "occurred_at"
    case occurredAtMs = "occurred_at_ms"
    case partition
    case offset
    /// The id of the transaction that wrote the event where the store orders by it (PostgreSQL);
    /// 0 in the embedded log.
    case transactionId = "transaction_id"
    /// The event's position in its category: `partition:offset`, or
    /// `partition:transaction/offset` where the store orders by transaction (PostgreSQL).
    case position
    case correlationId = "correlation_id"
    case causationId = "causation_id"
    /// The whole payload as JSON text.
    case data
}
