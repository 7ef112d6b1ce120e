import Foundation
import Logging
import PostgresNIO
import SteleStore
import SteleViews

/// Views in PostgreSQL: each view's tables and checkpoints in a schema of its own (named after
/// the view), written in one transaction per batch, read in read-only transactions with a time
/// limit. The same projections as SQLite: `:name` parameters are turned into `$n`.
public final class PostgresViewStore: ViewStore {
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let logger = Logger(label: "stele.views.postgres")
    public let schema: String
    /// How long a query may run before PostgreSQL cancels it.
    public let queryTimeout: Duration

    /// Connects to `url` (`postgres://user:password@host:port/database`); the view's tables live
    /// in `schema`.
    public init(url: String, schema: String, queryTimeout: Duration = .seconds(5)) throws {
        if let problem = PostgresURL.checkSchema(schema) { throw ViewError.store(problem.reason) }
        let configuration = try PostgresURL.configuration(url).mapError { ViewError.store($0.reason) }.get()
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.schema = schema
        self.queryTimeout = queryTimeout
        self.runTask = Task { await client.run() }
    }

    public func open(_ projection: any Projection) async throws -> [String: CategoryPosition] {
        try await transaction { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(self.schema)\""), logger: self.logger)
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(self.schema)\""), logger: self.logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS stele_checkpoints (
                    projection text NOT NULL, category text NOT NULL, position text NOT NULL, PRIMARY KEY (projection, category))
                """, logger: self.logger)
            for statement in projection.schema { try await self.execute(statement, on: connection) }
            var checkpoints: [String: CategoryPosition] = [:]
            for category in projection.categories {
                checkpoints[category] = .start
                let rows = try await connection.query(
                    "SELECT position FROM stele_checkpoints WHERE projection = \(projection.name) AND category = \(category)", logger: self.logger)
                for try await text in rows.decode(String.self) {
                    guard let position = CategoryPosition(text) else { throw ViewError.store("checkpoint '\(text)' of \(projection.name)/\(category) does not parse") }
                    checkpoints[category] = position
                }
            }
            return checkpoints
        }
    }

    public func apply(_ statements: [SQLStatement], checkpoints: [String: CategoryPosition], of projection: String) async throws {
        try await transaction { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(self.schema)\""), logger: self.logger)
            for statement in statements { try await self.execute(statement, on: connection) }
            for (category, position) in checkpoints {
                try await connection.query("""
                    INSERT INTO stele_checkpoints (projection, category, position) VALUES (\(projection), \(category), \(position.description))
                    ON CONFLICT (projection, category) DO UPDATE SET position = excluded.position
                    """, logger: self.logger)
            }
        }
    }

    public func query(_ statement: SQLStatement) async throws -> [[String: SQLValue]] {
        do {
            return try await client.withConnection { connection in
                try await connection.query("BEGIN READ ONLY", logger: self.logger)
                do {
                    let milliseconds = Int(self.queryTimeout.components.seconds * 1000 + self.queryTimeout.components.attoseconds / 1_000_000_000_000_000)
                    try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(milliseconds)"), logger: self.logger)
                    try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(self.schema)\""), logger: self.logger)
                    let rows = try await connection.query(try Self.query(statement), logger: self.logger)
                    var result: [[String: SQLValue]] = []
                    for try await row in rows {
                        var values: [String: SQLValue] = [:]
                        for cell in row { values[cell.columnName] = try Self.value(cell) }
                        result.append(values)
                    }
                    try await connection.query("COMMIT", logger: self.logger)
                    return result
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: self.logger)
                    throw error
                }
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "25006" {
            throw ViewError.readOnly(error.serverInfo?[.message] ?? "a write in a read-only query")
        } catch let error as ViewError { throw error } catch {
            throw ViewError.store(String(reflecting: error))
        }
    }

    public func close() async throws { runTask.cancel() }

    /// Drops the view's schema (tests, and rebuilds that replace it).
    public func drop() async throws {
        _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"), logger: logger)
    }

    private func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do { return try await client.withTransaction(logger: logger) { try await body($0) } } catch let error as ViewError { throw error } catch {
            let inner = (error as? PostgresTransactionError)?.closureError ?? error
            if let error = inner as? ViewError { throw error }
            throw ViewError.store(String(reflecting: inner))
        }
    }

    private func execute(_ statement: SQLStatement, on connection: PostgresConnection) async throws {
        try await connection.query(try Self.query(statement), logger: logger)
    }

    static func query(_ statement: SQLStatement) throws -> PostgresQuery {
        let translation = try NamedParameters.translate(statement.sql)
        var bindings = PostgresBindings()
        for name in translation.names {
            guard let value = statement.parameters[name] else { throw ViewError.store("parameter :\(name) has no value in: \(statement.sql)") }
            switch value {
            case .null: bindings.appendNull()
            case let .integer(number): bindings.append(number)
            case let .real(number): bindings.append(number)
            case let .text(text): bindings.append(text)
            case let .blob(bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        return PostgresQuery(unsafeSQL: translation.sql, binds: bindings)
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        if cell.bytes == nil { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        case .numeric: return .text("\(try cell.decode(Decimal.self))")
        default: return .text(try cell.decode(String.self))
        }
    }
}

extension PostgresViewStore {
    /// The `$n` form of a statement with `:name` parameters, and the names in order (exposed
    /// for tests of the translation).
    public static func translateForTesting(_ sql: String) throws -> (sql: String, names: [String]) {
        let translation = try NamedParameters.translate(sql)
        return (translation.sql, translation.names)
    }
}
