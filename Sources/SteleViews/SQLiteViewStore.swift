import Foundation
import GRDB
import SteleStore

/// Views in SQLite through GRDB: one database file per view, in WAL mode, so readers see the
/// last committed batch while the projection writes the next.
public final class SQLiteViewStore: ViewStore {
    private let pool: DatabasePool
    public let path: String

    /// Opens (creating) the view database at `path`.
    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        do { pool = try DatabasePool(path: path, configuration: configuration) } catch {
            throw ViewError.store("cannot open \(path): \(error)")
        }
    }

    public func open(_ projection: any Projection) async throws -> [String: CategoryPosition] {
        try await write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS stele_checkpoints (
                    projection TEXT NOT NULL, category TEXT NOT NULL, position TEXT NOT NULL,
                    PRIMARY KEY (projection, category))
                """)
            for statement in projection.schema { try Self.execute(statement, in: db) }
            var checkpoints: [String: CategoryPosition] = [:]
            for category in projection.categories {
                let text = try String.fetchOne(db, sql: "SELECT position FROM stele_checkpoints WHERE projection = ? AND category = ?",
                                               arguments: [projection.name, category])
                if let text {
                    guard let position = CategoryPosition(text) else { throw ViewError.store("checkpoint '\(text)' of \(projection.name)/\(category) does not parse") }
                    checkpoints[category] = position
                } else {
                    checkpoints[category] = .start
                }
            }
            return checkpoints
        }
    }

    public func apply(_ statements: [SQLStatement], checkpoints: [String: CategoryPosition], of projection: String) async throws {
        try await write { db in
            for statement in statements { try Self.execute(statement, in: db) }
            for (category, position) in checkpoints {
                try db.execute(sql: """
                    INSERT INTO stele_checkpoints (projection, category, position) VALUES (?, ?, ?)
                    ON CONFLICT (projection, category) DO UPDATE SET position = excluded.position
                    """, arguments: [projection, category, position.description])
            }
        }
    }

    public func query(_ statement: SQLStatement) async throws -> [[String: SQLValue]] {
        do {
            return try await pool.read { db in
                let cursor = try Row.fetchCursor(db, sql: statement.sql, arguments: Self.arguments(statement))
                var rows: [[String: SQLValue]] = []
                while let row = try cursor.next() {
                    var values: [String: SQLValue] = [:]
                    for (column, value) in row { values[column] = Self.value(value) }
                    rows.append(values)
                }
                return rows
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_READONLY {
            throw ViewError.readOnly(error.message ?? "\(error)")
        } catch let error as DatabaseError {
            throw ViewError.store(error.description)
        }
    }

    public func close() async throws { try pool.close() }

    private func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as ViewError { throw error } catch {
            throw ViewError.store("\(error)")
        }
    }

    static func execute(_ statement: SQLStatement, in db: Database) throws {
        try db.execute(sql: statement.sql, arguments: arguments(statement))
    }

    static func arguments(_ statement: SQLStatement) -> StatementArguments {
        var values: [String: (any DatabaseValueConvertible)?] = [:]
        for (name, value) in statement.parameters {
            values[name] = switch value {
            case .null: nil
            case let .integer(number): number
            case let .real(number): number
            case let .text(text): text
            case let .blob(bytes): Data(bytes)
            }
        }
        return StatementArguments(values)
    }

    static func value(_ value: DatabaseValue) -> SQLValue {
        switch value.storage {
        case .null: .null
        case let .int64(number): .integer(number)
        case let .double(number): .real(number)
        case let .string(text): .text(text)
        case let .blob(data): .blob(Array(data))
        }
    }
}
