import SteleCore

/// Batches returned by a read, as stored: RecordBatch v2 bytes, back to back.
public struct LogReadResult: Sendable, Equatable {
    /// Whole batches. The first contains the requested offset (a batch may start before it,
    /// as in Kafka; consumers skip records below the offset they asked for).
    public var batches: [UInt8]
    public var highWatermark: Int64
    public var logStartOffset: Int64
    /// The end of what read_committed readers see: the first offset of the oldest transaction
    /// still open here, or the high watermark when none is.
    public var lastStableOffset: Int64
    /// For a read_committed read: the aborted transactions whose batches the read may hold
    /// (the client drops their batches); empty otherwise.
    public var abortedTransactions: [AbortedTransaction] = []
}

/// A consistent view of the segments and of what readers may see, taken under the state lock.
struct ReadView {
    var segments: [LogSegment]
    var highWatermark: Int64
    var lastStableOffset: Int64
    var logStartOffset: Int64
    var logEndOffset: Int64
    /// Readable bytes of the last segment.
    var visibleBytes: Int64

    func readableBytes(of index: Int) -> Int64 {
        index == segments.count - 1 ? visibleBytes : segments[index].summary.logBytes
    }
}

extension PartitionLog {
    /// A prefetch beyond `maxBytes` so that stepping from an index entry to the wanted batch
    /// rarely needs a second `pread` (one index interval, 4 KiB by default).
    static let readSlackBytes = 8192

    func readView() throws -> ReadView {
        try state.withLock { state throws(LogError) in
            try checkOpen(state)
            return ReadView(segments: state.segments, highWatermark: state.highWatermark,
                            // Never below the log start (DeleteRecords may pass an open transaction).
                            lastStableOffset: max(state.logStartOffset, min(state.highWatermark, state.producers.firstUnstableOffset ?? .max)),
                            logStartOffset: state.logStartOffset,
                            logEndOffset: state.logEndOffset, visibleBytes: state.visibleBytes)
        }
    }

    /// Reads whole batches from `offset`, up to `maxBytes` (but always at least one batch, so
    /// that a batch larger than `maxBytes` can still be consumed, as Kafka does since KIP-74).
    /// An offset at the high watermark returns no batches; one outside the log throws
    /// ``LogError/offsetOutOfRange(requested:logStartOffset:logEndOffset:)``.
    public func read(from offset: Int64, maxBytes: Int) async throws -> LogReadResult {
        try await executor.run { try self.readBlocking(from: offset, maxBytes: maxBytes) }
    }

    func readBlocking(from offset: Int64, maxBytes: Int) throws -> LogReadResult {
        let view = try readView()
        guard offset >= view.logStartOffset, offset <= view.logEndOffset else {
            throw LogError.offsetOutOfRange(requested: offset, logStartOffset: view.logStartOffset, logEndOffset: view.logEndOffset)
        }
        var result = LogReadResult(batches: [], highWatermark: view.highWatermark, logStartOffset: view.logStartOffset,
                                   lastStableOffset: view.lastStableOffset)
        guard offset < view.highWatermark else { return result }
        var index = segmentIndex(containing: offset, in: view.segments)
        while index < view.segments.count {
            let segment = view.segments[index]
            let (start, startOffset) = try startEntry(for: offset, in: segment)
            // Batches of a segment end before the next one begins (or at the log end).
            let offsetLimit = index + 1 < view.segments.count ? view.segments[index + 1].baseOffset : view.logEndOffset
            result.batches = try readBatches(from: segment, position: start, startOffset: startOffset, offsetLimit: offsetLimit,
                                             offset: offset, end: view.readableBytes(of: index), maxBytes: maxBytes)
            if !result.batches.isEmpty { return result }
            // The offset lies in a gap after this segment's last batch (left by compaction).
            index += 1
        }
        return result
    }

    /// Index of the last segment whose base offset is at or below `offset`.
    func segmentIndex(containing offset: Int64, in segments: [LogSegment]) -> Int {
        var low = 0, high = segments.count
        while low < high {
            let mid = (low + high) / 2
            if segments[mid].baseOffset <= offset { low = mid + 1 } else { high = mid }
        }
        return max(0, low - 1)
    }

