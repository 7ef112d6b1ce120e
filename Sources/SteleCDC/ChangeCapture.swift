import Foundation
import Logging
import SteleStore

/// A change data capture from PostgreSQL into an event store: an initial snapshot, then the
/// logical replication slot's changes, each source transaction's events in one atomic append
/// with the capture's checkpoint (several transactions may share one append; one too large for
/// an append is split, resumably).
///
/// The slot is confirmed only after the append is durable, and every append carries the
/// checkpoint, so a SIGKILL of the capture, of Stele or of PostgreSQL loses nothing and
/// appends nothing twice: a restarted capture reads its checkpoint and skips what the slot
/// hands out again. The checkpoint stream's exact expected version fences a second capture.
public final class ChangeCapture {
    public struct Options: Sendable {
        /// `schema.table` (or `table`), in snapshot order.
        public var tables: [String]
        /// Put before each table's name to make its category.
        public var categoryPrefix = ""
        /// The stream of the capture's checkpoints: `category/slot`.
        public var checkpointCategory = "cdc-checkpoints"
        /// Whether existing rows are read first (else only changes from the slot's creation on).
        public var snapshot = true
        public var chunkRows = 1000
        /// Slot messages read per pass.
        public var batchMessages = 10_000
        /// An append is cut near this many bytes of request (the server refuses more than
        /// `--http-max-body-bytes`, 1 MiB by default).
        public var maxAppendBytes = 600_000
        public var idle: Duration = .milliseconds(100)

        public init(tables: [String]) { self.tables = tables }
    }

    let source: PostgresChangeSource
    let store: EventStore
    let options: Options
    let logger: Logger
    let checkpointStream: StreamName

    var tables: [String: PostgresChangeSource.TableInfo] = [:]
    var captured: [CapturedTable] = []
    var assembler: ChangeAssembler
    var checkpoint = CaptureCheckpoint()
    /// The checkpoint stream's last version (-1: none yet).
    var checkpointVersion: Int64 = -1

    // The append being built.
    var parts: [StreamName: [EventData]] = [:]
    var order: [StreamName] = []
    var controlEvents: [EventData] = []
    var pendingBytes = 0
    var dirty = false

    // The source transaction being read.
    var transaction: (finalLSN: LSN, xid: UInt32, commitTime: Date, skip: Int?)?
    var chunk: SnapshotChunk?
    /// Transactions read lately, to tell whether a new snapshot may have missed one of them.
    var recent: [UInt32] = []
    var recentIndex = 0
    /// The end of the last transaction skipped because it is appended already.
    var skippedTo = LSN.zero

    /// Counters for the status line.
    public private(set) var eventsAppended = 0
    public private(set) var transactionsAppended = 0

    public init(source: PostgresChangeSource, store: EventStore, options: Options, logger: Logger) {
        self.source = source
        self.store = store
        self.options = options
        self.logger = logger
        self.checkpointStream = StreamName(category: options.checkpointCategory, id: source.slot)
        self.assembler = ChangeAssembler(slot: source.slot, tables: [])
    }

    /// Checks the server and the tables, takes the lock, makes the publication and the slot,
    /// and reads the checkpoint.
    public func prepare() async throws {
        try await source.checkServer()
        try await source.lock()
        var categories: [String: String] = [:]
        for name in options.tables {
            let info = try await source.table(name)
            let category = options.categoryPrefix + info.name
            if let problem = StreamName(category: category, id: "x").problem { throw CaptureError("\(info.qualifiedName): \(problem)") }
            if let other = categories[category], other != info.qualifiedName {
                throw CaptureError("\(other) and \(info.qualifiedName) would share category \(category): use --category-prefix or capture one")
            }
            categories[category] = info.qualifiedName
            tables[info.qualifiedName] = info
            captured.append(CapturedTable(qualifiedName: info.qualifiedName, category: category, primaryKey: info.primaryKey))
        }
        assembler = ChangeAssembler(slot: source.slot, tables: captured)
        try await source.publish(captured.compactMap { tables[$0.qualifiedName] })
        let created = try await source.ensureSlot()
        try await readCheckpoint()
        if created, checkpointVersion >= 0 {
            // A new slot cannot resend what the old one had not confirmed: say so rather than
            // carry on as if nothing were missing.
            throw CaptureError("slot \(source.slot) was created now, but \(checkpointStream) has checkpoints of an earlier one: changes between them are lost to the slot. Capture under a new --slot (and a fresh snapshot), or remove the checkpoints deliberately")
        }
        if !options.snapshot, checkpointVersion < 0 {
            checkpoint.snapshotted = captured.map(\.qualifiedName)
            dirty = true
        }
    }

