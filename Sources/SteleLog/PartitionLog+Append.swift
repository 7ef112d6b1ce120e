import SteleCore

/// The result of an append.
public struct AppendResult: Sendable, Equatable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    /// The time the log stamped, for logs configured with `logAppendTime`; else `nil`.
    public var logAppendTime: Int64?
    /// For each record that carried an expectation, in batch order: its stream's version just
    /// before that record (-1: the stream was empty). This is how a writer learns the versions its records got.
    public var checkedVersions: [Int64] = []
}

/// Appends waiting for the writer. The writer (one drain job at a time on the I/O executor)
/// takes everything queued at once: that is the group commit, and appends arriving while a sync
/// is in flight form the next group.
struct AppendQueue: ~Copyable {
    enum Item {
        case batch(ValidatedBatch, CheckedContinuation<AppendResult, any Error>)
        /// Batches placed in order in one group (one write, one sync), answered together; the
        /// first refused ends the run, so none after it lands past a hole it would leave.
        case batches([ValidatedBatch], CheckedContinuation<[AppendResult], any Error>)
        /// Resumed once everything queued before it is written (used by `close`).
        case barrier(CheckedContinuation<Void, any Error>)
        /// The same, without closing the log (``PartitionLog/waitForQueuedAppends()``).
        case drained(CheckedContinuation<Void, any Error>)
    }

    /// The next group the writer takes, at most `maxAppendGroupBytes` of batches (or one item).
    var pending: [Item] = []
    var pendingBytes = 0
    /// Appends waiting for room in `pending`, oldest first. Each is a suspended appender holding
    /// its own batch: the listeners bound how many there can be (request memory, connections).
    /// Non-empty only while `pending` is.
    var waiting: [Item] = []
    var draining = false
    var closing = false

    /// Queues `item` in `pending` if it fits (or `pending` is empty), else in `waiting`; order
    /// is kept either way.
    mutating func add(_ item: Item, maxGroupBytes: Int) {
        let size = item.size
        if waiting.isEmpty && (pending.isEmpty || pendingBytes + size <= maxGroupBytes) {
            pending.append(item)
            pendingBytes += size
        } else {
            waiting.append(item)
        }
    }

    /// Takes the next group and refills `pending` from `waiting` up to the bound.
    mutating func takeGroup(maxGroupBytes: Int) -> [Item] {
        assert(waiting.isEmpty || !pending.isEmpty, "appends wait only behind a full group")
        let group = pending
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
        var admitted = 0
        for item in waiting {
            if !pending.isEmpty && pendingBytes + item.size > maxGroupBytes { break }
            pending.append(item)
            pendingBytes += item.size
            admitted += 1
        }
        waiting.removeFirst(admitted)
        return group
    }
}

extension AppendQueue.Item {
    var size: Int {
        switch self {
        case let .batch(batch, _): batch.bytes.count
        case let .batches(batches, _): batches.reduce(0) { $0 + $1.bytes.count }
        case .barrier, .drained: 0
        }
    }
}

extension PartitionLog {
    /// Index files hold 32-bit positions; 2 GiB leaves the top bit free (see `KeyIndexEntry`).
    static let maxSegmentBytes = Int64(Int32.max)

    /// Appends one RecordBatch v2 exactly as a Kafka producer sends it.
    ///
    /// The batch is validated first (see ``LogError/invalidBatch(_:)``); then only its base offset
    /// is assigned (and, for `logAppendTime` logs, its timestamp, with the CRC recomputed).
    /// Returns when the batch is acknowledged under the log's ``FlushPolicy``.
    public func append(_ batch: [UInt8]) async throws -> AppendResult {
        try await append(batch, expecting: [])
    }