    /// A batch boundary at or before the batch holding `offset`, from the sparse offset index.
    func startPosition(for offset: Int64, in segment: LogSegment) throws -> Int64 {
        try startEntry(for: offset, in: segment).position
    }

    /// The same, with the offset the batch there must start at: the index entry's, or the
    /// segment's base at position 0 (a compacted segment may start later).
    func startEntry(for offset: Int64, in segment: LogSegment) throws -> (position: Int64, baseOffset: Int64) {
        let relative = UInt32(clamping: max(0, offset - segment.baseOffset))
        let found: OffsetIndex.Entry?
        if let active = state.withLock({ _ in segment.active.map { $0.offsetIndex.entry(atOrBefore: relative) } }) {
            found = active
        } else {
            found = try sealedIndexes(of: segment).offsetIndex.entry(atOrBefore: relative)
        }
        guard let found else { return (0, segment.baseOffset) }
        return (Int64(found.position), segment.baseOffset + Int64(found.relativeOffset))
    }

    /// Reads batches in `[position, end)` skipping those before `offset`, each checked against
    /// its CRC before it is returned.
    ///
    /// Two reads: a small one walks batch headers from the index entry to the first wanted batch
    /// (at most one index interval away), then one `pread` lands the served bytes directly in
    /// the result, so the bytes are copied once and checked once.
    private func readBatches(from segment: LogSegment, position start: Int64, startOffset: Int64, offsetLimit: Int64,
                             offset: Int64, end: Int64, maxBytes: Int) throws -> [UInt8] {
        var window = FileWindow(segment: segment, log: self)
        try window.load(at: start, count: Int(min(end - start, Int64(Self.readSlackBytes))))
        var first = start
        // The batch at the index position starts where the index says (checked like the rest).
        var previousNext: Int64? = startOffset
        while true {
            guard first + Int64(RecordBatchHeader.size) <= end else { return [] }
            let header = try checkedHeader(window.header(at: first), at: first, end: end, segment: segment)
            try checkContinuity(header, after: previousNext, at: first, segment: segment, limit: offsetLimit)
            if header.nextOffset > offset { break }
            previousNext = header.nextOffset
            first += Int64(header.totalSize)
        }
        var bytes = try readFile(segment, count: Int(min(end - first, Int64(max(maxBytes, RecordBatchHeader.size)))), at: first)
        // Keep whole batches only; the first one whole even when larger than maxBytes (KIP-74).
        var kept = 0
        while kept + RecordBatchHeader.size <= bytes.count {
            let header: RecordBatchHeader
            do {
                header = try checkedHeader(bytes.withUnsafeBytes { try RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[kept...])) },
                                           at: first + Int64(kept), end: end, segment: segment)
                if kept > 0 { try checkContinuity(header, after: previousNext, at: first + Int64(kept), segment: segment, limit: offsetLimit) }
            } catch {
                // Serve the good batches before the damage; the next read starts at it and fails.
                if kept > 0 { break }
                throw error
            }
            previousNext = header.nextOffset
            if kept + header.totalSize > bytes.count {
                if kept == 0 { bytes = try window.bytes(first..<(first + Int64(header.totalSize))); kept = header.totalSize }
                break
            }
            kept += header.totalSize
        }
        if kept < bytes.count { bytes.removeLast(bytes.count - kept) }
        let valid = try verifiedPrefix(bytes, segment: segment, filePosition: first)
        if valid < bytes.count { bytes.removeLast(bytes.count - valid) }
        return bytes
    }

    /// Base offsets lie outside the CRC, so damage to one is caught here: batches ascend, and
    /// unless the log allows gaps (compaction, a mirror) each starts exactly where the previous ended.
    private func checkContinuity(_ header: RecordBatchHeader, after previousNext: Int64?, at position: Int64, segment: LogSegment,
                                 limit: Int64) throws {
        guard header.nextOffset <= limit else {
            throw LogError.corruption(LogCorruption(file: segment.logPath, position: position,
                                                    reason: "batch offsets \(header.baseOffset)…\(header.lastOffset) run past the segment's end \(limit)"))
        }
        guard let previousNext else { return }
        let contiguous = config.allowsOffsetGaps ? header.baseOffset >= previousNext : header.baseOffset == previousNext
        guard contiguous else {
            throw LogError.corruption(LogCorruption(file: segment.logPath, position: position,
                                                    reason: "batch offset \(header.baseOffset) does not follow \(previousNext)"))
        }
    }

    func checkedHeader(_ header: RecordBatchHeader, at position: Int64, end: Int64, segment: LogSegment) throws -> RecordBatchHeader {
        guard header.batchLength >= Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead),
              header.totalSize <= RecordBatch.maxSize, position + Int64(header.totalSize) <= end,
              header.baseOffset >= segment.baseOffset, header.baseOffset - segment.baseOffset <= Int64(UInt32.max),
              header.lastOffsetDelta >= 0 else {
            throw LogError.corruption(LogCorruption(file: segment.logPath, position: position,
                                                    reason: "batch length \(header.batchLength) is implausible or runs past the readable end"))
        }
        return header
    }

    /// The check that keeps damaged bytes from ever being served: the length of the batches
    /// before the first damaged one. Damage in the first batch throws, with its file position,
    /// so a consumer gets the good batches first and the error when it reaches the damage.
    private func verifiedPrefix(_ bytes: [UInt8], segment: LogSegment, filePosition: Int64) throws -> Int {
        try bytes.withUnsafeBytes { raw in
            var position = 0
            while position < raw.count {
                let length = Int32(bigEndian: raw.loadUnaligned(fromByteOffset: position + RecordBatchHeader.Field.batchLength, as: Int32.self))
                let size = RecordBatchHeader.logOverhead + Int(length)
                guard RecordBatch.hasValidChecksum(UnsafeRawBufferPointer(rebasing: raw[position..<(position + size)])) else {
                    if position > 0 { return position }
                    throw LogError.corruption(LogCorruption(file: segment.logPath, position: filePosition + Int64(position), reason: "CRC32C mismatch"))
                }
                position += size
            }
            return position
        }
    }

    func readFile(_ segment: LogSegment, count: Int, at position: Int64) throws -> [UInt8] {
        do { return try segment.file.read(count: count, at: position) } catch { throw LogError(wrapping: error) }
    }
}

