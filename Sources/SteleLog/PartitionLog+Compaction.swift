import SteleCore

/// What one compaction pass did.
public struct CompactionReport: Sendable, Equatable {
    public var segmentsRewritten = 0
    public var recordsRemoved = 0
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0
}

extension PartitionLog {
    /// Keeps only the latest record per key in the sealed segments and drops tombstones older
    /// than `deleteRetention` (Kafka's log cleaner). Offsets of kept records never change.
    ///
    /// Runs beside appends: it rewrites sealed segments only, consults the active segment's
    /// in-memory key index for durable records, and takes the state lock just to swap a cleaned
    /// segment in. Each segment is replaced in crash-safe steps — output written
    /// and synced as `.cleaned`, committed by renaming the log to `.swap`, moved into place —
    /// so that a crash anywhere leaves either the old segment or the new one (see `LogLoader`).
    public func compact() async throws -> CompactionReport {
        try await maintenanceExecutor.run { try self.maintenanceLock.withLock { _ in try self.compactBlocking() } }
    }

    private func compactBlocking() throws -> CompactionReport {
        guard config.cleanupPolicy.contains(.compact), !state.withLock({ $0.closed }) else { return CompactionReport() }
        let segments = state.withLock { $0.segments }
        let horizon = clock() - config.deleteRetention.milliseconds
        var report = CompactionReport()
        for (index, segment) in segments.dropLast().enumerated() {
            let newer = Array(segments[(index + 1)...])
            let doomed = try offsetsToRemove(from: segment, newer: newer, tombstoneHorizon: horizon)
            guard !doomed.isEmpty else { continue }
            report.bytesBefore += segment.summary.logBytes
            let cleaned = try rewrite(segment, removing: doomed)
            report.bytesAfter += cleaned.summary.logBytes
            report.segmentsRewritten += 1
            report.recordsRemoved += doomed.count
        }
        return report
    }