    /// Appends a batch only if every stream is at its expected version (an event store's
    /// optimistic-concurrency check). Expectations are checked in order — a later one for the
    /// same stream sees the records of the earlier ones in this batch counted — by the log's
    /// single writer, just before it places the batch: no other append can come between the
    /// check and the write. On a failed check nothing is written and
    /// ``LogError/wrongExpectedVersion(stream:expected:actual:)`` names the stream and both versions.
    public func append(_ batch: [UInt8], expecting expectations: [StreamExpectation]) async throws -> AppendResult {
        var validated = try LogValidator.validate(batch, config: config, decompressor: decompressor)
        validated.expectations = expectations
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(.batch(validated, continuation))
        }
    }

    /// Appends the marker that ends `producerId`'s transaction in this partition (the
    /// transaction coordinator's job; Kafka `WriteTxnMarkers`). A marker of an epoch older than
    /// the producer's current one is refused (``LogError/ProducerRejection/invalidProducerEpoch(_:)``);
    /// a marker for a producer with no transaction open here is written and changes nothing,
    /// so a coordinator that repeats its markers after a crash is harmless.
    public func appendMarker(_ marker: TransactionMarker, producerId: Int64, producerEpoch: Int16,
                             coordinatorEpoch: Int32 = 0) async throws -> AppendResult {
        let bytes = marker.batch(producerId: producerId, producerEpoch: producerEpoch, coordinatorEpoch: coordinatorEpoch, timestamp: clock())
        let validated = try LogValidator.validate(bytes, config: config, decompressor: decompressor, allowsMarker: true)
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(.batch(validated, continuation))
        }
    }

    /// Appends a batch exactly as its source log holds it, at the offsets it has there: a
    /// mirror's append (Kafka's `appendAsFollower`), for logs configured with
    /// ``LogConfig/keepsSourceOffsets``.
    ///
    /// - The batch keeps its bytes: its base offset, its timestamps (LogAppendTime stamps too)
    ///   and its control batches (transaction markers) are the source's. Its length, CRC and
    ///   records are checked as any batch's.
    /// - Its base offset is at or past the log end offset; the offsets between stay a gap (what
    ///   the source compacted away or deleted), which reads step over.
    /// - A batch ending at or before the log end offset is here already (a mirror sending again
    ///   after a restart): answered with its offsets, nothing written. One that straddles the
    ///   log end offset is refused (``LogError/invalidBatch(_:)``): this log and its source disagree.
    /// - Producer state is recorded, not checked (the source checked it), so the last stable
    ///   offset and the aborted transactions are what the source serves, and producer ids the
    ///   source handed out are never handed out here.
    /// - A batch more than 2³² offsets past its segment's base is refused (index offsets are 32-bit).
    public func appendKeepingOffsets(_ batch: [UInt8]) async throws -> AppendResult {
        try await appendKeepingOffsets([batch])[0]
    }

    /// Appends consecutive batches of the source log as ``appendKeepingOffsets(_:)`` does one,
    /// in order and in one group: one write and, under ``FlushPolicy/always``, one sync for all
    /// of them (a mirror's Produce carries a fetch's worth per partition). All are validated
    /// before any is queued; the first one refused while placing ends the run and its error is
    /// thrown, with the batches before it written (a resend answers them as already there).
    public func appendKeepingOffsets(_ batches: [[UInt8]]) async throws -> [AppendResult] {
        guard config.keepsSourceOffsets else {
            throw LogError.invalidBatch("this log assigns its own offsets: it is not a mirror's (keepsSourceOffsets)")
        }
        precondition(!batches.isEmpty, "appendKeepingOffsets needs a batch")
        let validated = try batches.map { try LogValidator.validate($0, config: config, decompressor: decompressor, mirrored: true) }
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(.batches(validated, continuation))
        }
    }

    func enqueue(_ item: AppendQueue.Item) {
        let startDrain = appendQueue.withLock { queue -> Bool in
            if queue.closing {
                switch item {
                case let .batch(_, continuation): continuation.resume(throwing: LogError.closed)
                case let .batches(_, continuation): continuation.resume(throwing: LogError.closed)
                case let .barrier(continuation): continuation.resume(throwing: LogError.closed)
                case let .drained(continuation): continuation.resume(throwing: LogError.closed)
                }
                return false
            }
            if case .barrier = item { queue.closing = true }
            queue.add(item, maxGroupBytes: config.maxAppendGroupBytes)
            if queue.draining { return false }
            queue.draining = true
            return true
        }
        if startDrain { executor.submit { self.drain() } }
    }

    /// Runs on the I/O executor until the queue is empty. At most one drain per log runs at a time.
    private func drain() {
        while true {
            let group = appendQueue.withLock { queue -> [AppendQueue.Item] in
                let group = queue.takeGroup(maxGroupBytes: config.maxAppendGroupBytes)
                if group.isEmpty { queue.draining = false }
                return group
            }
            if group.isEmpty { return }
            writeGroup(group)
        }
    }

    private func writeGroup(_ group: [AppendQueue.Item]) {
        var results: [Result<[AppendResult], LogError>] = []
        var writer = GroupWriter()
        let outcome: Result<Void, LogError>
        do {
            if let failure = state.withLock({ $0.failure }), !recoverFromTransientFailure(failure) { throw failure }
            for item in group {
                switch item {
                case let .batch(batch, _): results.append(try place(batch, writer: &writer).map { [$0] })
                case let .batches(batches, _): results.append(try placeInOrder(batches, writer: &writer))
                case .barrier, .drained: break
                }
            }
            try writer.flush(to: state.withLock { $0.active })
            try publishAfterWrite()
            outcome = .success(())
        } catch {
            let failure = LogError(wrapping: error)
            // Whatever reached the file is unknown now: refuse appends until recovery decides.
            state.withLock { if $0.failure == nil, case .storage = failure { $0.failure = failure } }
            outcome = .failure(failure)
        }
        // Every item of the group is answered, whatever happened: a lost continuation would
        // leave its appender waiting forever.
        var next = results.makeIterator()
        for item in group {
            switch (item, outcome) {
            case let (.batch(_, continuation), .success): continuation.resume(with: next.next()!.map { $0[0] }.mapError { $0 as any Error })
            case let (.batch(_, continuation), .failure(error)): continuation.resume(throwing: error)
            case let (.batches(_, continuation), .success): continuation.resume(with: next.next()!.mapError { $0 as any Error })
            case let (.batches(_, continuation), .failure(error)): continuation.resume(throwing: error)
            case let (.barrier(continuation), _), let (.drained(continuation), _): continuation.resume()
            }
        }
    }

    /// Places `batches` one after the other until one is refused: that refusal answers the run.
    private func placeInOrder(_ batches: [ValidatedBatch], writer: inout GroupWriter) throws -> Result<[AppendResult], LogError> {
        var placed: [AppendResult] = []
        placed.reserveCapacity(batches.count)
        for batch in batches {
            switch try place(batch, writer: &writer) {
            case let .success(result): placed.append(result)
            case let .failure(error): return .failure(error)
            }
        }
        return .success(placed)
    }

    /// Assigns the batch its offsets inside the active segment (rolling first if needed) and
    /// queues its bytes for writing — or, for an idempotent producer's retry, answers with the
    /// original offsets, or refuses a batch out of sequence. A mirrored batch keeps its offsets
    /// instead (``appendKeepingOffsets(_:)``). Throws only for I/O failures.
    private func place(_ batch: ValidatedBatch, writer: inout GroupWriter) throws -> Result<AppendResult, LogError> {
        let expiration = config.producerIdExpiration.milliseconds
        let checkedAt = clock()
        state.withLock { state in
            // Expired producers are dropped at most once a minute (Kafka checks every ten).
            if checkedAt - state.lastProducerExpiryMilliseconds >= min(expiration, 60_000) {
                state.producers.removeExpired(now: checkedAt, expirationMilliseconds: expiration)
                state.lastProducerExpiryMilliseconds = checkedAt
            }
        }
        if batch.keepsOffsets {
            if config.refusesSourceBatches {
                return .failure(.invalidBatch("this mirror log was promoted: it takes no more of its source's batches"))
            }
            let end = state.withLock { $0.logEndOffset }
            if batch.header.nextOffset <= end {
                return .success(AppendResult(baseOffset: batch.header.baseOffset, lastOffset: batch.header.lastOffset, logAppendTime: nil))
            }
            if batch.header.baseOffset < end {
                return .failure(.invalidBatch("offsets \(batch.header.baseOffset)…\(batch.header.lastOffset) straddle the log end offset \(end): this log and its source disagree"))
            }
        } else {
            switch state.withLock({ $0.producers.check(batch.header, now: checkedAt, expirationMilliseconds: expiration) }) {
            case .append: break
            case let .duplicate(baseOffset, lastOffset):
                return .success(AppendResult(baseOffset: baseOffset, lastOffset: lastOffset, logAppendTime: nil))
            case let .reject(rejection):
                return .failure(.producerRejected(rejection))
            }
        }
        let checkedVersions: [Int64]
        switch try checkExpectations(batch) {
        case let .success(versions): checkedVersions = versions
        case let .failure(conflict): return .failure(conflict)
        }
        let now = clock()
        if state.withLock({ needsRoll(before: batch, active: $0.active, now: now) }) {
            try writer.flush(to: state.withLock { $0.active })
            try roll()
        }
        if batch.keepsOffsets, batch.header.nextOffset - state.withLock({ $0.active.baseOffset }) > Int64(UInt32.max) {
            // Only past a gap of more than 2³² offsets in an empty segment (a full one rolled).
            return .failure(.invalidBatch("offset \(batch.header.baseOffset) is more than 2^32 offsets past its segment's base \(state.withLock { $0.active.baseOffset })"))
        }
        var bytes = batch.bytes
        var header = batch.header
        let logAppendTime = config.timestampType == .logAppendTime && !batch.keepsOffsets ? now : nil
        return .success(state.withLock { state in
            let segment = state.active
            if batch.keepsOffsets {
                assert(header.baseOffset >= state.logEndOffset, "a mirrored batch is placed at or past the log end")
            } else {
                header.baseOffset = state.logEndOffset
            }
            bytes.withUnsafeMutableBytes { raw in
                if !batch.keepsOffsets { RecordBatch.setBaseOffset(header.baseOffset, in: raw) }
                if let logAppendTime { RecordBatch.setLogAppendTime(logAppendTime, in: raw) }
            }
            if let logAppendTime {
                header.attributes.timestampType = .logAppendTime
                header.maxTimestamp = logAppendTime
            }
            let position = segment.summary.logBytes
            if position == 0 { segment.firstAppendMilliseconds = now }
            segment.active!.add(batchAt: position, header: header, keyedRecords: batch.keyedRecords)
            segment.summary = segment.active!.summary
            state.logEndOffset = header.nextOffset
            for record in batch.keyedRecords { state.versions.recordAppend(of: record.key) }
            state.producers.record(header, marker: batch.marker, now: now, expirationMilliseconds: expiration)
            writer.add(bytes, at: position)
            return AppendResult(baseOffset: header.baseOffset, lastOffset: header.lastOffset, logAppendTime: logAppendTime,
                                checkedVersions: checkedVersions)
        })
    }

    /// Checks a batch's expectations against the streams' current versions. Runs on the
    /// writer, so the versions cannot change before the batch is placed.
    private func checkExpectations(_ batch: ValidatedBatch) throws -> Result<[Int64], LogError> {
        guard !batch.expectations.isEmpty else { return .success([]) }
        var checked: [Int64] = []
        let byRecord = Dictionary(batch.expectations.map { ($0.offsetDelta, $0.expected) }, uniquingKeysWith: { first, _ in first })
        var current: [[UInt8]: Int64] = [:]
        for record in batch.keyedRecords {
            let version = try current[record.key] ?? streamVersionBlocking(key: record.key)
            if let expected = byRecord[record.offsetDelta], !expected.isSatisfied(byCurrentVersion: version) {
                return .failure(.wrongExpectedVersion(stream: record.key, expected: expected, actual: version, offsetDelta: record.offsetDelta))
            }
            if byRecord[record.offsetDelta] != nil { checked.append(version) }
            current[record.key] = version + 1
        }
        if let stray = byRecord.keys.first(where: { delta in !batch.keyedRecords.contains { $0.offsetDelta == delta } }) {
            return .failure(.invalidBatch("an expected version is attached to record \(stray), which has no key (no stream)"))
        }
        return .success(checked)
    }

    private func needsRoll(before batch: ValidatedBatch, active: LogSegment, now: Int64) -> Bool {
        guard let builder = active.active, builder.logBytes > 0 else { return false }
        if builder.logBytes + Int64(batch.bytes.count) > min(Int64(config.segmentBytes), Self.maxSegmentBytes) { return true }
        if builder.keyIndex.entryCount + batch.keyedRecords.count > config.maxKeyIndexEntries { return true }
        // Relative offsets in index files are 32-bit (a mirrored batch keeps its own base offset).
        let batchEnd = batch.keepsOffsets ? batch.header.nextOffset : builder.nextOffset + Int64(batch.header.recordCount)
        if batchEnd - builder.baseOffset > Int64(UInt32.max) { return true }
        if let age = config.segmentAge, let first = active.firstAppendMilliseconds, now - first > age.milliseconds { return true }
        return false
    }

    /// Seals the active segment and starts a new one at the log end offset.
    ///
    /// Order matters for recovery: the old segment is synced and its index files written before
    /// the new segment exists, so a crash at any step leaves either the old segment as the last
    /// (it is rescanned) or a sealed segment whose indexes are complete (or rebuilt if torn).
    func roll() throws {
        let old = state.withLock { $0.active }
        let builder = state.withLock { _ in old.active! }
        do {
            try old.file.sync()
            for (kind, bytes) in builder.encodedFiles() {
                try fileSystem.writeFile(old.indexPath(kind), contents: bytes)
            }
            let base = builder.nextOffset
            // Producer state as of the new segment's start: recovery replays only what follows.
            let producers = state.withLock { state in
                state.producers.forgetAborted(below: state.logStartOffset)
                return state.producers
            }
            try fileSystem.writeFile(LogFileNames.path(directory, baseOffset: base, kind: .producers), contents: producers.encoded())
            let path = LogFileNames.path(directory, baseOffset: base, kind: .log)
            let file = try fileSystem.openFile(path, create: true)
            let existing = try file.size()
            precondition(existing == 0, "a new segment's file is empty: \(path)")
            try fileSystem.syncDirectory(directory)
            let fresh = LogSegment(baseOffset: base, directory: directory, file: file,
                                   summary: SegmentSummary(baseOffset: base, nextOffset: base, logBytes: 0, maxTimestamp: -1),
                                   active: SegmentIndexBuilder(baseOffset: base, indexIntervalBytes: config.indexIntervalBytes))
            // Where index files can be mapped, the sealed key index is mapped on first use rather
            // than kept on the heap, so sealed segments cost page cache, not process memory.
            if !fileSystem.supportsMapping {
                let sealed = builder.sealed()
                old.sealed.withLock { $0 = sealed }
                indexCache.didLoad(old, bytes: sealed.memoryBytes)
            }
            let now = clock()
            state.withLock { state in
                old.active = nil
                state.segments.append(fresh)
                // The old segment is synced whole: all of it is durable and visible.
                state.highWatermark = max(state.highWatermark, builder.nextOffset)
                state.durableOffset = max(state.durableOffset, builder.nextOffset)
                state.visibleBytes = 0
                state.lastSyncMilliseconds = now
            }
            noteDurable(RecoveryPoint(segmentBase: base, bytes: 0, nextOffset: base))
        } catch {
            throw LogError(wrapping: error)
        }
    }

    /// After a group is written: sync if the policy says so, then let readers see it.
    private func publishAfterWrite() throws {
        let now = clock()
        let (segment, lastSync) = state.withLock { ($0.active, $0.lastSyncMilliseconds) }
        let mustSync: Bool
        switch config.flushPolicy {
        case .always: mustSync = true
        case let .interval(interval): mustSync = now - lastSync >= interval.milliseconds
        case .os: mustSync = false
        }
        if mustSync {
            do { try segment.file.sync() } catch { throw LogError(wrapping: error) }
        }
        state.withLock { state in
            // Only the drain appends, so the active segment cannot have changed since the write.
            assert(state.active === segment)
            state.highWatermark = state.logEndOffset
            state.visibleBytes = segment.summary.logBytes
            if mustSync {
                state.durableOffset = state.logEndOffset
                state.lastSyncMilliseconds = now
            }
        }
        if mustSync {
            noteDurable(RecoveryPoint(segmentBase: segment.baseOffset, bytes: segment.summary.logBytes, nextOffset: segment.summary.nextOffset))
        }
    }
}

/// Bytes of one group destined for the active segment, written with one `pwrite`.
struct GroupWriter {
    private var buffer: [UInt8] = []
    private var position: Int64 = -1

    mutating func add(_ bytes: [UInt8], at position: Int64) {
        if buffer.isEmpty { self.position = position }
        assert(self.position + Int64(buffer.count) == position, "a group is contiguous")
        buffer.append(contentsOf: bytes)
    }

    mutating func flush(to segment: LogSegment) throws {
        guard !buffer.isEmpty else { return }
        do { try segment.file.write(buffer, at: position) } catch { throw LogError(wrapping: error) }
        buffer.removeAll(keepingCapacity: true)
    }
}