    func readCheckpoint() async throws {
        let last = try await store.read(checkpointStream, from: .end, direction: .backward, limit: 1)
        guard let event = last.first else { checkpointVersion = -1; checkpoint = CaptureCheckpoint(); return }
        guard event.type == CaptureCheckpoint.eventType else {
            throw CaptureError("\(checkpointStream) ends with a \(event.type) event, not a checkpoint: is another program writing to it?")
        }
        do {
            checkpoint = try JSONDecoder().decode(CaptureCheckpoint.self, from: Data(event.data))
        } catch {
            throw CaptureError("the checkpoint at \(checkpointStream)@\(event.version) cannot be read: \(error)")
        }
        checkpointVersion = event.version
    }

    /// The next table to snapshot and where in it, or `nil` when the snapshot is complete.
    var snapshotWork: (PostgresChangeSource.TableInfo, [String]?)? {
        for table in captured where !checkpoint.snapshotted.contains(table.qualifiedName) {
            guard let info = tables[table.qualifiedName] else { continue }
            return (info, checkpoint.snapshotTable == table.qualifiedName ? checkpoint.snapshotAfter : nil)
        }
        return nil
    }

    /// Runs until cancelled or until something it cannot get past (thrown).
    public func run() async throws {
        while !Task.isCancelled {
            let worked = try await pass()
            if !worked { try await Task.sleep(for: options.idle) }
        }
    }

    /// One pass: a snapshot chunk read if one is due, the slot's changes read, appended and
    /// confirmed. Whether anything happened.
    public func pass() async throws -> Bool {
        if chunk == nil, let (info, after) = snapshotWork {
            try await readChunk(info, after: after)
        }
        logger.trace("pass: reading the flush position")
        let flushed = try await source.flushLSN()
        logger.trace("pass: reading changes")
        let count = try await source.changes(limit: options.batchMessages) { message in
            for change in try self.assembler.consume(message) { try await self.apply(change) }
        }
        if let chunk, count < options.batchMessages, flushed >= chunk.high {
            // Read to the end of what was flushed before this pass: every transaction the
            // chunk's snapshot saw is behind us.
            placeChunk()
            _ = chunk
        }
        logger.trace("pass: \(count) messages read; appending")
        let appended = try await flush()
        let confirm = max(checkpoint.confirmable, skippedTo)
        logger.trace("pass: confirming \(confirm)")
        try await source.confirm(confirm)
        return count > 0 || appended
    }

    func readChunk(_ info: PostgresChangeSource.TableInfo, after: [String]?) async throws {
        while true {
            let read = try await source.chunk(info, after: after, limit: options.chunkRows)
            // A transaction already read from the slot but still running in the snapshot
            // (its commit was flushed, not yet visible) would make the chunk older than the
            // stream: read again once it is visible.
            let xmax32 = UInt32(truncatingIfNeeded: read.xmax)
            let running32 = Set(read.running.map { UInt32(truncatingIfNeeded: $0) })
            if recent.contains(where: { running32.contains($0) || Int32(bitPattern: $0 &- xmax32) >= 0 }) {
                try await Task.sleep(for: .milliseconds(10))
                continue
            }
            let shape = info.shape
            let keyIndexes = info.primaryKey.compactMap { key in info.columns.firstIndex { $0.name == key } }
            var rows: [(stream: String, values: [PgColumnValue])] = []
            for values in read.rows {
                guard let stream = shape.streamId(values) else { throw CaptureError("a row of \(info.qualifiedName) has a null key") }
                rows.append((stream, values))
            }
            let lastKey: [String]? = read.rows.last.map { values in
                keyIndexes.map { if case let .text(text) = values[$0] { text } else { "" } }
            }
            chunk = SnapshotChunk(table: info.qualifiedName, rows: rows, lastKey: lastKey, isLast: read.rows.count < options.chunkRows,
                                  high: read.high, xmax: read.xmax, running: read.running)
            return
        }
    }

