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
        /// An append is cut near this many bytes of request (the server refuses requests over
        /// 1 MiB).
        public var maxAppendBytes = 900_000
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
    /// The next transaction id when the capture started: a chunk's snapshot must see every
    /// transaction below it (one could have committed into the WAL before the slot's start, or
    /// before a crash, and still be invisible).
    var startTransaction: UInt64 = 0
    /// How far behind the WAL's flush position the slot may stay while nothing captured changes
    /// before a checkpoint moves it on (the WAL it holds back is PostgreSQL's disk).
    static let idleConfirmLag: UInt64 = 4 << 20
    /// Room left in every append for the checkpoint event: twice its size as base64 JSON when
    /// the capture was prepared (it grows only with the tables it names), and some.
    var checkpointReserve = 4096

    var inFlight: InFlight?
    var chunkBlockedSince: ContinuousClock.Instant?
    var chunkBlockReported = false
    /// When the captured tables were last checked against the catalog (dropped, re-created, or
    /// out of the publication: a DROP sends nothing through the slot).
    var tablesCheckedAt = ContinuousClock.now
    /// What the slot may be confirmed up to: the checkpoint of the last append that landed.
    var durable = LSN.zero

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
            let category = Self.category(options.categoryPrefix + info.name)
            if let problem = StreamName(category: category, id: "x").problem { throw CaptureError("\(info.qualifiedName): \(problem)") }
            if let other = categories[category], other != info.qualifiedName {
                throw CaptureError("\(other) and \(info.qualifiedName) would share category \(category): use --category-prefix or capture one")
            }
            categories[category] = info.qualifiedName
            tables[info.qualifiedName] = info
            captured.append(CapturedTable(qualifiedName: info.qualifiedName, category: category, primaryKey: info.primaryKey))
        }
        assembler = ChangeAssembler(slot: source.slot, tables: captured)
        try await readCheckpoint()
        if checkpointVersion >= 0 {
            // A slot made anew cannot resend what the old one held, and one confirmed past the
            // checkpoint by someone else has dropped changes: say so rather than carry on.
            guard try await source.slotExists() else {
                throw CaptureError("slot \(source.slot) is gone, but \(checkpointStream) holds this capture's checkpoints: the changes the slot held are lost to it. Capture under a new --slot and --checkpoint-category (a fresh snapshot), or remove the checkpoints deliberately")
            }
            let confirmed = try await source.confirmedLSN()
            if confirmed > checkpoint.confirmable {
                throw CaptureError("slot \(source.slot) is confirmed up to \(confirmed), past this capture's checkpoint \(checkpoint.confirm): something else advanced it (or it was made anew), and the changes between are lost to it")
            }
        }
        try await source.publish(captured.compactMap { tables[$0.qualifiedName] })
        _ = try await source.ensureSlot()
        if checkpointVersion < 0 {
            // The first checkpoint starts where the slot does: nothing before it was confirmed.
            checkpoint.confirm = try await source.confirmedLSN().description
            dirty = true
        }
        startTransaction = try await source.nextTransactionId()
        reconcileSnapshotProgress()
        checkpointReserve = ((try? JSONEncoder.sorted.encode(checkpoint).count) ?? 1024) * 8 / 3 + 2048
    }

    /// Categories are topics: a table name with other characters than Kafka's gets `_` for them.
    static func category(_ name: String) -> String {
        String(name.unicodeScalars.map { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "." || scalar == "_" || scalar == "-") ? Character(scalar) : "_"
        })
    }

    /// Snapshot progress for the tables captured now: a table no longer captured is forgotten (if
    /// it comes back, its rows are read again, as are a re-created table's); with `--snapshot
    /// never`, every table counts as read.
    func reconcileSnapshotProgress() {
        let before = checkpoint
        var oids = checkpoint.tableOIDs ?? [:]
        checkpoint.snapshotted = checkpoint.snapshotted.filter { name in
            guard let info = tables[name] else { return false }
            if let recorded = oids[name], recorded != info.oid {
                logger.info("\(name) was created again since its snapshot: reading it again")
                return false
            }
            return true
        }
        if let table = checkpoint.snapshotTable, tables[table] == nil || (oids[table].map { $0 != tables[table]?.oid } ?? false) {
            checkpoint.snapshotTable = nil
            checkpoint.snapshotAfter = nil
        }
        if !options.snapshot {
            for table in captured where !checkpoint.snapshotted.contains(table.qualifiedName) { checkpoint.snapshotted.append(table.qualifiedName) }
        }
        oids = oids.filter { tables[$0.key] != nil }
        for (name, info) in tables { oids[name] = info.oid }
        checkpoint.tableOIDs = oids
        if checkpoint != before { dirty = true }
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
        if ContinuousClock.now - tablesCheckedAt > .seconds(5) {
            tablesCheckedAt = .now
            for (name, info) in tables where try await source.tableOID(name) != info.oid {
                throw CaptureError("\(name) was dropped or created again: preparing the capture again (a re-created table is read again)", isTransient: true)
            }
        }
        logger.trace("pass: reading the flush position")
        let flushed = try await source.flushLSN()
        logger.trace("pass: reading changes")
        let readStarted = ContinuousClock.now
        let count = try await source.changes(limit: options.batchMessages) { message in
            for change in try self.assembler.consume(message) { try await self.apply(change) }
        }
        if let chunk, count < options.batchMessages, flushed >= chunk.high {
            // Read to the end of what was flushed before this pass: every transaction the
            // chunk's snapshot saw is behind us.
            try await placeChunk()
        }
        if count < options.batchMessages, chunk == nil, transaction == nil, !dirty, flushed.value > checkpoint.confirmable.value + Self.idleConfirmLag {
            // Everything flushed before this pass was read and none of it is captured (other
            // tables' changes): the slot may move on, once a checkpoint says so.
            checkpoint.confirm = flushed.description
            dirty = true
        }
        logger.debug("pass: \(count) messages read in \(ContinuousClock.now - readStarted) (with the appends among them)")
        let appended = try await flush()
        // Caught up: the last append lands before the pass ends (else the next pass's decoding
        // overlaps it).
        // A transaction skipped as appended may be in the append still on its way: the slot moves
        // past it only once that has landed.
        if count < options.batchMessages || skippedTo > durable { try await settle() }
        let confirm = max(durable, skippedTo)
        logger.trace("pass: confirming \(confirm)")
        try await source.confirm(confirm)
        return count > 0 || appended
    }

    func readChunk(_ info: PostgresChangeSource.TableInfo, after: [String]?) async throws {
        do {
            let read = try await source.chunk(info, after: after, limit: options.chunkRows)
            // A transaction already read from the slot but still running in the snapshot (its
            // commit was flushed, not yet visible), or one running when the capture started,
            // would make the chunk older than the stream: the chunk waits (the changes do not).
            let xmax32 = UInt32(truncatingIfNeeded: read.xmax)
            let running32 = Set(read.running.map { UInt32(truncatingIfNeeded: $0) })
            if read.xmin < startTransaction || recent.contains(where: { running32.contains($0) || Int32(bitPattern: $0 &- xmax32) >= 0 }) {
                logger.debug("chunk of \(info.qualifiedName) waits: xmin \(read.xmin), start \(startTransaction), xmax \(read.xmax), running \(read.running.sorted()), recent in it \(recent.filter { running32.contains($0) || Int32(bitPattern: $0 &- xmax32) >= 0 })")
                let since = chunkBlockedSince ?? .now
                chunkBlockedSince = since
                if ContinuousClock.now - since > .seconds(10), !chunkBlockReported {
                    chunkBlockReported = true
                    logger.warning("the snapshot of \(info.qualifiedName) waits for transaction \(read.xmin) to end (open since before the capture started, or prepared)")
                }
                return
            }
            chunkBlockedSince = nil
            chunkBlockReported = false
            let shape = info.shape
            let keyIndexes = info.primaryKey.compactMap { key in info.columns.firstIndex { $0.name == key } }
            var rows: [(stream: String, values: [PgColumnValue], key: [String])] = []
            for values in read.rows {
                guard let stream = shape.streamId(values) else { throw CaptureError("a row of \(info.qualifiedName) has a null key") }
                if let problem = StreamName(category: "x", id: stream).problem {
                    throw CaptureError("a row of \(info.qualifiedName) cannot be a stream: \(problem)")
                }
                rows.append((stream, values, keyIndexes.map { if case let .text(text) = values[$0] { text } else { "" } }))
            }
            let lastKey = rows.last?.key
            chunk = SnapshotChunk(table: info.qualifiedName, rows: rows, lastKey: lastKey, isLast: read.rows.count < options.chunkRows,
                                  high: read.high, xmax: read.xmax, running: read.running)
        }
    }

    /// The chunk's rows go into the append here, with the snapshot's progress; a chunk larger
    /// than one append goes in several, each recording the last row it holds.
    func placeChunk() async throws {
        guard let placed = chunk, let info = tables[placed.table], let table = captured.first(where: { $0.qualifiedName == placed.table }) else { return }
        chunk = nil
        let now = Date()
        let nowText = ChangeAssembler.iso8601(now)
        var previousKey: [String]? = checkpoint.snapshotTable == placed.table ? checkpoint.snapshotAfter : nil
        for row in placed.rowsToAppend {
            guard let (stream, event) = ChangeAssembler.snapshotEvent(slot: source.slot, table: table, schema: info.schema, name: info.name,
                                                                      shape: info.shape, values: row.values, chunkLSN: placed.high,
                                                                      readAt: now, readAtText: nowText)
            else { continue }
            try await add(event, to: stream) {
                self.checkpoint.snapshotTable = placed.table
                self.checkpoint.snapshotAfter = previousKey
            }
            previousKey = row.key
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

    /// Adds an event to the append being built. When it would make the append too large, what is
    /// built goes first, with the checkpoint `beforeFlush` makes say where it stopped.
    func add(_ event: EventData, to stream: StreamName, beforeFlush: () -> Void) async throws {
        // Base64 of the payload, the event's other fields and the JSON around them.
        // (JSONEncoder writes base64's `/` as `\/`: an eighth more, generously.)
        let size = (event.data.count + 2) / 3 * 4 * 17 / 16 + event.type.utf8.count + 2 * (stream.category.utf8.count + stream.id.utf8.count) + 400
        if size + checkpointReserve > options.maxAppendBytes {
            throw CaptureError("an event of \(stream) is about \(size) bytes as JSON, more than --max-append-bytes \(options.maxAppendBytes) allows (keep that below the target's 1 MiB request limit)")
        }
        if pendingBytes + size + checkpointReserve > options.maxAppendBytes, !order.isEmpty {
            beforeFlush()
            _ = try await flush()
        }
        if parts[stream] == nil { order.append(stream) }
        parts[stream, default: []].append(event)
        pendingBytes += size
        dirty = true
    }

    func apply(_ change: CapturedChange) async throws {
        switch change {
        case let .begin(finalLSN, xid, commitTime):
            if let placed = chunk, finalLSN >= placed.high { try await placeChunk() }
            transaction = (finalLSN, xid, commitTime, checkpoint.appended(finalLSN))
        case let .event(stream, event, index):
            guard let open = transaction else { return }
            if var pending = chunk, captured.first(where: { $0.qualifiedName == pending.table })?.category == stream.category {
                pending.note(stream.id, by: open.xid)
                chunk = pending
            }
            guard let skip = open.skip, index >= skip else { return }
            try await add(event, to: stream) {
                // A transaction larger than one append: what is built goes in, and where in the
                // transaction it stopped.
                if index > 0 {
                    self.checkpoint.partialLSN = open.finalLSN.description
                    self.checkpoint.partialEvents = index
                }
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
        }
    }

    /// Starts the append of what was built with the checkpoint, all or nothing, once the one
    /// before it has landed: while it is on its way the next changes are decoded (one append in
    /// flight, in order, so a failed one stops every later one). Whether there was anything.
    func flush() async throws -> Bool {
        guard dirty else { return false }
        var appends = order.map { StreamAppend(parts[$0] ?? [], to: $0, expected: .any) }
        let expected: ExpectedVersion = checkpointVersion < 0 ? .noStream : .exact(checkpointVersion)
        let version = checkpointVersion + Int64(controlEvents.count) + 1
        appends.append(StreamAppend(controlEvents + [checkpoint.event(version: version, slot: source.slot)], to: checkpointStream, expected: expected))
        try await settle()
        let store = self.store
        inFlight = InFlight(task: Task { try await store.append(appends) }, version: version, confirm: checkpoint.confirmable,
                            events: parts.values.reduce(0) { $0 + $1.count })
        checkpointVersion = version
        parts = [:]
        order = []
        controlEvents = []
        pendingBytes = 0
        dirty = false
        return true
    }

    /// An append on its way.
    struct InFlight {
        var task: Task<[AppendOutcome], any Error>
        /// The checkpoint stream's version once it lands.
        var version: Int64
        /// What the slot may be confirmed up to then.
        var confirm: LSN
        var events: Int
    }

    /// Waits for the append in flight; from then on its checkpoint is durable.
    func settle() async throws {
        guard let pending = inFlight else { return }
        inFlight = nil
        let outcomes: [AppendOutcome]
        do {
            outcomes = try await pending.task.value
        } catch let EventStoreError.wrongExpectedVersion(stream, _, actual) where stream == checkpointStream {
            // This capture holds the slot's lock, so the append that moved it on was most likely
            // its own whose answer was lost: start again from the checkpoint.
            throw CaptureError("\(checkpointStream) is at version \(actual), not \(pending.version - 1): reading the checkpoint again", isTransient: true)
        } catch let EventStoreError.idempotencyConflict(stream, reason) {
            // The same: an earlier attempt (of this process or of one before it) landed part of
            // what this append repeats. The checkpoint says how far it got.
            throw CaptureError("\(stream): \(reason); reading the checkpoint again", isTransient: true)
        }
        guard outcomes.last?.lastVersion == pending.version else {
            throw CaptureError("the checkpoint landed at version \(outcomes.last?.lastVersion ?? -1), not \(pending.version): reading it again", isTransient: true)
        }
        eventsAppended += pending.events
        durable = max(durable, pending.confirm)
    }
}
