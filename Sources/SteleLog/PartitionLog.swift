import Synchronization
import SteleCore

/// One partition: an append-only, ordered, durable log of Kafka record batches.
///
/// ```swift
/// let log = try await PartitionLog.open(directory: "data/accounts-0")
/// let appended = try await log.append(batchBytes)          // acknowledged after fdatasync
/// let fetched = try await log.read(from: 0, maxBytes: 1 << 20)
/// let stream = try await log.readStream(key: Array("acc-1".utf8), fromVersion: 0)
/// try await log.close()
/// ```
///
/// Guarantees:
/// - **Order and durability.** Offsets are assigned in append order. With `FlushPolicy.always`
///   an append returns only after its bytes are synced, and readers never see bytes that are
///   not yet synced, so nothing a reader saw can vanish in a power failure.
/// - **Integrity.** Every batch is validated (CRC32C, lengths, record layout) before it is
///   written and checked again before it is served. Damaged bytes produce ``LogError/corruption(_:)``.
/// - **Isolation.** One writer (the append drain) per log; readers read positionally and never
///   block it. Blocking I/O runs on an ``IOExecutor``, never on Swift's cooperative pool.
///
/// Offsets: `logStartOffset ≤ highWatermark ≤ logEndOffset`. The high watermark is the end of
/// what readers may see; `durableOffset` the end of what is synced.
public final class PartitionLog: Sendable {
    public let directory: String
    /// The log's settings. The topic-level ones (see ``reconfigure(_:)``) can change while the
    /// log is open; each use reads the current value.
    public var config: LogConfig { currentConfig.withLock { $0 } }
    private let currentConfig: Mutex<LogConfig>
    public let recoveryReport: RecoveryReport
    let fileSystem: any FileSystem
    let executor: IOExecutor
    let maintenanceExecutor: IOExecutor
    let clock: @Sendable () -> Int64
    let decompressor: (any RecordDecompressor)?
    let state: Mutex<State>
    let appendQueue = Mutex(AppendQueue())
    let indexCache: IndexCache
    /// Serializes retention, compaction and segment deletion with one another (not with appends).
    let maintenanceLock = Mutex(())
    private let flushTask: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let recoveryPointTask: Mutex<Task<Void, Never>?> = Mutex(nil)
    /// The last durable point (`pending`, noted at every sync without I/O) and the one in the
    /// file; the checkpointer writes the first when it is ahead of the second.
    let recoveryPoints = Mutex<(pending: RecoveryPoint?, written: RecoveryPoint?)>((nil, nil))

    struct State: ~Copyable {
        var segments: [LogSegment]
        var logEndOffset: Int64
        var highWatermark: Int64
        /// Bytes of the active segment readers may see (those below the high watermark).
        var visibleBytes: Int64
        var durableOffset: Int64
        var lastSyncMilliseconds: Int64
        var closed = false
        /// Set after a failed write: the log refuses appends until reopened (or, for a resource
        /// that comes back, until it recovers in place: `recoverFromTransientFailure`).
        var failure: LogError?
        var lastRecoveryAttemptMilliseconds: Int64 = .min / 2
        var lastProducerExpiryMilliseconds: Int64 = .min / 2
        var versions: VersionCache
        var producers: ProducerStateTable

        /// The first offset served: the first segment's base, or beyond it after DeleteRecords
        /// (``LogStartOffsetFile``). Never below the first segment's base, never above the end.
        var logStartOffset: Int64

        var active: LogSegment { segments[segments.count - 1] }
    }

    /// Opens the log in `directory`, creating it if needed, and recovers it (see ``RecoveryReport``).
    public static func open(
        directory: String, config: LogConfig = LogConfig(), fileSystem: any FileSystem = POSIXFileSystem(),
        executor: IOExecutor = .shared, maintenanceExecutor: IOExecutor = .maintenance,
        clock: @escaping @Sendable () -> Int64 = wallClockMilliseconds,
        decompressor: (any RecordDecompressor)? = nil
    ) async throws -> PartitionLog {
        let loader = LogLoader(directory: directory, config: config, fileSystem: fileSystem, decompressor: decompressor, now: clock())
        let (segments, producers, loaded) = try await executor.run { try loader.load() }
        var report = loaded
        let (deletedBelow, problem) = LogStartOffsetFile.read(in: directory, fileSystem: fileSystem)
        report.logStartOffsetProblem = problem
        let end = segments.last!.summary.nextOffset
        // A start beyond the end: DeleteRecords took records a crash then lost before they were
        // synced (under a flush policy that allows that). The end wins, and the file is
        // rewritten to it before any append, or the next open would hide records appended now.
        let start = min(max(segments[0].baseOffset, deletedBelow ?? 0), end)
        if let deletedBelow, deletedBelow > end {
            try await executor.run {
                try fileSystem.writeFileDurably(directory + "/" + LogStartOffsetFile.fileName, contents: LogStartOffsetFile.encode(end))
            }
        }
        let log = PartitionLog(directory: directory, config: config, fileSystem: fileSystem, executor: executor,
                               maintenanceExecutor: maintenanceExecutor, clock: clock, decompressor: decompressor,
                               segments: segments, logStartOffset: start, producers: producers, report: report)
        // Recovery synced what it kept: that is the first point, written before any append.
        let kept = log.state.withLock { RecoveryPoint(segmentBase: $0.active.baseOffset, bytes: $0.visibleBytes, nextOffset: $0.logEndOffset) }
        log.recoveryPoints.withLock { $0.pending = kept }
        try await executor.run { try log.writeRecoveryPoint() }
        log.startIntervalFlusher()
        log.startRecoveryPointWriter()
        return log
    }

