import SteleStore

/// Where a view's tables and checkpoints live.
public protocol ViewStore: Sendable {
    /// Creates the projection's tables and checkpoint rows if they are missing; returns the
    /// stored checkpoints (one per category).
    func open(_ projection: any Projection) async throws -> [String: CategoryPosition]

    /// Runs every statement and stores the checkpoints in one transaction: all of it or none.
    func apply(_ statements: [SQLStatement], checkpoints: [String: CategoryPosition], of projection: String) async throws

    /// A read-only query (a `SELECT`) with named parameters; writes are refused.
    func query(_ statement: SQLStatement) async throws -> [[String: SQLValue]]

    func close() async throws
}

/// Why a view operation failed.
public enum ViewError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An event could not be applied: the projection stops there (nothing of its batch is kept).
    case applyFailed(view: String, stream: String, version: Int64, position: String, reason: String)
    case readOnly(String)
    case store(String)

    public var description: String {
        switch self {
        case let .applyFailed(view, stream, version, position, reason):
            "view \(view) stopped at event \(version) of \(stream) (position \(position)): \(reason)"
        case let .readOnly(reason): "queries are read-only: \(reason)"
        case let .store(reason): "view store error: \(reason)"
        }
    }
}
