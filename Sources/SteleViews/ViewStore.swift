import Foundation
import SteleStore

/// Where a view's tables and checkpoints live: one SQLite file, or one PostgreSQL schema.
///
/// Besides the projection's own tables a store keeps three of Stele's, written in the same
/// transactions: `stele_checkpoints` (where each category was read to), `stele_views` (the
/// fingerprint of the projection that built the tables) and `stele_parked` (events set aside).
public protocol ViewStore: Sendable {
    /// Creates the projection's tables the first time (running its schema and checking its
    /// statements); returns the stored checkpoints, the parked events, and whether the tables
    /// were built by a projection with another fingerprint.
    func open(_ projection: any Projection) async throws -> ViewOpening

    /// Runs the batch's statements, parks and releases its events and stores its checkpoints,
    /// in one transaction: all of it or none.
    func apply(_ batch: ViewBatch, of projection: String) async throws

    /// A read-only query (a `SELECT`) with named parameters; writes are refused and a query
    /// running longer than the store's time limit is cancelled.
    func query(_ statement: SQLStatement) async throws -> [[String: SQLValue]]

    /// The column of `table`'s single-column primary key; throws when the table does not exist
    /// or has no such key.
    func keyColumn(of table: String) async throws -> String

    /// The row of `table` whose primary key is `key`, or `nil`.
    func row(in table: String, key: SQLValue) async throws -> [String: SQLValue]?

    func close() async throws
}

extension ViewStore {
    /// The row of `table` whose primary key is `key`, or `nil`.
    public func row(in table: String, key: SQLValue) async throws -> [String: SQLValue]? {
        let column = try await keyColumn(of: table)
        return try await query(SQLStatement("SELECT * FROM \(quoted(table)) WHERE \(quoted(column)) = :key", ["key": key])).first
    }

    func quoted(_ identifier: String) -> String { "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

/// What a view store holds for a projection when it opens.
public struct ViewOpening: Sendable, Equatable {
    /// Where each category was read to (`.start` for a new view).
    public var checkpoints: [String: CategoryCheckpoint]
    /// Events set aside, oldest first.
    public var parked: [ParkedEvent]
    /// The fingerprint of the projection that built the tables, when it differs from the one
    /// opening them: the tables must be rebuilt before this projection folds into them.
    public var builtByOtherFingerprint: String?

    public init(checkpoints: [String: CategoryCheckpoint], parked: [ParkedEvent] = [], builtByOtherFingerprint: String? = nil) {
        self.checkpoints = checkpoints
        self.parked = parked
        self.builtByOtherFingerprint = builtByOtherFingerprint
    }
}

/// One transaction of a view.
public struct ViewBatch: Sendable {
    public var statements: [SQLStatement]
    /// Checkpoints after the batch's events.
    public var checkpoints: [String: CategoryCheckpoint]
    /// Events set aside in this transaction.
    public var parks: [ParkedEvent] = []
    /// Parked events applied in this transaction (their statements are in `statements`).
    public var releases: [ParkedEvent.Key] = []

    public init(statements: [SQLStatement], checkpoints: [String: CategoryCheckpoint], parks: [ParkedEvent] = [], releases: [ParkedEvent.Key] = []) {
        self.statements = statements
        self.checkpoints = checkpoints
        self.parks = parks
        self.releases = releases
    }
}

/// An event a view could not apply and set aside (park mode), with why.
public struct ParkedEvent: Sendable, Equatable, Codable {
    public struct Key: Sendable, Hashable, Codable {
        public var stream: StreamName
        public var version: Int64

        public init(stream: StreamName, version: Int64) {
            self.stream = stream
            self.version = version
        }
    }

    public var key: Key
    public var position: EventPosition
    public var type: String?
    public var error: String
    public var parkedAt: Date

    public init(key: Key, position: EventPosition, type: String?, error: String, parkedAt: Date = Date()) {
        self.key = key
        self.position = position
        self.type = type
        self.error = error
        self.parkedAt = parkedAt
    }
}

/// Why a view operation failed.
public enum ViewError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An event could not be applied: the projection stops there (nothing of its batch is kept).
    case applyFailed(view: String, stream: String, version: Int64, position: String, reason: String)
    /// The projection's schema or one of its statements is wrong (found when the view opens).
    case definition(String)
    case readOnly(String)
    case timedOut(String)
    /// A query's result is over ``QueryLimits``.
    case resultTooLarge(String)
    /// A read named a table the view does not have (or one without a single-column key).
    case noSuchTable(String)
    case store(String)

    public var description: String {
        switch self {
        case let .applyFailed(view, stream, version, position, reason):
            "view \(view) stopped at event \(version) of \(stream) (position \(position)): \(reason)"
        case let .definition(reason): reason
        case let .readOnly(reason): "queries are read-only: \(reason)"
        case let .timedOut(reason): "query cancelled: \(reason)"
        case let .resultTooLarge(reason): "the result is too large: \(reason)"
        case let .noSuchTable(reason): reason
        case let .store(reason): "view store error: \(reason)"
        }
    }
}

/// Where a failing statement came from, for errors: `balances.sql:12: CHECK constraint failed`.
package func describe(_ reason: String, in statement: SQLStatement) -> String {
    if let origin = statement.origin { return "\(origin): \(reason)" }
    return reason
}
