import Foundation
import Logging
import NIOPosix
import PostgresNIO
import StelePostgres
import Synchronization

/// The PostgreSQL side of a capture: one connection that owns the capture's advisory lock,
/// keeps its publication and logical replication slot, reads snapshot chunks and the slot's
/// changes (`pgoutput` through the SQL interface to logical decoding), and confirms the slot
/// once the events are durable.
public final class PostgresChangeSource: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    public let slot: String
    public let publication: String

    /// A table as the catalog describes it.
    public struct TableInfo: Sendable {
        /// The table's OID: a table dropped and created again under the same name has another.
        public var oid: UInt32
        public var schema: String
        public var name: String
        public var columns: [(name: String, typeOID: UInt32, typeName: String)]
        public var primaryKey: [String]
        public var qualifiedName: String { "\(schema).\(name)" }
        var quoted: String { "\(Self.quote(schema)).\(Self.quote(name))" }
        static func quote(_ identifier: String) -> String { "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        public var shape: CapturedTableShape {
            CapturedTableShape(columns: columns.map { .init(name: $0.name, typeOID: $0.typeOID) }, primaryKey: primaryKey)
        }
    }

    /// Rows read in one snapshot, with what that snapshot saw.
    public struct Chunk: Sendable {
        public var rows: [[PgColumnValue]]
        /// The snapshot: transactions below `xmin` and not in `running` below `xmax` are in it.
        public var xmin: UInt64
        public var xmax: UInt64
        public var running: Set<UInt64>
        /// The WAL's write position after the read: every transaction the snapshot saw
        /// committed before it.
        public var high: LSN
    }

    init(connection: PostgresConnection, logger: Logger, slot: String, publication: String) {
        self.connection = connection
        self.logger = logger
        self.slot = slot
        self.publication = publication
    }

    /// Connects to `url` (a `postgres://` URL as the PostgreSQL store takes).
    public static func connect(url: String, slot: String, publication: String, logger: Logger) async throws -> PostgresChangeSource {
        let configuration = try PostgresURL.connectionConfiguration(url).get()
        let connection = try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                                                              id: 1, logger: logger).get()
        let source = PostgresChangeSource(connection: connection, logger: logger, slot: slot, publication: publication)
        // Values are written by their types' output functions in this session (the snapshot's
        // and pgoutput's alike): fixed settings keep a row's text — and its stream id — the same
        // whatever ALTER DATABASE or ALTER ROLE sets between runs.
        do {
            _ = try await source.rows("""
                SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, MDY', false),
                       set_config('IntervalStyle', 'postgres', false), set_config('extra_float_digits', '1', false),
                       set_config('bytea_output', 'hex', false)
                """)
        } catch {
            await source.close()
            throw error
        }
        return source
    }

    /// Closes the connection, waiting at most a few seconds: closing a connection whose server
    /// died can wait on a goodbye that never comes, and a capture must get back to work.
    public func close() async {
        let connection = self.connection
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await connection.close() }
            group.addTask { try? await Task.sleep(for: .seconds(5)) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Sends a query, failing once the connection is closed: postgres-nio (1.33) leaves a query
    /// sent on a connection the server has just closed waiting forever, so the wait also ends
    /// when the channel closes.
    func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        let connection = self.connection, logger = self.logger
        let closed = CaptureError.connectionClosed
        guard !connection.isClosed else { throw closed }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresRowSequence, any Error>) in
            let waiting = Mutex<CheckedContinuation<PostgresRowSequence, any Error>?>(continuation)
            @Sendable func resume(_ result: Result<PostgresRowSequence, any Error>) {
                waiting.withLock { $0.take() }?.resume(with: result)
            }
            Task {
                do { resume(.success(try await connection.query(query, logger: logger))) } catch { resume(.failure(error)) }
            }
            connection.closeFuture.whenComplete { _ in resume(.failure(closed)) }
        }
    }

    func rows(_ sql: String, _ binds: [String] = []) async throws -> [[String?]] {
        var bindings = PostgresBindings()
        for value in binds { bindings.append(value) }
        let sequence = try await query(PostgresQuery(unsafeSQL: sql, binds: bindings))
        var result: [[String?]] = []
        for try await row in sequence {
            result.append(try row.map { try $0.decode(String?.self) })
        }
        return result
    }

    func value(_ sql: String, _ binds: [String] = []) async throws -> String? {
        try await rows(sql, binds).first?.first ?? nil
    }

    /// Refuses to run beside another capture of the same slot: a session lock, released when
    /// this connection ends (a SIGKILLed capture's with it).
    public func lock() async throws {
        let taken = try await value("SELECT pg_try_advisory_lock(hashtext('stele-cdc'), hashtext($1))::text", [slot])
        guard taken == "true" else { throw CaptureError("another stele cdc is capturing with slot \(slot)", isTransient: true) }
    }

    /// Checks the server can decode logically (wal_level=logical, PostgreSQL 14 or later).
    public func checkServer() async throws {
        let level = try await value("SELECT current_setting('wal_level')")
        guard level == "logical" else {
            throw CaptureError("PostgreSQL's wal_level is \(level ?? "?"): change data capture needs wal_level=logical (then restart PostgreSQL)")
        }
        let version = Int(try await value("SELECT current_setting('server_version_num')") ?? "") ?? 0
        guard version >= 140_000 else { throw CaptureError("change data capture needs PostgreSQL 14 or later (this is \(version))") }
    }

    /// The catalog's view of `name` (`table` or `schema.table`).
    public func table(_ name: String) async throws -> TableInfo {
        guard let found = try await rows("""
            SELECT n.nspname, c.relname, c.oid::text, c.relkind::text, c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass($1)
            """, [name]).first, let schema = found[0], let relname = found[1], let oid = found[2] else {
            throw CaptureError("no table \(name)")
        }
        guard found[3] == "r" || found[3] == "p" else { throw CaptureError("\(name) is not a table") }
        // Deletes and key changes name their row by the replica identity: the primary key
        // (DEFAULT) or the whole old row (FULL). NOTHING would also make the application's
        // updates fail once the table is published.
        guard found[4] == "d" || found[4] == "f" else {
            throw CaptureError("\(schema).\(relname) has REPLICA IDENTITY \(found[4] == "n" ? "NOTHING" : "USING INDEX"): a capture needs DEFAULT (with a primary key) or FULL")
        }
        // pgoutput sends neither dropped nor generated columns; the snapshot reads the same ones.
        let columns = try await rows("""
            SELECT a.attname, a.atttypid::text, format_type(a.atttypid, a.atttypmod),
                   (SELECT array_position(i.indkey::int2[], a.attnum)::text FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary)
            FROM pg_attribute a WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, [oid])
        let info = columns.map { (name: $0[0] ?? "", typeOID: UInt32($0[1] ?? "") ?? 0, typeName: $0[2] ?? "text") }
        let key = columns.compactMap { row in row[3].flatMap(Int.init).map { ($0, row[0] ?? "") } }.sorted { $0.0 < $1.0 }.map(\.1)
        guard !key.isEmpty else {
            throw CaptureError("\(schema).\(relname) has no primary key: its rows cannot be named as streams (add one)")
        }
        return TableInfo(oid: UInt32(oid) ?? 0, schema: schema, name: relname, columns: info, primaryKey: key)
    }

    /// Makes the publication publish exactly `tables` (inserts, updates, deletes, truncates).
    public func publish(_ tables: [TableInfo]) async throws {
        let list = tables.map(\.quoted).joined(separator: ", ")
        let exists = try await value("SELECT count(*)::text FROM pg_publication WHERE pubname = $1", [publication])
        if exists == "0" {
            _ = try await rows("CREATE PUBLICATION \(TableInfo.quote(publication)) FOR TABLE \(list)")
        } else {
            _ = try await rows("ALTER PUBLICATION \(TableInfo.quote(publication)) SET TABLE \(list)")
        }
    }

    /// Creates the slot unless it exists; true when it was created.
    public func ensureSlot() async throws -> Bool {
        if let plugin = try await rows("SELECT plugin FROM pg_replication_slots WHERE slot_name = $1", [slot]).first {
            guard plugin[0] == "pgoutput" else { throw CaptureError("slot \(slot) exists with plugin \(plugin[0] ?? "none"), not pgoutput") }
            return false
        }
        _ = try await rows("SELECT pg_create_logical_replication_slot($1, 'pgoutput')::text", [slot])
        return true
    }

    /// The OID of table `name` now, 0 when there is none.
    public func tableOID(_ name: String) async throws -> UInt32 {
        UInt32(try await value("SELECT coalesce(to_regclass($1)::oid, 0)::text", [name]) ?? "") ?? 0
    }

    /// Whether the slot exists.
    public func slotExists() async throws -> Bool {
        try await value("SELECT count(*)::text FROM pg_replication_slots WHERE slot_name = $1", [slot]) != "0"
    }

    /// The next transaction id to be handed out: every transaction running now is below it.
    public func nextTransactionId() async throws -> UInt64 {
        UInt64(try await value("SELECT pg_snapshot_xmax(pg_current_snapshot())::text") ?? "") ?? 0
    }

    /// Where the slot is confirmed up to.
    public func confirmedLSN() async throws -> LSN {
        guard let text = try await value("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", [slot]) else {
            throw CaptureError("slot \(slot) is gone (dropped while capturing?): its changes cannot be read again")
        }
        return LSN(text) ?? .zero
    }

    /// Tells PostgreSQL it may recycle the WAL before `lsn`: called only once everything before
    /// it is durable in Stele.
    public func confirm(_ lsn: LSN) async throws {
        guard lsn > (try await confirmedLSN()) else { return }
        _ = try await rows("SELECT pg_replication_slot_advance($1, $2::pg_lsn)::text", [slot, lsn.description])
    }

    /// The WAL's flush position: decoding reads up to it.
    public func flushLSN() async throws -> LSN {
        LSN(try await value("SELECT pg_current_wal_flush_lsn()::text") ?? "") ?? .zero
    }

    /// The slot's changes from where it is confirmed, at least `limit` messages unless there are
    /// fewer (whole transactions: the last may run past it), each handed to `handle` as it
    /// arrives. Returns how many there were.
    public func changes(limit: Int, _ handle: (PgOutputMessage) async throws -> Void) async throws -> Int {
        var bindings = PostgresBindings()
        bindings.append(slot)
        bindings.append(String(limit))
        bindings.append(publication)
        let sequence = try await query(PostgresQuery(unsafeSQL: """
            SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2::int, 'proto_version', '1', 'publication_names', $3)
            """, binds: bindings))
        // Every row is read before any is handled: awaiting an append inside the row loop lets
        // rows pile up in postgres-nio, whose row stream (1.33) traps if the server then closes
        // the connection. The memory this holds is the pass's messages (`limit`, or one source
        // transaction when that is larger).
        var messages: [PgOutputMessage] = []
        for try await row in sequence {
            guard var bytes = try row.decode(ByteBuffer?.self) else { continue }
            messages.append(try PgOutputMessage.decode(bytes.readBytes(length: bytes.readableBytes) ?? []))
        }
        for message in messages { try await handle(message) }
        return messages.count
    }

    /// Up to `limit` rows of `table` after the key `after` (from its start when `nil`), in key
    /// order, each column as its type's text output (what pgoutput sends), read in one snapshot
    /// whose extent is returned with them.
    public func chunk(_ table: TableInfo, after: [String]?, limit: Int) async throws -> Chunk {
        let keyColumns = table.primaryKey.map(TableInfo.quote).joined(separator: ", ")
        let selected = table.columns.map { "CASE WHEN \(TableInfo.quote($0.name)) IS NULL THEN NULL ELSE format('%s', \(TableInfo.quote($0.name))) END" }
        var sql = "SELECT \(selected.joined(separator: ", ")) FROM \(table.quoted)"
        if let after {
            let types = table.primaryKey.map { key in table.columns.first { $0.name == key }?.typeName ?? "text" }
            let values = types.enumerated().map { "($\($0.offset + 1)::text)::\($0.element)" }.joined(separator: ", ")
            sql += " WHERE (\(keyColumns)) > (\(values))"
            guard after.count == types.count else { throw CaptureError("a snapshot position of \(after.count) values for a key of \(types.count) columns") }
        }
        sql += " ORDER BY \(keyColumns) LIMIT \(limit)"
        _ = try await rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do {
            guard let snapshot = try await value("SELECT pg_current_snapshot()::text") else { throw CaptureError("no snapshot") }
            let read = try await rows(sql, after ?? [])
            let high = LSN(try await value("SELECT pg_current_wal_insert_lsn()::text") ?? "") ?? .zero
            _ = try await rows("COMMIT")
            // `xmin:xmax:xip,…`
            let parts = snapshot.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]) else { throw CaptureError("unreadable snapshot \(snapshot)") }
            let running = Set(parts[2].split(separator: ",").compactMap { UInt64($0) })
            return Chunk(rows: read.map { $0.map { $0.map(PgColumnValue.text) ?? .null } }, xmin: xmin, xmax: xmax, running: running, high: high)
        } catch {
            _ = try? await rows("ROLLBACK")
            throw error
        }
    }
}

/// Why a capture cannot go on.
public struct CaptureError: Error, CustomStringConvertible {
    public let description: String
    /// Worth a retry: the capture reconnects and goes on from its checkpoint.
    public let isTransient: Bool
    public init(_ description: String, isTransient: Bool = false) {
        self.description = description
        self.isTransient = isTransient
    }

    static let connectionClosed = CaptureError("the connection to PostgreSQL closed", isTransient: true)
}