    private init(directory: String, config: LogConfig, fileSystem: any FileSystem, executor: IOExecutor,
                 maintenanceExecutor: IOExecutor, clock: @escaping @Sendable () -> Int64, decompressor: (any RecordDecompressor)?,
                 segments: [LogSegment], logStartOffset: Int64, producers: ProducerStateTable, report: RecoveryReport) {
        precondition(!segments.isEmpty && segments.last!.isActive)
        self.directory = directory
        self.currentConfig = Mutex(config)
        self.fileSystem = fileSystem
        self.executor = executor
        self.maintenanceExecutor = maintenanceExecutor
        self.clock = clock
        self.decompressor = decompressor
        self.recoveryReport = report
        self.indexCache = IndexCache(budgetBytes: config.indexCacheBytes)
        let end = segments.last!.summary.nextOffset
        // The age of a recovered segment counts from now: its first append time was not kept.
        if segments.last!.summary.logBytes > 0 { segments.last!.firstAppendMilliseconds = clock() }
        // Recovery synced what it kept, so everything on disk is durable and visible.
        self.state = Mutex(State(segments: segments, logEndOffset: end, highWatermark: end,
                                 visibleBytes: segments.last!.summary.logBytes, durableOffset: end,
                                 lastSyncMilliseconds: clock(), versions: VersionCache(capacity: config.versionCacheEntries),
                                 producers: producers, logStartOffset: logStartOffset))
    }

    /// The first offset still in the log.
    public var logStartOffset: Int64 { state.withLock { $0.logStartOffset } }
    /// The offset the next appended record will get.
    public var logEndOffset: Int64 { state.withLock { $0.logEndOffset } }
    /// The end of what readers may see: the durable offset under `FlushPolicy.always`, else the log end offset.
    public var highWatermark: Int64 { state.withLock { $0.highWatermark } }
    /// The end of what is synced to disk.
    public var durableOffset: Int64 { state.withLock { $0.durableOffset } }
    /// Base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { state.withLock { $0.segments.map(\.baseOffset) } }
    /// The storage failure that stopped this partition (a failed write or fsync), if any: appends
    /// are refused until the log is reopened and recovery decides what is on disk.
    public var storageFailure: LogError? { state.withLock { $0.failure } }
    /// The highest producer id with batches retained in this log (idempotent producers).
    public var highestProducerId: Int64? {
        state.withLock { $0.producers.highestProducerIdSeen ?? $0.producers.producerIds.max() }
    }
    /// Idempotent producers whose state this partition keeps (bounded by `producerIdExpiration`).
    public var retainedProducerCount: Int { state.withLock { $0.producers.producerIds.count } }

    /// An idempotent producer this partition keeps state for (Kafka's DescribeProducers).
    public struct ActiveProducer: Sendable, Equatable {
        public var producerId: Int64
        public var epoch: Int16
        /// The sequence of its last appended record; -1 when none is retained.
        public var lastSequence: Int32
        /// When it last appended (the log's clock), -1 when unknown.
        public var lastAppendMilliseconds: Int64
        /// The first offset of its transaction open here, -1 when none.
        public var transactionStartOffset: Int64 = -1
    }

    /// The producers (idempotent or transactional) this partition keeps state for, by id.
    public var activeProducers: [ActiveProducer] {
        state.withLock { state in
            state.producers.producers.sorted { $0.key < $1.key }.map { id, producer in
                ActiveProducer(producerId: id, epoch: producer.epoch, lastSequence: producer.batches.last?.lastSequence ?? -1,
                               lastAppendMilliseconds: producer.lastAppendMilliseconds ?? -1, transactionStartOffset: producer.transactionFirstOffset ?? -1)
            }
        }
    }
    /// Bytes in all segments.
    public var sizeInBytes: Int64 { state.withLock { $0.segments.reduce(0) { $0 + $1.summary.logBytes } } }

    /// Takes the topic-level settings of `update` (Kafka's dynamic topic configs: segment size and
    /// age, index interval, retention, cleanup policy, tombstone retention, timestamp type,
    /// largest batch); the rest (flush policy, caches, producer expiry) stay as opened, since
    /// they size structures built at open. Appends and maintenance see the change from their
    /// next use; a segment already rolled keeps its index interval.
    public func reconfigure(_ update: LogConfig) {
        currentConfig.withLock { config in
            config.segmentBytes = update.segmentBytes
            config.segmentAge = update.segmentAge
            config.indexIntervalBytes = update.indexIntervalBytes
            config.retention = update.retention
            config.retentionBytes = update.retentionBytes
            config.cleanupPolicy = update.cleanupPolicy
            config.deleteRetention = update.deleteRetention
            config.timestampType = update.timestampType
            config.maxBatchBytes = update.maxBatchBytes
            config.refusesSourceBatches = update.refusesSourceBatches
        }
    }

