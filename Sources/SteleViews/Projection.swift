import SteleStore

/// A view: a chronological reduce of one or more categories into tables.
///
/// A projection does not touch the database itself: for each event it returns the statements
/// that fold the event into its tables (an upsert is a fold). The runtime runs them, with the
/// new checkpoint, in one transaction of the view's store — so a crash never applies an event
/// twice or skips one, whatever the store (SQLite or PostgreSQL).
///
/// Declare one in Swift by conforming to this protocol, or in SQL with a ``ViewDefinition``.
public protocol Projection: Sendable {
    /// The view's name: its file (SQLite) or schema (PostgreSQL), and its checkpoint's key.
    var name: String { get }
    /// The categories it folds, each in its own order (per partition).
    var categories: [String] { get }
    /// The statements that create its tables: run once, in the transaction that first opens
    /// the view (and again in each rebuild's new tables).
    var schema: [SQLStatement] { get }
    /// The statements that fold `event` into the tables; none to ignore it. Parameters are
    /// `:name`; for statements that run on SQLite and PostgreSQL alike, qualify the existing
    /// row's columns in an upsert (`SET total = totals.total + :amount`).
    func statements(for event: RecordedEvent) throws -> [SQLStatement]

    /// Names this version of the projection: tables built by a projection with another
    /// fingerprint are rebuilt rather than folded into. Empty (the default) never asks for one.
    var fingerprint: String { get }
    /// What to do with an event that cannot be applied (default: stop).
    var poisonPolicy: PoisonPolicy { get }
    /// Statements prepared (not run) when the view opens, so a mistake in one is reported
    /// before the first event rather than at it. Parameter values are ignored.
    var checks: [SQLStatement] { get }
}

extension Projection {
    public var fingerprint: String { "" }
    public var poisonPolicy: PoisonPolicy { .stop }
    public var checks: [SQLStatement] { [] }
}
