import SteleCore

/// Loads a sealed segment's indexes from their files, or rebuilds them from the log when a
/// file is missing, torn, or describes a different version of the log file.
struct SealedIndexLoader {
    let fileSystem: any FileSystem
    let config: LogConfig
    let decompressor: (any RecordDecompressor)?

    /// The summary in the segment's `.index` header, if that header is intact and matches the
    /// log file's size. Reads 52 bytes: opening a log costs one small read per sealed segment.
    func summaryFromHeader(_ segment: LogSegment, logBytes: Int64) -> SegmentSummary? {
        guard let file = try? fileSystem.openFile(segment.indexPath(.offset), create: false),
              let header = try? file.read(count: IndexFile.headerSize, at: 0),
              let (summary, payloadBytes, _) = IndexFile.decodeHeader(header, kind: .offset, baseOffset: segment.baseOffset),
              summary.logBytes == logBytes,
              (try? file.size()) == Int64(IndexFile.headerSize + payloadBytes) else { return nil }
        return summary
    }

    /// Reads and checks all three index files; `nil` if any is unusable.
    func load(_ segment: LogSegment) -> SealedIndexes? {
        guard let offsets = payload(.offset, of: segment).flatMap({ OffsetIndex(payload: $0, logBytes: segment.summary.logBytes) }),
              let times = payload(.time, of: segment).flatMap({ TimeIndex(payload: $0) }) else { return nil }
        let loader = self
        let keys = LazyKeyIndex { loader.mappedKeyIndex(segment) ?? loader.payload(.key, of: segment).flatMap { SealedKeyIndex(payload: $0) } }
        return SealedIndexes(offsetIndex: offsets, timeIndex: times, keyIndex: keys)
    }

    /// An index file's checked payload, if it describes the segment as it is.
    private func payload(_ kind: IndexFile.Kind, of segment: LogSegment) -> [UInt8]? {
        guard let bytes = try? fileSystem.readFile(segment.indexPath(kind)),
              let (summary, payload) = IndexFile.decode(bytes, kind: kind, baseOffset: segment.baseOffset),
              summary == segment.summary else { return nil }
        return payload
    }

    /// The key index mapped in place, checked (header and payload CRC) before use.
    private func mappedKeyIndex(_ segment: LogSegment) -> SealedKeyIndex? {
        guard fileSystem.supportsMapping else { return nil }
        let path = segment.indexPath(.key)
        guard let file = try? fileSystem.openFile(path, create: false),
              let header = try? file.read(count: IndexFile.headerSize, at: 0),
              let (summary, payloadBytes, payloadCRC) = IndexFile.decodeHeader(header, kind: .key, baseOffset: segment.baseOffset),
              summary == segment.summary,
              let mapped = IndexBytes(mapping: path, start: IndexFile.headerSize, count: payloadBytes),
              mapped.withUnsafeBytes({ CRC32C.checksum($0) }) == payloadCRC else { return nil }
        return SealedKeyIndex(payload: mapped)
    }

    /// Scans the segment's log file, rewrites its index files, and returns the rebuilt indexes
    /// and the damage the scan found.
    func rebuild(baseOffset: Int64, file: any StorageFile, directory: String) throws -> (SegmentIndexBuilder, SegmentScanner.Outcome) {
        var builder = SegmentIndexBuilder(baseOffset: baseOffset, indexIntervalBytes: config.indexIntervalBytes)
        let outcome = try scan(file: file, into: &builder, from: baseOffset)
        return (builder, outcome)
    }

    func scan(file: any StorageFile, into builder: inout SegmentIndexBuilder, from baseOffset: Int64,
              onBatch: (RecordBatchHeader, UnsafeRawBufferPointer) -> Void = { _, _ in }) throws -> SegmentScanner.Outcome {
        var captured = builder
        let outcome = try SegmentScanner.scan(file: file, expectedOffset: baseOffset, allowsGaps: config.allowsOffsetGaps) { position, batch, header in
            // Skipped corrupt batches leave a gap between the last indexed batch and this one.
            if position > captured.logBytes { captured.skipDamaged(bytes: Int(position - captured.logBytes)) }
            // A batch whose codec is unavailable is still served; only its keys go unindexed.
            let keyed = (try? BatchIndexer.keyedRecords(in: batch, header: header, decompressor: decompressor)) ?? []
            captured.add(batchAt: position, header: header, keyedRecords: keyed)
            onBatch(header, batch)
        }
        if outcome.validBytes > captured.logBytes { captured.skipDamaged(bytes: Int(outcome.validBytes - captured.logBytes)) }
        builder = captured
        return outcome
    }

    func writeIndexFiles(_ builder: SegmentIndexBuilder, for segment: LogSegment) throws {
        for (kind, bytes) in builder.encodedFiles() {
            try fileSystem.writeFile(segment.indexPath(kind), contents: bytes)
        }
    }
}

extension PartitionLog {
    var indexLoader: SealedIndexLoader {
        SealedIndexLoader(fileSystem: fileSystem, config: config, decompressor: decompressor)
    }

    /// The key index of a sealed segment, mapped on first use, or rebuilt from the log when its
    /// file is missing or damaged.
    func sealedKeyIndex(of segment: LogSegment) throws -> SealedKeyIndex {
        if let index = try sealedIndexes(of: segment).keyIndex.get() { return index }
        guard let index = try sealedIndexes(of: segment, rebuild: true).keyIndex.get() else {
            throw LogError.corruption(LogCorruption(file: segment.indexPath(.key), position: 0, reason: "key index cannot be rebuilt"))
        }
        return index
    }

    /// The indexes of a sealed segment, loading (or rebuilding) them on first use.
    func sealedIndexes(of segment: LogSegment, rebuild: Bool = false) throws -> SealedIndexes {
        indexCache.touch(segment)
        var loadedBytes: Int?
        let indexes = try segment.sealed.withLock { cached throws -> SealedIndexes in
            if let cached, !rebuild { return cached }
            let loader = indexLoader
            if !rebuild, let loaded = loader.load(segment) {
                cached = loaded
            } else {
                var (builder, _) = try loader.rebuild(baseOffset: segment.baseOffset, file: segment.file, directory: directory)
                // A sealed segment keeps its size: a bad tail is damage to report (reads of it
                // fail their CRC check), not a torn write to cut.
                let logBytes = try segment.file.size()
                if builder.logBytes < logBytes { builder.skipDamaged(bytes: Int(logBytes - builder.logBytes)) }
                // Best effort: if the files cannot be written, the next load rebuilds again. A
                // segment that compaction or retention removed meanwhile must not write over
                // its successor's files.
                if state.withLock({ $0.segments.contains { $0 === segment } }) {
                    try? loader.writeIndexFiles(builder, for: segment)
                }
                cached = builder.sealed()
            }
            loadedBytes = cached!.memoryBytes
            return cached!
        }
        if let loadedBytes, state.withLock({ $0.segments.contains { $0 === segment } }) {
            indexCache.didLoad(segment, bytes: loadedBytes)
        }
        return indexes
    }
}
