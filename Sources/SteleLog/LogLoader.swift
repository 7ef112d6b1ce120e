import SteleCore

/// What recovery found and did when a log was opened.
public struct RecoveryReport: Sendable, Equatable {
    public var segmentCount = 0
    /// Bytes of the last segment scanned to rebuild its in-memory indexes.
    public var scannedBytes: Int64 = 0
    /// Bytes cut from the end of the last segment: a torn write, never acknowledged.
    public var truncatedBytes: Int64 = 0
    public var tornTail: LogCorruption?
    /// Damaged batches followed by valid data: kept on disk for inspection, never served.
    public var corruptions: [LogCorruption] = []
    /// Sealed segments whose index files were missing or stale and were rebuilt from the log.
    public var rebuiltIndexes: [Int64] = []
    /// Compactions whose output was complete and was moved into place.
    public var completedSwaps: [Int64] = []
    /// Leftovers of interrupted operations that were removed.
    public var removedFiles: [String] = []
    /// Bytes of the active segment the recovery point said were synced and acknowledged (never cut).
    public var protectedBytes: Int64 = 0
    /// Where a cut torn tail was set aside (nothing is deleted implicitly).
    public var tornTailCopy: String?
    /// Why the `log-start-offset` file was not used (damaged or unreadable), if it was not.
    public var logStartOffsetProblem: String?

    public init() {}
}

/// Opens a partition directory and brings it to a consistent state (Kafka `LogLoader`).
///
/// Recovery is a function of the directory listing. Each file falls in exactly one case:
///
/// | file | meaning | action |
/// | --- | --- | --- |
/// | `N.log.cleaned`, `N.<index>.cleaned` | compaction output, not committed | delete |
/// | `….tmp` | a file written but not yet renamed into place | delete |
/// | `N.log.swap` | committed compaction output | rename its index `.swap` files, then it, into place |
/// | `N.<index>.swap` without `N.log.swap` | cannot happen in a committed order (indexes move first); stale | delete |
/// | `N.<index>` without `N.log` | left by retention | delete |
/// | `N.log`, not the last | sealed segment | trust the `.index` header if it matches the file size, else rebuild indexes |
/// | `N.log`, the last | active segment | scan it all: rebuild in-memory indexes, truncate a torn tail |
/// | anything else | not Stele's | left alone |
struct LogLoader {
    let directory: String
    let config: LogConfig
    let fileSystem: any FileSystem
    let decompressor: (any RecordDecompressor)?
    /// The time of the load: producer state replayed from the log expires relative to it.
    let now: Int64

    func load() throws -> ([LogSegment], ProducerStateTable, RecoveryReport) {
        var report = RecoveryReport()
        do {
            // A new partition directory's own entry must be durable before anything acknowledged
            // is written in it.
            try fileSystem.createDirectoryDurably(directory)
            try finishInterruptedOperations(&report)
            var bases = try liveLogBases(&report)
            if bases.isEmpty {
                _ = try fileSystem.openFile(LogFileNames.path(directory, baseOffset: 0, kind: .log), create: true)
                try fileSystem.syncDirectory(directory)
                bases = [0]
            }
            var segments: [LogSegment] = []
            for base in bases.dropLast() {
                segments.append(try loadSealed(base: base, report: &report))
            }
            var (producers, replayFrom) = try producerSnapshot(atOrBefore: bases.last!)
            let expiration = config.producerIdExpiration.milliseconds
            producers.stampUntimed(now: now)
            for segment in segments where segment.summary.nextOffset > replayFrom {
                // Rare: only when the snapshot written at the last roll is missing.
                _ = try SegmentScanner.scan(file: segment.file, expectedOffset: segment.baseOffset, allowsGaps: true) { _, batch, header in
                    if header.baseOffset >= replayFrom {
                        producers.replay(header, marker: TransactionMarker.of(controlBatch: batch, header: header), now: now, expirationMilliseconds: expiration)
                    }
                }
            }
            let (recoveryPoint, pointDamaged) = try readRecoveryPoint()
            segments.append(try loadActive(base: bases.last!, producers: &producers, report: &report,
                                           recoveryPoint: recoveryPoint, recoveryPointDamaged: pointDamaged))
            // A crash between creating a segment and syncing the directory leaves a name that is
            // not durable; appends about to be acknowledged into it need the name to survive.
            try fileSystem.syncDirectory(directory)
            report.segmentCount = segments.count
            producers.removeExpired(now: now, expirationMilliseconds: expiration)
            return (segments, producers, report)
        } catch {
            throw LogError(wrapping: error)
        }
    }