    /// The chunk's rows go into the append here, with the snapshot's progress.
    func placeChunk() {
        guard let placed = chunk, let info = tables[placed.table], let table = captured.first(where: { $0.qualifiedName == placed.table }) else { return }
        chunk = nil
        let now = Date()
        for row in placed.rowsToAppend {
            guard let (stream, event) = ChangeAssembler.snapshotEvent(slot: source.slot, table: table, schema: info.schema, name: info.name,
                                                                      shape: info.shape, values: row.values, chunkLSN: placed.high, readAt: now)
            else { continue }
            add(event, to: stream)
        }
        if placed.isLast {
            checkpoint.snapshotted.append(placed.table)
            checkpoint.snapshotTable = nil
            checkpoint.snapshotAfter = nil
            logger.info("snapshot of \(placed.table) read")
        } else {
            checkpoint.snapshotTable = placed.table
            checkpoint.snapshotAfter = placed.lastKey
        }
        dirty = true
    }

    func add(_ event: EventData, to stream: StreamName) {
        if parts[stream] == nil { order.append(stream) }
        parts[stream, default: []].append(event)
        // Base64 of the payload, the event's other fields and the JSON around them.
        pendingBytes += event.data.count * 4 / 3 + event.type.utf8.count + stream.category.utf8.count + stream.id.utf8.count + 300
        dirty = true
    }

    func apply(_ change: CapturedChange) async throws {
        switch change {
        case let .begin(finalLSN, xid, commitTime):
            if let placed = chunk, finalLSN >= placed.high { placeChunk() }
            transaction = (finalLSN, xid, commitTime, checkpoint.appended(finalLSN))
        case let .event(stream, event, index):
            guard let open = transaction else { return }
            if var pending = chunk, captured.first(where: { $0.qualifiedName == pending.table })?.category == stream.category {
                pending.note(stream.id, by: open.xid)
                chunk = pending
            }
            guard let skip = open.skip, index >= skip else { return }
            add(event, to: stream)
            if pendingBytes >= options.maxAppendBytes {
                // A transaction larger than one append: this part in, and where it stopped.
                checkpoint.partialLSN = open.finalLSN.description
                checkpoint.partialEvents = index + 1
                _ = try await flush()
            }
        case let .truncate(names, cascade, index):
            guard let open = transaction, let skip = open.skip, index >= skip else { return }
            let data: [String: Any] = ["tables": names, "cascade": cascade, "lsn": open.finalLSN.description, "txId": Int(open.xid),
                                       "commitTime": ChangeAssembler.iso8601(open.commitTime)]
            var event = EventData(type: "TableTruncated", data: Array((try? JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])) ?? Data()))
            event.id = DeterministicID.make("stele-cdc", source.slot, open.finalLSN.description, String(index))
            event.metadata.occurredAt = open.commitTime
            controlEvents.append(event)
            dirty = true
            logger.warning("TRUNCATE of \(names.joined(separator: ", ")) at \(open.finalLSN): recorded in \(checkpointStream); the rows' streams get no deletes")
        case let .commit(finalLSN, endLSN):
            guard let open = transaction else { return }
            transaction = nil
            recent.append(open.xid)
            if recent.count > 4096 { recent.removeFirst(recent.count - 4096) }
            guard open.skip != nil else {
                skippedTo = max(skippedTo, endLSN)
                return
            }
            checkpoint.lsn = finalLSN.description
            checkpoint.confirm = endLSN.description
            checkpoint.partialLSN = nil
            checkpoint.partialEvents = nil
            transactionsAppended += 1
            dirty = true
            if pendingBytes >= options.maxAppendBytes { _ = try await flush() }
        }
    }

    /// Appends what was built with the checkpoint, all or nothing. Whether there was anything.
    func flush() async throws -> Bool {
        guard dirty else { return false }
        var appends = order.map { StreamAppend(parts[$0] ?? [], to: $0, expected: .any) }
        let expected: ExpectedVersion = checkpointVersion < 0 ? .noStream : .exact(checkpointVersion)
        let version = checkpointVersion + Int64(controlEvents.count) + 1
        appends.append(StreamAppend(controlEvents + [checkpoint.event(version: version, slot: source.slot)], to: checkpointStream, expected: expected))
        let outcomes: [AppendOutcome]
        do {
            outcomes = try await store.append(appends)
        } catch let EventStoreError.wrongExpectedVersion(stream, _, actual) where stream == checkpointStream {
            throw CaptureError("\(checkpointStream) is at version \(actual), not \(checkpointVersion): another capture wrote to it; this one stops")
        }
        checkpointVersion = outcomes.last?.lastVersion ?? version
        eventsAppended += parts.values.reduce(0) { $0 + $1.count }
        parts = [:]
        order = []
        controlEvents = []
        pendingBytes = 0
        dirty = false
        return true
    }
}