/// A buffered region of a segment file, re-read only when a lookup falls outside it.
struct FileWindow {
    let segment: LogSegment
    let log: PartitionLog
    private var buffer: [UInt8] = []
    private var start: Int64 = 0

    init(segment: LogSegment, log: PartitionLog) {
        self.segment = segment
        self.log = log
    }

    mutating func load(at position: Int64, count: Int) throws {
        buffer = try log.readFile(segment, count: count, at: position)
        start = position
    }

    private func contains(_ range: Range<Int64>) -> Bool {
        range.lowerBound >= start && range.upperBound <= start + Int64(buffer.count)
    }

    mutating func header(at position: Int64) throws -> RecordBatchHeader {
        let range = position..<(position + Int64(RecordBatchHeader.size))
        if !contains(range) { try load(at: position, count: max(RecordBatchHeader.size, PartitionLog.readSlackBytes)) }
        guard contains(range) else {
            throw LogError.corruption(LogCorruption(file: segment.logPath, position: position, reason: "incomplete batch header"))
        }
        let from = Int(position - start)
        return try buffer.withUnsafeBytes { try RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[from...])) }
    }

    func bytes(_ range: Range<Int64>) throws -> [UInt8] {
        if contains(range) { return Array(buffer[Int(range.lowerBound - start)..<Int(range.upperBound - start)]) }
        let bytes = try log.readFile(segment, count: Int(range.count), at: range.lowerBound)
        guard bytes.count == range.count else {
            throw LogError.corruption(LogCorruption(file: segment.logPath, position: range.lowerBound + Int64(bytes.count), reason: "file shorter than its index says"))
        }
        return bytes
    }
}