    private func finishInterruptedOperations(_ report: inout RecoveryReport) throws {
        let parsed = try fileSystem.contentsOfDirectory(directory).compactMap { name in LogFileNames.parse(name).map { (name, $0) } }
        let committed = Set(parsed.filter { $0.1.kind == .log && $0.1.stage == .swap }.map(\.1.baseOffset))
        var changed = false
        for (name, file) in parsed where file.stage == .cleaned || file.stage == .temporary
            || (file.stage == .swap && file.kind != .log && !committed.contains(file.baseOffset)) {
            try fileSystem.removeFile(directory + "/" + name)
            report.removedFiles.append(name)
            changed = true
        }
        for base in committed.sorted() {
            // Index files first, the log last: the log's rename is what makes the swap visible.
            for kind in [LogFileNames.Kind.index, .timeindex, .keyindex] {
                let swap = LogFileNames.path(directory, baseOffset: base, kind: kind, stage: .swap)
                let live = LogFileNames.path(directory, baseOffset: base, kind: kind)
                if fileSystem.fileExists(swap) {
                    try fileSystem.rename(swap, to: live)
                } else {
                    // The old index describes the old log: remove it so it is rebuilt.
                    try fileSystem.removeFileIfPresent(live)
                }
            }
            try fileSystem.rename(LogFileNames.path(directory, baseOffset: base, kind: .log, stage: .swap),
                                  to: LogFileNames.path(directory, baseOffset: base, kind: .log))
            report.completedSwaps.append(base)
            changed = true
        }
        if changed { try fileSystem.syncDirectory(directory) }
    }

    /// Base offsets of live `.log` files, ascending; removes index files that lost their log.
    private func liveLogBases(_ report: inout RecoveryReport) throws -> [Int64] {
        let parsed = try fileSystem.contentsOfDirectory(directory).compactMap { name in LogFileNames.parse(name).map { (name, $0) } }
        let bases = Set(parsed.filter { $0.1.kind == .log && $0.1.stage == .live }.map(\.1.baseOffset))
        var removed = false
        for (name, file) in parsed where file.stage == .live && file.kind != .log && !bases.contains(file.baseOffset) {
            try fileSystem.removeFile(directory + "/" + name)
            report.removedFiles.append(name)
            removed = true
        }
        if removed { try fileSystem.syncDirectory(directory) }
        return bases.sorted()
    }

    private var indexLoader: SealedIndexLoader {
        SealedIndexLoader(fileSystem: fileSystem, config: config, decompressor: decompressor)
    }

    private func loadSealed(base: Int64, report: inout RecoveryReport) throws -> LogSegment {
        let file = try fileSystem.openFile(LogFileNames.path(directory, baseOffset: base, kind: .log), create: false)
        let size = try file.size()
        let placeholder = SegmentSummary(baseOffset: base, nextOffset: base, logBytes: size, maxTimestamp: -1)
        let segment = LogSegment(baseOffset: base, directory: directory, file: file, summary: placeholder, active: nil)
        if let summary = indexLoader.summaryFromHeader(segment, logBytes: size) {
            segment.summary = summary
            return segment
        }
        var (builder, outcome) = try indexLoader.rebuild(baseOffset: base, file: file, directory: directory)
        if let torn = outcome.tornTail { outcome.corruptions.append(torn) }
        if builder.logBytes < size { builder.skipDamaged(bytes: Int(size - builder.logBytes)) }
        segment.summary = builder.summary
        try indexLoader.writeIndexFiles(builder, for: segment)
        report.corruptions += outcome.corruptions
        report.rebuiltIndexes.append(base)
        return segment
    }

    /// The newest producer-state snapshot at or before `offset`, and the offset replay starts from.
    private func producerSnapshot(atOrBefore offset: Int64) throws -> (ProducerStateTable, Int64) {
        let snapshots = try fileSystem.contentsOfDirectory(directory).compactMap(LogFileNames.parse)
            .filter { $0.kind == .producers && $0.stage == .live && $0.baseOffset <= offset }.map(\.baseOffset).sorted()
        for snapshot in snapshots.reversed() {
            if let bytes = try? fileSystem.readFile(LogFileNames.path(directory, baseOffset: snapshot, kind: .producers)),
               let table = ProducerStateTable.decode(bytes) {
                return (table, snapshot)
            }
        }
        return (ProducerStateTable(), 0)
    }

    /// How a damage that `stele log repair` handles is named (it matches these).
    static let damageBelowRecoveryPoint = "damage below the recovery point"
    static let damageFollowedByValidBatches = "damage followed by valid batches"