    /// Syncs everything written so far.
    public func flush() async throws {
        try await executor.run { try self.syncWritten() }
    }

    /// Returns once every append queued before the call has been placed (written, or refused):
    /// after it, what they did to the producer state is visible. The log stays open.
    public func waitForQueuedAppends() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(.drained(continuation))
        }
    }

    /// Waits for queued appends, syncs, and closes. Later calls fail with ``LogError/closed``.
    public func close() async throws {
        flushTask.withLock { $0?.cancel() }
        recoveryPointTask.withLock { $0?.cancel() }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(.barrier(continuation))
        }
        try await executor.run {
            // After a failure nothing more may be claimed durable: no sync; the point keeps only
            // what syncs before the failure made durable.
            if let failure = self.state.withLock({ state -> LogError? in
                if state.failure != nil { state.closed = true }
                return state.failure
            }) {
                try? self.writeRecoveryPoint()
                throw failure
            }
            try self.syncWritten()
            try self.writeRecoveryPoint()
            self.state.withLock { $0.closed = true }
        }
        // A retention or compaction pass still running works on this log's files by path: wait
        // for it (later ones see the log closed), so it cannot touch a topic created again.
        await maintenanceExecutor.runIgnoringErrors { self.maintenanceLock.withLock { _ in } }
    }

    /// Syncs the active segment and advances the durable offset to what was written before the sync.
    func syncWritten() throws {
        if let failure = state.withLock({ $0.failure }) { throw failure }
        // Under every policy the high watermark only covers bytes already written, so what it
        // covers before the sync is what the sync makes durable.
        let (segment, written, bytes) = state.withLock { state -> (LogSegment, Int64, Int64) in
            (state.active, state.highWatermark, state.visibleBytes)
        }
        do { try segment.file.sync() } catch {
            // A failed fsync is final (PostgreSQL and Kafka halt for the same reason): the kernel
            // may already have dropped the dirty pages and reports the error once, so a later
            // sync that "succeeds" proves nothing. The partition refuses appends from now on;
            // a restart recovers from what is really on disk.
            let failure = LogError(wrapping: error)
            state.withLock { if $0.failure == nil { $0.failure = failure } }
            throw failure
        }
        let now = clock()
        state.withLock { state in
            state.durableOffset = max(state.durableOffset, written)
            state.lastSyncMilliseconds = now
        }
        noteDurable(RecoveryPoint(segmentBase: segment.baseOffset, bytes: bytes, nextOffset: written))
    }

    /// Notes what a sync made durable; the recovery-point writer persists it (no I/O here).
    func noteDurable(_ point: RecoveryPoint) {
        recoveryPoints.withLock { points in
            if points.pending.map({ point.isAhead(of: $0) }) ?? true { points.pending = point }
        }
    }

    /// Writes the pending recovery point if it is ahead of the one on disk. A failure stops the
    /// partition like a failed fsync (the file is written and synced the same way).
    func writeRecoveryPoint() throws {
        // Even after a failure: the pending point holds only syncs that succeeded before it.
        try recoveryPoints.withLock { points in
            guard let pending = points.pending, points.written.map({ pending.isAhead(of: $0) }) ?? true else { return }
            do { try fileSystem.writeFile(directory + "/" + RecoveryPoint.fileName, contents: pending.encoded()) } catch {
                let failure = LogError(wrapping: error)
                state.withLock { if $0.failure == nil { $0.failure = failure } }
                throw failure
            }
            points.written = pending
        }
    }

    /// Every ``LogConfig/recoveryPointInterval``, persists the recovery point when syncs moved it.
    private func startRecoveryPointWriter() {
        let interval = config.recoveryPointInterval
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                let due = self.recoveryPoints.withLock { points in
                    guard let pending = points.pending else { return false }
                    return points.written.map { pending.isAhead(of: $0) } ?? true
                }
                if due { try? await self.executor.run { try self.writeRecoveryPoint() } }
            }
        }
        recoveryPointTask.withLock { $0 = task }
    }

    private func startIntervalFlusher() {
        guard case let .interval(interval) = config.flushPolicy else { return }
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                // After a failed sync the partition is stopped; syncing again would only hide it.
                // A transient failure (a full disk) is waited out: the next append recovers.
                do { try await self.flush() } catch {
                    if let failure = self.storageFailure, Self.isTransient(failure) { continue }
                    return
                }
            }
        }
        flushTask.withLock { $0 = task }
    }

    func checkOpen(_ state: borrowing State) throws(LogError) {
        if state.closed { throw .closed }
    }
}

/// Milliseconds since the Unix epoch, Kafka's timestamp unit.
@Sendable public func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