    /// Offsets in `segment` superseded by a later record with the same key (in this segment or
    /// a newer one), and latest tombstones older than the horizon. Decided from key indexes alone.
    ///
    /// Only a committed record supersedes (Kafka's cleaner stops at the last stable offset and
    /// ignores aborted data): one at or after the last stable offset may still abort, and one
    /// inside an aborted transaction's range may be aborted, so neither dooms an older record.
    /// (An aborted range is judged by offsets alone, whoever's batch it is: a committed record
    /// there only keeps an older value a while longer.)
    private func offsetsToRemove(from segment: LogSegment, newer: [LogSegment], tombstoneHorizon: Int64) throws -> Set<Int64> {
        let (stable, aborted) = state.withLock { state in
            (min(state.durableOffset, state.highWatermark, state.producers.firstUnstableOffset ?? .max), state.producers.aborted)
        }
        let commits: (Int64) -> Bool = { offset in
            offset < stable && !aborted.contains { $0.firstOffset <= offset && offset < $0.lastOffset }
        }
        var doomed = Set<Int64>()
        var failure: (any Error)?
        try sealedKeyIndex(of: segment).forEachKey { key, entries in
            guard failure == nil else { return }
            do {
                let offsets = entries.map { segment.baseOffset + Int64($0.relativeOffset) }
                if try newer.contains(where: { try self.segmentHasCommittedKey($0, key, commits) }) {
                    doomed.formUnion(offsets)
                    return
                }
                // The newest committed record of the key here stays; everything before it goes.
                guard let latest = offsets.lastIndex(where: commits) else { return }
                doomed.formUnion(offsets[..<latest])
                if latest == entries.count - 1, entries[latest].isTombstone, entries[latest].timestamp < tombstoneHorizon {
                    doomed.insert(offsets[latest])
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        return doomed
    }

    /// Whether `segment` holds a committed record with `key` (see `offsetsToRemove`). Only
    /// durable records may supersede: dropping an old record because of one not yet synced would
    /// lose the key's latest acknowledged value if the machine then lost power (the caller's
    /// `commits` stops at the durable offset). Sealed segments are synced whole.
    private func segmentHasCommittedKey(_ segment: LogSegment, _ key: [UInt8], _ commits: (Int64) -> Bool) throws -> Bool {
        let entries = try state.withLock { _ in segment.active.map { $0.keyIndex.entries(for: key) } } ?? sealedKeyIndex(of: segment).entries(for: key)
        return entries.contains { commits(segment.baseOffset + Int64($0.relativeOffset)) }
    }

    /// Writes the segment without `doomed` records and swaps it in. Returns the new segment.
    private func rewrite(_ segment: LogSegment, removing doomed: Set<Int64>) throws -> LogSegment {
        let base = segment.baseOffset
        func path(_ kind: LogFileNames.Kind, _ stage: LogFileNames.Stage) -> String {
            LogFileNames.path(directory, baseOffset: base, kind: kind, stage: stage)
        }
        do {
            let output = try fileSystem.openFile(path(.log, .cleaned), create: true)
            try output.truncate(to: 0)
            var builder = SegmentIndexBuilder(baseOffset: base, indexIntervalBytes: config.indexIntervalBytes)
            let outcome = try SegmentScanner.scan(file: segment.file, expectedOffset: base, allowsGaps: true) { _, batch, header in
                guard let kept = try self.filter(batch, header: header, removing: doomed) else { return }
                let keyed = try kept.withUnsafeBytes { raw in
                    try BatchIndexer.keyedRecords(in: raw, header: try RecordBatchHeader(parsing: raw), decompressor: self.decompressor)
                }
                let position = builder.logBytes
                try output.write(kept, at: position)
                builder.add(batchAt: position, header: try RecordBatchHeader(parsing: kept), keyedRecords: keyed)
            }
            // Never compact around damage: the copy would silently drop what could not be read.
            if let damage = outcome.corruptions.first ?? outcome.tornTail { throw LogError.corruption(damage) }
            try output.sync()
            let indexKinds: [(IndexFile.Kind, LogFileNames.Kind)] = [(.offset, .index), (.time, .timeindex), (.key, .keyindex)]
            let files = Dictionary(uniqueKeysWithValues: builder.encodedFiles())
            for (kind, name) in indexKinds { try fileSystem.writeFile(path(name, .cleaned), contents: files[kind]!) }
            try fileSystem.syncDirectory(directory)
            // The commit point: once the log is `.swap`, recovery completes the replacement.
            try fileSystem.rename(path(.log, .cleaned), to: path(.log, .swap))
            for (_, name) in indexKinds { try fileSystem.rename(path(name, .cleaned), to: path(name, .swap)) }
            try fileSystem.syncDirectory(directory)
            for (_, name) in indexKinds { try fileSystem.rename(path(name, .swap), to: path(name, .live)) }
            try fileSystem.rename(path(.log, .swap), to: path(.log, .live))
            try fileSystem.syncDirectory(directory)

            let replacement = LogSegment(baseOffset: base, directory: directory, file: output, summary: builder.summary, active: nil)
            let sealed = builder.sealed()
            replacement.sealed.withLock { $0 = sealed }
            state.withLock { state in
                if let at = state.segments.firstIndex(where: { $0 === segment }) { state.segments[at] = replacement }
                state.versions.invalidate()
            }
            indexCache.forget(segment)
            indexCache.didLoad(replacement, bytes: sealed.memoryBytes)
            return replacement
        } catch {
            throw LogError(wrapping: error)
        }
    }

    /// The batch without the doomed records: the same bytes if none go, `nil` if all go, else a
    /// rebuilt batch with the original base offset, last offset delta and producer fields, so
    /// offsets and the producer's sequence bookkeeping survive (as in Kafka's cleaner).
    /// Rebuilt batches are stored uncompressed.
    private func filter(_ batch: UnsafeRawBufferPointer, header: RecordBatchHeader, removing doomed: Set<Int64>) throws -> [UInt8]? {
        let hit = (header.baseOffset...header.lastOffset).contains { doomed.contains($0) }
        guard hit else { return Array(batch) }
        var records: [Record] = []
        let keep: (RecordView, UnsafeRawBufferPointer) -> Void = { view, raw in
            if !doomed.contains(header.baseOffset + Int64(view.offsetDelta)) { records.append(Record(view: view, in: raw)) }
        }
        if header.attributes.compression == CompressionCodec.none {
            try RecordBatch.forEachRecordView(in: batch, header: header) { keep($0, batch) }
        } else {
            let blob = try BatchIndexer.decompressedRecords(of: batch, header: header, codec: header.attributes.compression!, decompressor: decompressor)
            try blob.withUnsafeBytes { raw in
                try RecordBatch.forEachRecordView(inRecords: raw, from: 0, to: raw.count, count: Int(header.recordCount)) { keep($0, raw) }
            }
        }
        guard !records.isEmpty else { return nil }
        var builder = RecordBatchBuilder(baseTimestamp: header.baseTimestamp, timestampType: header.attributes.timestampType)
        // Every attribute but the codec is kept: a transactional batch stays transactional, or
        // readers would take the rest of an aborted batch for plain committed records.
        builder.attributes = RecordBatchAttributes(rawValue: header.attributes.rawValue & ~0x07)
        builder.baseOffset = header.baseOffset
        builder.partitionLeaderEpoch = header.partitionLeaderEpoch
        builder.producerId = header.producerId
        builder.producerEpoch = header.producerEpoch
        builder.baseSequence = header.baseSequence
        for record in records { builder.appendPreservingDeltas(record) }
        return builder.build(lastOffsetDelta: header.lastOffsetDelta, maxTimestamp: header.maxTimestamp)
    }
}
