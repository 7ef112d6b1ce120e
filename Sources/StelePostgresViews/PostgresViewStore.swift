import Foundation
import Synchronization
import Logging
import PostgresNIO
import StelePostgres
import SteleStore
import SteleViews

/// Views in PostgreSQL: each view's tables and checkpoints in a schema of its own (named after
/// the view), written in one transaction per batch, read in read-only transactions with a time
/// limit. The same projections as SQLite: `:name` parameters are turned into `$n`.
public final class PostgresViewStore: ViewStore {
    private let client: PostgresClient
    /// A pool logged in as the query login (`--views-postgres-query-url`), when there is one:
    /// queries then run under a session that is no superuser and holds only the reader role,
    /// whatever the owner's login may do.
    private let queryLogin: (client: PostgresClient, user: String)?
    /// Set when the store runs its own client; nil when it borrows its location's.
    private let runTask: Task<Void, Never>?
    private let logger = Logger(label: "stele.views.postgres")
    public let schema: String
    /// How long a query may run before PostgreSQL cancels it.
    public let queryTimeout: Duration
    /// Who queries run as: ``readerRole`` once it could be set up with read access to this
    /// schema only, or why not (then queries run as the login only if it is no superuser).
    private let reader = Mutex<ReaderAccess>(.unknown)

    /// The role every view query runs as (`SET LOCAL ROLE`): no login, no rights but USAGE on
    /// the views' schemas and SELECT on their tables — no file or program access, no other
    /// schema (the event store's included). Queries cannot leave it: `SET`, `RESET` and
    /// `set_config` are refused before they reach PostgreSQL (``QueryGuard``).
    public static let readerRole = "stele_view_reader"

    /// The role that owns this view's schema and runs its statements (`stele_owner_<name>`, the
    /// same for the live and the rebuild schema), once it could be set up: it can touch its own
    /// schema only, so a view definition cannot reach the event store or another view. `nil`
    /// when the login may not create roles (the view then runs as the login, with a warning).
    private let owner = Mutex<String?>(nil)

    /// The owner role's name for `schema`: its view's name, the rebuild suffix dropped; a long
    /// name is cut and given a digest, as PostgreSQL would otherwise cut it silently.
    static func ownerRole(of schema: String) -> String {
        let base = schema.hasSuffix("__rebuild") ? String(schema.dropLast("__rebuild".count)) : schema
        // Not `stele_view_`: a view named `reader` would get the readers' role.
        let role = "stele_owner_" + base
        guard role.utf8.count > 63 else { return role }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in base.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(role.prefix(46)) + "_" + String(hash, radix: 16)
    }