    /// The recovery point, and whether a file was there but damaged.
    private func readRecoveryPoint() throws -> (RecoveryPoint?, Bool) {
        let path = directory + "/" + RecoveryPoint.fileName
        guard fileSystem.fileExists(path) else { return (nil, false) }
        guard let point = RecoveryPoint.decode(try fileSystem.readFile(path)) else { return (nil, true) }
        return (point, false)
    }

    private func loadActive(base: Int64, producers: inout ProducerStateTable, report: inout RecoveryReport,
                            recoveryPoint: RecoveryPoint?, recoveryPointDamaged: Bool) throws -> LogSegment {
        let path = LogFileNames.path(directory, baseOffset: base, kind: .log)
        let file = try fileSystem.openFile(path, create: false)
        var builder = SegmentIndexBuilder(baseOffset: base, indexIntervalBytes: config.indexIntervalBytes)
        var replayed = producers
        let outcome = try indexLoader.scan(file: file, into: &builder, from: base) { header, batch in
            replayed.replay(header, marker: TransactionMarker.of(controlBatch: batch, header: header), now: now,
                            expirationMilliseconds: config.producerIdExpiration.milliseconds)
        }
        producers = replayed
        let size = try file.size()
        report.scannedBytes += size
        report.corruptions += outcome.corruptions
        // What the recovery point protects: bytes synced and acknowledged, never to be cut.
        var protected: Int64 = 0
        if let recoveryPoint {
            if recoveryPoint.segmentBase == base {
                protected = recoveryPoint.bytes
            } else if recoveryPoint.segmentBase > base {
                throw LogError.corruption(LogCorruption(file: path, position: size, reason:
                    "the recovery point is in segment \(recoveryPoint.segmentBase), which is missing: acknowledged records up to offset \(recoveryPoint.nextOffset) are gone"))
            }
        }
        report.protectedBytes = protected
        // A damaged batch the scan stepped over, below the point: acknowledged data is damaged.
        if let damage = outcome.corruptions.first(where: { $0.position < protected }) {
            throw LogError.corruption(LogCorruption(file: path, position: damage.position, reason:
                "\(LogLoader.damageBelowRecoveryPoint): a damaged batch at byte \(damage.position) (\(damage.reason)) inside bytes 0..<\(protected), synced and acknowledged; valid batches follow it"))
        }
        if outcome.validBytes < protected {
            let what = outcome.tornTail?.reason ?? "the file ends at byte \(size)"
            throw LogError.corruption(LogCorruption(file: path, position: outcome.validBytes, reason:
                "\(LogLoader.damageBelowRecoveryPoint): bytes \(outcome.validBytes)..<\(protected) were synced and acknowledged (offsets up to \(recoveryPoint!.nextOffset)); \(what)"))
        }
        if outcome.validBytes < size {
            if recoveryPointDamaged {
                throw LogError.corruption(LogCorruption(file: path, position: outcome.validBytes, reason:
                    "the segment ends in damage and \(RecoveryPoint.fileName) is damaged too, so a torn write cannot be told from lost acknowledged data; move \(RecoveryPoint.fileName) away to cut the tail as a torn write"))
            }
            // Bytes beyond the recovery point and after the last whole batch were never
            // acknowledged: an acknowledged append was synced (or, under weaker policies,
            // written) whole before it was acknowledged. They are set aside, not destroyed.
            let tail = try file.read(count: Int(size - outcome.validBytes), at: outcome.validBytes)
            // Unless whole batches follow the damage: a torn write leaves a prefix, so this is
            // damage to data the point (written at most a second ago) may not cover yet.
            if let next = SegmentScanner.endOfValidBatches(in: tail, minimumOffset: builder.nextOffset) {
                throw LogError.corruption(LogCorruption(file: path, position: outcome.validBytes, reason:
                    "\(LogLoader.damageFollowedByValidBatches): bytes from \(outcome.validBytes) on are damaged but hold whole batches up to offset \(next); cutting them could lose acknowledged records"))
            }
            let copy = LogFileNames.path(directory, baseOffset: base, kind: .log) + ".torn-\(outcome.validBytes)"
            try fileSystem.writeFile(copy, contents: tail)
            try file.truncate(to: outcome.validBytes)
            report.truncatedBytes = size - outcome.validBytes
            report.tornTail = outcome.tornTail
            report.tornTailCopy = copy
        }
        // What recovery keeps is served at once, so it must be durable first.
        try file.sync()
        return LogSegment(baseOffset: base, directory: directory, file: file, summary: builder.summary, active: builder)
    }
}
