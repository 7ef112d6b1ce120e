import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import SteleStore
import Synchronization

/// Views in SQLite through GRDB: one database file per view, in WAL mode, so readers see the
/// last committed batch while the projection writes the next.
public final class SQLiteViewStore: ViewStore {
    private let pool: DatabasePool
    public let path: String
    /// How long a query may run before it is interrupted.
    public let queryTimeout: Duration
    private let removeOnRelease = Mutex(false)
    /// The key lookup per table. A table's key cannot change under a store: a changed
    /// definition is rebuilt into a new one.
    private let keyLookups = Mutex<[String: String]>([:])

    /// Opens (creating) the view database at `path`.
    public init(path: String, queryTimeout: Duration = .seconds(5)) throws {
        self.path = path
        self.queryTimeout = queryTimeout
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // No query may attach another database file (it could read any SQLite file the
        // process can): the projection never needs one either.
        configuration.prepareDatabase { db in
            sqlite3_limit(db.sqliteConnection, SQLITE_LIMIT_ATTACHED, 0)
        }
        do { pool = try DatabasePool(path: path, configuration: configuration) } catch {
            throw ViewError.store("cannot open \(path): \(error)")
        }
    }

    public func open(_ projection: any Projection) async throws -> ViewOpening {
        try await write { db in
            try Self.migrate(db, path: self.path)
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS stele_checkpoints (
                    projection TEXT NOT NULL, category TEXT NOT NULL, checkpoint TEXT NOT NULL,
                    PRIMARY KEY (projection, category));
                CREATE TABLE IF NOT EXISTS stele_views (
                    projection TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, created_at_ms INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS stele_parked (
                    projection TEXT NOT NULL, category TEXT NOT NULL, stream_id TEXT NOT NULL, version INTEGER NOT NULL,
                    partition INTEGER NOT NULL, "offset" INTEGER NOT NULL, transaction_id INTEGER NOT NULL,
                    type TEXT, error TEXT NOT NULL, parked_at_ms INTEGER NOT NULL,
                    PRIMARY KEY (projection, category, stream_id, version));
                CREATE TABLE IF NOT EXISTS stele_view_format (format INTEGER NOT NULL);
                DELETE FROM stele_view_format;
                """)
            try db.execute(sql: "INSERT INTO stele_view_format (format) VALUES (?)", arguments: [ViewTableFormat.current])
            let built = try String.fetchOne(db, sql: "SELECT fingerprint FROM stele_views WHERE projection = ?", arguments: [projection.name])
            if let built, built != projection.fingerprint {
                return ViewOpening(checkpoints: [:], builtByOtherFingerprint: built)
            }
            if built == nil {
                for statement in projection.schema {
                    do { try Self.execute(statement, in: db) } catch { throw ViewError.definition(describe(Self.reason(error), in: statement)) }
                }
                try db.execute(sql: "INSERT INTO stele_views (projection, fingerprint, created_at_ms) VALUES (?, ?, ?)",
                               arguments: [projection.name, projection.fingerprint, Date().epochMilliseconds])
            }
            for statement in projection.checks {
                do { _ = try db.makeStatement(sql: statement.sql) } catch { throw ViewError.definition(describe(Self.reason(error), in: statement)) }
            }
            var checkpoints: [String: CategoryCheckpoint] = [:]
            for category in projection.categories {
                let text = try String.fetchOne(db, sql: "SELECT checkpoint FROM stele_checkpoints WHERE projection = ? AND category = ?",
                                               arguments: [projection.name, category])
                if let text {
                    guard let checkpoint = CategoryCheckpoint(text) else { throw ViewError.store("checkpoint '\(text)' of \(projection.name)/\(category) does not parse") }
                    checkpoints[category] = checkpoint
                } else {
                    checkpoints[category] = .start
                }
            }
            let parked = try Row.fetchAll(db, sql: """
                SELECT category, stream_id, version, partition, "offset", transaction_id, type, error, parked_at_ms
                FROM stele_parked WHERE projection = ? ORDER BY parked_at_ms, partition, "offset"
                """, arguments: [projection.name]).map { row in
                ParkedEvent(key: .init(stream: StreamName(category: row["category"], id: row["stream_id"]), version: row["version"]),
                            position: EventPosition(partition: row["partition"], offset: row["offset"], transaction: row["transaction_id"]),
                            type: row["type"], error: row["error"], parkedAt: Date(epochMilliseconds: row["parked_at_ms"]))
            }
            return ViewOpening(checkpoints: checkpoints, parked: parked)
        }
    }

    public func apply(_ batch: ViewBatch, of projection: String) async throws {
        try await write { db in
            for statement in batch.statements {
                do {
                    let prepared = try db.cachedStatement(sql: statement.sql)
                    try prepared.execute(arguments: Self.arguments(statement))
                } catch {
                    throw ViewError.store(describe(Self.reason(error), in: statement))
                }
            }
            for event in batch.parks {
                try db.execute(sql: """
                    INSERT INTO stele_parked (projection, category, stream_id, version, partition, "offset", transaction_id, type, error, parked_at_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (projection, category, stream_id, version) DO UPDATE SET error = excluded.error
                    """, arguments: [projection, event.key.stream.category, event.key.stream.id, event.key.version,
                                     event.position.partition, event.position.offset, event.position.transaction, event.type, event.error,
                                     event.parkedAt.epochMilliseconds])
            }
            for key in batch.releases {
                try db.execute(sql: "DELETE FROM stele_parked WHERE projection = ? AND category = ? AND stream_id = ? AND version = ?",
                               arguments: [projection, key.stream.category, key.stream.id, key.version])
            }
            for (category, checkpoint) in batch.checkpoints {
                try db.execute(sql: """
                    INSERT INTO stele_checkpoints (projection, category, checkpoint) VALUES (?, ?, ?)
                    ON CONFLICT (projection, category) DO UPDATE SET checkpoint = excluded.checkpoint
                    """, arguments: [projection, category, checkpoint.description])
            }
        }
    }

    /// Brings Stele's own tables of a view file written by an older Stele to the current format,
    /// in the open's transaction (all or nothing); refuses a file from a newer one.
    static func migrate(_ db: Database, path: String) throws {
        let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
        let found: Int? = if tables.contains(ViewTableFormat.table) {
            try Int.fetchOne(db, sql: "SELECT max(format) FROM \(ViewTableFormat.table)") ?? ViewTableFormat.first
        } else {
            tables.contains("stele_checkpoints") ? ViewTableFormat.first : nil
        }
        guard let found else { return }
        if found > ViewTableFormat.current {
            throw ViewError.store("\(path) was written by a newer Stele (view table format \(found); this one knows up to \(ViewTableFormat.current)): nothing was changed")
        }
        if found == ViewTableFormat.first {
            guard sqlite3_libversion_number() >= 3_025_000 else {
                throw ViewError.store("\(path) was written by an older Stele and needs SQLite 3.25 or later to be brought up to date (this is \(String(cString: sqlite3_libversion())))")
            }
            for (table, old, new) in ViewTableFormat.renamesFromFirst where tables.contains(table) {
                let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]).map { $0["name"] as String }
                if columns.contains(old) { try db.execute(sql: ViewTableFormat.rename(table, old, new)) }
            }
        }
    }

    /// A query over HTTP: checked by ``QueryGuard``, then run on a read-only connection of its
    /// own under an authorizer that allows reading only (``SQLiteQuery``).
    public func query(_ statement: SQLStatement) async throws -> [[String: SQLValue]] {
        try QueryGuard.check(statement.sql, dialect: .sqlite)
        return try await SQLiteQuery.run(path: path, statement, timeout: queryTimeout)
    }

    /// Reads by key are most of a read side's load: one trip to a reader, a cached prepared
    /// statement, no time limit to install (a primary-key lookup cannot run long).
    public func row(in table: String, key: SQLValue) async throws -> [String: SQLValue]? {
        let sql: String
        if let known = keyLookups.withLock({ $0[table] }) { sql = known } else {
            sql = "SELECT * FROM \(quoted(table)) WHERE \(quoted(try await keyColumn(of: table))) = ?"
            keyLookups.withLock { $0[table] = sql }
        }
        let argument = StatementArguments([Self.databaseValue(key)])
        do {
            return try await pool.read { db in
                let statement = try db.cachedStatement(sql: sql)
                guard let row = try Row.fetchOne(statement, arguments: argument) else { return nil }
                var values: [String: SQLValue] = [:]
                for (column, value) in row { values[column] = Self.value(value) }
                return values
            }
        } catch let error as DatabaseError {
            throw ViewError.store(Self.reason(error))
        }
    }

    public func keyColumn(of table: String) async throws -> String {
        let columns = try await pool.read { db in
            (try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) ORDER BY cid", arguments: [table]),
             try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) WHERE pk > 0", arguments: [table]))
        }
        guard !columns.0.isEmpty, !table.hasPrefix("stele_") else { throw ViewError.noSuchTable("the view has no table \(table)") }
        guard columns.1.count == 1 else { throw ViewError.noSuchTable("table \(table) has no single-column primary key") }
        return columns.1[0]
    }

    public func close() async throws { try pool.close() }

    /// Deletes the database files when the last reference to this store goes (after the
    /// queries still reading it), for a generation a rebuild replaced.
    func removeFilesWhenReleased() { removeOnRelease.withLock { $0 = true } }

    deinit {
        guard removeOnRelease.withLock({ $0 }) else { return }
        try? pool.close()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    private func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as ViewError { throw error } catch {
            throw ViewError.store(Self.reason(error))
        }
    }

    /// Interrupts statements on `db` that run past `deadline` (SQLite asks every 1,000 steps).
    static func reason(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? error.description }
        return "\(error)"
    }

    static func execute(_ statement: SQLStatement, in db: Database) throws {
        try db.execute(sql: statement.sql, arguments: arguments(statement))
    }

    static func arguments(_ statement: SQLStatement) -> StatementArguments {
        StatementArguments(statement.parameters.mapValues(databaseValue))
    }

    static func databaseValue(_ value: SQLValue) -> (any DatabaseValueConvertible)? {
        switch value {
        case .null: nil
        case let .integer(number): number
        case let .real(number): number
        case let .text(text): text
        case let .blob(bytes): Data(bytes)
        }
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