    /// Creates the owner role (once per view) and makes the login a member of it, in a
    /// transaction of its own; `nil` when the login may not.
    private func setUpOwner() async -> String? {
        let role = Self.ownerRole(of: schema)
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: """
                    DO $$ BEGIN
                        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(role)') THEN CREATE ROLE "\(role)" NOLOGIN; END IF;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                    END $$
                    """), logger: self.logger)
                try await connection.query(PostgresQuery(unsafeSQL: "GRANT \"\(role)\" TO CURRENT_USER"), logger: self.logger)
            }
            return role
        } catch {
            logger.warning("view statements run as the login, not a role of their own", metadata: ["schema": "\(schema)", "reason": "\(error)"])
            return nil
        }
    }

    enum ReaderAccess: Sendable {
        case unknown
        case granted
        /// The role could not be made or granted; queries run as the login if it is no superuser.
        case unavailable(reason: String, loginIsSuperuser: Bool)
    }

    /// Connects to `url` (`postgres://user:password@host:port/database`); the view's tables live
    /// in `schema`.
    public init(url: String, schema: String, queryTimeout: Duration = .seconds(5)) throws {
        if let problem = PostgresURL.checkViewSchema(schema) { throw ViewError.store(problem.reason) }
        let configuration = try PostgresURL.configuration(url).mapError { ViewError.store($0.reason) }.get()
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.queryLogin = nil
        self.schema = schema
        self.queryTimeout = queryTimeout
        self.runTask = Task { await client.run() }
    }

    /// A store on a client someone else runs (a view's location and its stores share one pool).
    init(client: PostgresClient, queryLogin: (client: PostgresClient, user: String)? = nil, schema: String, queryTimeout: Duration) {
        // The schema's name goes into SQL text (search_path, DDL) quoted but unescaped.
        precondition(!schema.isEmpty && schema.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }, "unchecked view schema \(schema)")
        self.client = client
        self.queryLogin = queryLogin
        self.schema = schema
        self.queryTimeout = queryTimeout
        self.runTask = nil
    }

    public func open(_ projection: any Projection) async throws -> ViewOpening {
        let role = await setUpOwner()
        owner.withLock { $0 = role }
        let opening = try await transaction { connection -> ViewOpening in
            // One opener of a schema at a time: two racing on the migration or on `IF NOT
            // EXISTS` would fail the second.
            try await connection.query("SELECT pg_advisory_xact_lock(7366657, hashtext(\(self.schema)))", logger: self.logger)
            // An event store's schema (under any name) is never a view's: a rebuild would drop it.
            let owned = try await connection.query("SELECT 1 FROM pg_tables WHERE schemaname = \(self.schema) AND tablename = 'stele_events'", logger: self.logger)
            for try await _ in owned {
                throw ViewError.store("schema \(self.schema) holds an event store (stele_events): a view cannot use it")
            }
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(self.schema)\""), logger: self.logger)
            if let role {
                // The schema and what is in it belong to the view's role (a view made before
                // there were owner roles is handed over), and its statements run as that role.
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER SCHEMA \"\(self.schema)\" OWNER TO \"\(role)\""), logger: self.logger)
                let owned = try await connection.query("""
                    SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = \(self.schema) AND c.relkind IN ('r', 'v', 'm', 'S', 'p') AND pg_get_userbyid(c.relowner) <> \(role)
                      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
                    """, logger: self.logger)
                var handOver: [(String, String)] = []
                for try await (name, kind) in owned.decode((String, String).self) { handOver.append((name, kind)) }
                for (name, kind) in handOver {
                    let noun = switch kind { case "v": "VIEW"; case "m": "MATERIALIZED VIEW"; case "S": "SEQUENCE"; default: "TABLE" }
                    let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                    try await connection.query(PostgresQuery(unsafeSQL: "ALTER \(noun) \"\(self.schema)\".\(quoted) OWNER TO \"\(role)\""), logger: self.logger)
                }
                try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL ROLE \"\(role)\""), logger: self.logger)
            }
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(self.schema)\""), logger: self.logger)
            try await self.migrate(on: connection)
            for table in [
                "stele_checkpoints (projection text NOT NULL, category text NOT NULL, checkpoint text NOT NULL, PRIMARY KEY (projection, category))",
                "stele_views (projection text PRIMARY KEY, fingerprint text NOT NULL, created_at_ms bigint NOT NULL)",
                """
                stele_parked (projection text NOT NULL, category text NOT NULL, stream_id text NOT NULL, version bigint NOT NULL,
                    partition integer NOT NULL, "offset" bigint NOT NULL, transaction_id bigint NOT NULL, type text, error text NOT NULL,
                    parked_at_ms bigint NOT NULL, PRIMARY KEY (projection, category, stream_id, version))
                """,
                "stele_view_format (format integer NOT NULL)",
            ] {
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE TABLE IF NOT EXISTS " + table), logger: self.logger)
            }
            try await connection.query("DELETE FROM stele_view_format", logger: self.logger)
            try await connection.query("INSERT INTO stele_view_format (format) VALUES (\(ViewTableFormat.current))", logger: self.logger)
            var built: String?
            for try await fingerprint in try await connection.query(
                "SELECT fingerprint FROM stele_views WHERE projection = \(projection.name)", logger: self.logger).decode(String.self) {
                built = fingerprint
            }
            if let built, built != projection.fingerprint {
                return ViewOpening(checkpoints: [:], builtByOtherFingerprint: built)
            }
            if built == nil {
                for statement in projection.schema {
                    do { try await self.execute(statement, on: connection) } catch {
                        throw ViewError.definition(describe(Self.reason(error), in: statement))
                    }
                }
                try await connection.query("""
                    INSERT INTO stele_views (projection, fingerprint, created_at_ms) VALUES (\(projection.name), \(projection.fingerprint), \(Date().epochMilliseconds))
                    """, logger: self.logger)
            }
            for statement in projection.checks { try await self.check(statement, on: connection) }
            var checkpoints: [String: CategoryCheckpoint] = [:]
            for category in projection.categories {
                checkpoints[category] = .start
                let rows = try await connection.query(
                    "SELECT checkpoint FROM stele_checkpoints WHERE projection = \(projection.name) AND category = \(category)", logger: self.logger)
                for try await text in rows.decode(String.self) {
                    guard let checkpoint = CategoryCheckpoint(text) else { throw ViewError.store("checkpoint '\(text)' of \(projection.name)/\(category) does not parse") }
                    checkpoints[category] = checkpoint
                }
            }
            var parked: [ParkedEvent] = []
            let rows = try await connection.query("""
                SELECT category, stream_id, version, partition, "offset", transaction_id, type, error, parked_at_ms
                FROM stele_parked WHERE projection = \(projection.name) ORDER BY parked_at_ms, partition, "offset"
                """, logger: self.logger)
            for try await (category, streamId, version, partition, offset, transaction, type, error, parkedAt)
                in rows.decode((String, String, Int64, Int32, Int64, Int64, String?, String, Int64).self) {
                parked.append(ParkedEvent(key: .init(stream: StreamName(category: category, id: streamId), version: version),
                                          position: EventPosition(partition: partition, offset: offset, transaction: transaction),
                                          type: type, error: error, parkedAt: Date(epochMilliseconds: parkedAt)))
            }
            return ViewOpening(checkpoints: checkpoints, parked: parked)
        }
        try await grantReader()
        return opening
    }

    /// Makes ``readerRole`` (once per cluster) and lets it read this schema's tables, in a
    /// transaction of its own: a login without CREATEROLE still runs views, only its queries are
    /// then limited to what the login itself may do.
    private func grantReader() async throws {
        let role = Self.readerRole
        if let queryLogin {
            // It must be no superuser, or SET ROLE would be all that stood between a query and
            // everything.
            let rows = try await queryLogin.client.query("SELECT rolsuper FROM pg_roles WHERE rolname = session_user", logger: logger)
            for try await superuser in rows.decode(Bool.self) where superuser {
                throw ViewError.store("the query login \(queryLogin.user) is a superuser: give view queries a login without rights of its own")
            }
        }
        do {
            try await transaction { connection in
                try await connection.query(PostgresQuery(unsafeSQL: """
                    DO $$ BEGIN
                        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(role)') THEN CREATE ROLE \(role) NOLOGIN; END IF;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                    END $$
                    """), logger: self.logger)
                try await connection.query(PostgresQuery(unsafeSQL: "GRANT USAGE ON SCHEMA \"\(self.schema)\" TO \(role)"), logger: self.logger)
                try await connection.query(PostgresQuery(unsafeSQL: "GRANT SELECT ON ALL TABLES IN SCHEMA \"\(self.schema)\" TO \(role)"), logger: self.logger)
            }
            if let queryLogin {
                // The query login may take the reader role (the owner can grant it: it made it).
                let login = "\"" + queryLogin.user.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                _ = try await client.query(PostgresQuery(unsafeSQL: "GRANT \(role) TO \(login)"), logger: logger)
            }
            reader.withLock { $0 = .granted }
        } catch {
            var superuser = true
            if let rows = try? await client.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", logger: logger) {
                for try await value in rows.decode(Bool.self) { superuser = value }
            }
            let reason = "\(error)"
            reader.withLock { $0 = .unavailable(reason: reason, loginIsSuperuser: superuser) }
            logger.warning("view queries cannot run as the read-only role \(role)", metadata: ["schema": "\(schema)", "reason": "\(reason)"])
        }
    }

    public func apply(_ batch: ViewBatch, of projection: String) async throws {
        let role = owner.withLock { $0 }
        try await transaction { connection in
            if let role { try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL ROLE \"\(role)\""), logger: self.logger) }
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(self.schema)\""), logger: self.logger)
            // Pipelined: every statement is sent before the first answer is awaited, so a batch
            // costs one round trip rather than one per statement. After a failure PostgreSQL
            // refuses the rest of the transaction; the first error is the one that counts.
            var pending: [EventLoopFuture<PostgresQueryResult>] = []
            pending.reserveCapacity(batch.statements.count)
            for statement in batch.statements {
                let (sql, binds) = try Self.bound(statement)
                pending.append(connection.query(sql, binds))
            }
            var failure: ViewError?
            for (answer, statement) in zip(pending, batch.statements) {
                do { _ = try await answer.get() } catch {
                    failure = failure ?? ViewError.store(describe(Self.reason(error), in: statement))
                }
            }
            if let failure { throw failure }
            for event in batch.parks {
                try await connection.query("""
                    INSERT INTO stele_parked (projection, category, stream_id, version, partition, "offset", transaction_id, type, error, parked_at_ms)
                    VALUES (\(projection), \(event.key.stream.category), \(event.key.stream.id), \(event.key.version), \(event.position.partition),
                            \(event.position.offset), \(event.position.transaction), \(event.type), \(event.error), \(event.parkedAt.epochMilliseconds))
                    ON CONFLICT (projection, category, stream_id, version) DO UPDATE SET error = excluded.error
                    """, logger: self.logger)
            }
            for key in batch.releases {
                try await connection.query("""
                    DELETE FROM stele_parked WHERE projection = \(projection) AND category = \(key.stream.category)
                    AND stream_id = \(key.stream.id) AND version = \(key.version)
                    """, logger: self.logger)
            }
            for (category, checkpoint) in batch.checkpoints {
                try await connection.query("""
                    INSERT INTO stele_checkpoints (projection, category, checkpoint) VALUES (\(projection), \(category), \(checkpoint.description))
                    ON CONFLICT (projection, category) DO UPDATE SET checkpoint = excluded.checkpoint
                    """, logger: self.logger)
            }
        }
    }

    /// Brings Stele's own tables in the view's schema (search_path) to the current format, in the
    /// open's transaction (all or nothing); refuses a schema written by a newer Stele.
    private func migrate(on connection: PostgresConnection) async throws {
        var tables: Set<String> = []
        let rows = try await connection.query("SELECT tablename::text FROM pg_tables WHERE schemaname = \(schema)", logger: logger)
        for try await name in rows.decode(String.self) { tables.insert(name) }
        var found: Int? = tables.contains("stele_checkpoints") ? ViewTableFormat.first : nil
        if tables.contains(ViewTableFormat.table) {
            for try await format in try await connection.query("SELECT max(format) FROM stele_view_format", logger: logger).decode(Int?.self) {
                found = format ?? ViewTableFormat.first
            }
        }
        guard let found else { return }
        if found > ViewTableFormat.current {
            throw ViewError.store("schema \(schema) was written by a newer Stele (view table format \(found); this one knows up to \(ViewTableFormat.current)): nothing was changed")
        }
        if found == ViewTableFormat.first {
            logger.notice("migrating the view tables of schema \(schema) to format \(ViewTableFormat.current)")
            for (table, old, new) in ViewTableFormat.renamesFromFirst where tables.contains(table) {
                let rows = try await connection.query("""
                    SELECT 1 FROM information_schema.columns WHERE table_schema = \(schema) AND table_name = \(table) AND column_name = \(old)
                    """, logger: logger)
                var exists = false
                for try await _ in rows { exists = true }
                if exists { try await connection.query(PostgresQuery(unsafeSQL: ViewTableFormat.rename(table, old, new)), logger: logger) }
            }
        }
    }

    public func keyColumn(of table: String) async throws -> String {
        var exists = false
        var columns: [String] = []
        let rows = try await client.query("""
            SELECT a.attname::text, i.indisprimary FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
            WHERE n.nspname = \(schema) AND c.relname = \(table) AND c.relkind IN ('r', 'v', 'm', 'p')
            """, logger: logger)
        for try await (column, _) in rows.decode((String?, Bool?).self) {
            exists = true
            if let column { columns.append(column) }
        }
        guard exists, !table.hasPrefix("stele_") else { throw ViewError.noSuchTable("the view has no table \(table)") }
        guard columns.count == 1 else { throw ViewError.noSuchTable("table \(table) has no single-column primary key") }
        return columns[0]
    }

    /// Prepares a statement (without running it) so PostgreSQL reports a mistake in it now. A
    /// parameter whose type PostgreSQL cannot infer without a value is not a mistake.
    private func check(_ statement: SQLStatement, on connection: PostgresConnection) async throws {
        let translation = try NamedParameters.translate(statement.sql)
        try await connection.query("SAVEPOINT stele_check", logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "PREPARE stele_check AS " + translation.sql), logger: logger)
            try await connection.query("DEALLOCATE stele_check", logger: logger)
            try await connection.query("RELEASE SAVEPOINT stele_check", logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P18" {
            try await connection.query("ROLLBACK TO SAVEPOINT stele_check", logger: logger)
        } catch {
            throw ViewError.definition(describe(Self.reason(error), in: statement))
        }
    }

    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError, let message = error.serverInfo?[.message] { return message }
        // The future-based API used for pipelining reports server errors in its older type.
        if let error = error as? PostgresError { return error.description }
        if let error = error as? ViewError { return error.description }
        return String(reflecting: error)
    }

    public func query(_ statement: SQLStatement) async throws -> [[String: SQLValue]] {
        try QueryGuard.check(statement.sql, dialect: .postgres)
        do {
            return try await (queryLogin?.client ?? client).withConnection { connection in
                try await connection.query("BEGIN READ ONLY", logger: self.logger)
                do {
                    switch self.reader.withLock({ $0 }) {
                    case .granted:
                        try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL ROLE \(Self.readerRole)"), logger: self.logger)
                    case let .unavailable(reason, loginIsSuperuser) where loginIsSuperuser:
                        throw ViewError.readOnly("queries would run as a superuser (the read-only role \(Self.readerRole) could not be set up: \(reason))")
                    case .unknown:
                        throw ViewError.store("the view is not open yet")
                    case .unavailable:
                        break
                    }
                    let milliseconds = Int(self.queryTimeout.components.seconds * 1000 + self.queryTimeout.components.attoseconds / 1_000_000_000_000_000)
                    try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(milliseconds)"), logger: self.logger)
                    try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(self.schema)\""), logger: self.logger)
                    let rows = try await connection.query(try Self.query(statement), logger: self.logger)
                    var result: [[String: SQLValue]] = []
                    var bytes = 0
                    for try await row in rows {
                        var values: [String: SQLValue] = [:]
                        for cell in row { values[cell.columnName] = try Self.value(cell) }
                        try QueryLimits.admit(row: values, rows: result.count + 1, bytes: &bytes)
                        result.append(values)
                    }
                    try await connection.query("COMMIT", logger: self.logger)
                    return result
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: self.logger)
                    throw error
                }
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
            // Outside what the reader role may touch: another schema, a server file, a program.
            throw ViewError.readOnly(error.serverInfo?[.message] ?? "permission denied")
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "25006" {
            throw ViewError.readOnly(error.serverInfo?[.message] ?? "a write in a read-only query")
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "57014" {
            throw ViewError.timedOut("it ran longer than \(queryTimeout)")
        } catch let error as PSQLError where error.serverInfo?[.message] != nil {
            throw ViewError.store(error.serverInfo![.message]!)
        } catch let error as ViewError { throw error } catch {
            throw ViewError.store(String(reflecting: error))
        }
    }

    public func close() async throws { runTask?.cancel() }

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

    /// A statement for the async API, whose errors keep PostgreSQL's SQLSTATE.
    static func query(_ statement: SQLStatement) throws -> PostgresQuery {
        let (sql, values) = try bound(statement)
        var bindings = PostgresBindings(capacity: values.count)
        values.forEach { bindings.append($0) }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    /// The `$n` text and the values of a statement (`apply` sends these without awaiting).
    static func bound(_ statement: SQLStatement) throws -> (String, [PostgresData]) {
        let translation = try NamedParameters.translate(statement.sql)
        var binds: [PostgresData] = []
        binds.reserveCapacity(translation.names.count)
        for name in translation.names {
            guard let value = statement.parameters[name] else { throw ViewError.store("parameter :\(name) has no value in: \(statement.sql)") }
            switch value {
            case .null: binds.append(.null)
            case let .integer(number): binds.append(PostgresData(int64: number))
            case let .real(number): binds.append(PostgresData(double: number))
            case let .text(text): binds.append(PostgresData(string: text))
            case let .blob(bytes): binds.append(PostgresData(bytes: bytes))
            }
        }
        return (translation.sql, binds)
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        if cell.bytes == nil { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        case .numeric:
            // Read here, not by postgres-nio's Decimal decoding, which traps on values Decimal
            // cannot hold (`SELECT 1e200` in a query, a NUMERIC column fed 1e300 by an event).
            guard var bytes = cell.bytes, cell.format == .binary, let text = NumericText.decode(&bytes) else {
                throw ViewError.store("a numeric value the server sent cannot be read")
            }
            return .text(text)
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
