import SteleCore

/// Reads a segment file batch by batch, validating each one completely (length, magic, CRC,
/// record layout), as recovery, index rebuilds, `stele log verify` and the cleaner need.
enum SegmentScanner {
    /// Bytes read per `pread`: large enough that syscalls do not dominate a scan.
    static let chunkBytes = 1 << 20

    struct Outcome: Sendable {
        /// Bytes from the start of the file that hold whole, valid batches (and any skipped
        /// corrupt batches between them).
        var validBytes: Int64
        /// Damaged batches followed by valid ones: real corruption, not a torn write.
        var corruptions: [LogCorruption] = []
        /// Set when the file ends in bytes that are not a whole valid batch (a torn write).
        var tornTail: LogCorruption?
    }

    /// Calls `visit(position, batch, header)` for each valid batch from `start`.
    ///
    /// A batch that fails validation is a torn tail if nothing valid follows it, and is skipped
    /// as corruption if a valid batch starts right after its declared end.
    /// `allowsGaps`: only compaction leaves gaps between batches; elsewhere a batch must start
    /// exactly where the previous one ended, so a damaged base offset (outside the CRC's range)
    /// is caught instead of moving the log end.
    static func scan(file: any StorageFile, from start: Int64 = 0, expectedOffset: Int64, allowsGaps: Bool,
                     visit: (Int64, UnsafeRawBufferPointer, RecordBatchHeader) throws -> Void) throws -> Outcome {
        let fileSize = try file.size()
        var reader = ChunkReader(file: file, fileSize: fileSize, segmentBase: expectedOffset, allowsGaps: allowsGaps)
        var outcome = Outcome(validBytes: start)
        var position = start
        var nextExpected = expectedOffset
        while position < fileSize {
            switch try reader.batch(at: position, minimumOffset: nextExpected) {
            case let .valid(header):
                try reader.withBatch(at: position, size: header.totalSize) { try visit(position, $0, header) }
                position += Int64(header.totalSize)
                nextExpected = header.nextOffset
                outcome.validBytes = position
            case let .invalid(reason, declaredSize):
                let damage = LogCorruption(file: file.path, position: position, reason: reason)
                // The probe allows a gap: the damaged batch's records are missing from the count.
                if let declaredSize, position + Int64(declaredSize) < fileSize,
                   case let .valid(next) = try reader.batch(at: position + Int64(declaredSize), minimumOffset: nextExpected, probing: true) {
                    outcome.corruptions.append(damage)
                    position += Int64(declaredSize)
                    outcome.validBytes = position
                    nextExpected = next.baseOffset
                } else {
                    outcome.tornTail = damage
                    return outcome
                }
            }
        }
        return outcome
    }

    /// The offset after the last whole, CRC-valid batch found anywhere in `bytes` (at any byte
    /// position, as damage may shift the rest), among batches at or above `minimumOffset` (the
    /// offset the bytes start at) with a plausible base offset; nil
    /// when there is none. For telling damage followed by good data from a torn write.
    static func endOfValidBatches(in bytes: [UInt8], minimumOffset: Int64) -> Int64? {
        var end: Int64?
        var position = 0
        bytes.withUnsafeBytes { raw in
            while position + RecordBatchHeader.size <= raw.count {
                // Magic 2 at byte 16 first: most positions fail that before any parsing.
                guard raw[position + 16] == 2,
                      let header = try? RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[position...])),
                      header.totalSize >= RecordBatchHeader.size, position + header.totalSize <= raw.count,
                      header.baseOffset >= minimumOffset,
                      // The base offset lies outside the CRC: an offset past what the bytes
                      // before it could hold (a record takes at least a byte) is damage too.
                      header.baseOffset <= minimumOffset + Int64(position),
                      RecordBatch.hasValidChecksum(UnsafeRawBufferPointer(rebasing: raw[position..<position + header.totalSize])) else {
                    position += 1
                    continue
                }
                end = max(end ?? 0, header.nextOffset)
                position += header.totalSize
            }
        }
        return end
    }

    enum BatchCheck {
        case valid(RecordBatchHeader)
        /// `declaredSize` is the size the header claims, when it is plausible.
        case invalid(String, declaredSize: Int?)
    }

    /// Buffers a file in chunks so that small batches do not each cost a syscall.
    struct ChunkReader {
        let file: any StorageFile
        let fileSize: Int64
        let segmentBase: Int64
        let allowsGaps: Bool
        private var buffer: [UInt8] = []
        private var bufferStart: Int64 = 0

        init(file: any StorageFile, fileSize: Int64, segmentBase: Int64, allowsGaps: Bool) {
            self.file = file
            self.fileSize = fileSize
            self.segmentBase = segmentBase
            self.allowsGaps = allowsGaps
        }

        mutating func ensure(_ position: Int64, _ count: Int) throws -> Bool {
            if position >= bufferStart && position + Int64(count) <= bufferStart + Int64(buffer.count) { return true }
            guard position + Int64(count) <= fileSize else { return false }
            buffer = try file.read(count: max(count, Int(min(Int64(SegmentScanner.chunkBytes), fileSize - position))), at: position)
            bufferStart = position
            return buffer.count >= count
        }

        mutating func batch(at position: Int64, minimumOffset: Int64, probing: Bool = false) throws -> BatchCheck {
            guard try ensure(position, RecordBatchHeader.logOverhead) else { return .invalid("incomplete batch header at end of file", declaredSize: nil) }
            let (baseOffset, length) = try withBatch(at: position, size: RecordBatchHeader.logOverhead) { try RecordBatchHeader.peekOffsetAndLength($0) }
            let size = RecordBatchHeader.logOverhead + Int(length)
            guard length >= Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead), size <= RecordBatch.maxSize else {
                return .invalid("implausible batch length \(length)", declaredSize: nil)
            }
            guard baseOffset >= 0, baseOffset <= Int64.max - Int64(Int32.max) - 1 else {
                return .invalid("implausible batch offset \(baseOffset)", declaredSize: size)
            }
            guard try ensure(position, size) else { return .invalid("batch of \(size) bytes runs past the end of the file", declaredSize: nil) }
            return try withBatch(at: position, size: size) { batch in
                let header: RecordBatchHeader
                do { header = try RecordBatch.validate(batch, origin: .stored) } catch { return .invalid("\(error)", declaredSize: size) }
                guard baseOffset >= minimumOffset else {
                    return .invalid("batch offset \(baseOffset) goes back before \(minimumOffset)", declaredSize: size)
                }
                guard allowsGaps || probing || baseOffset == minimumOffset else {
                    return .invalid("batch offset \(baseOffset) leaves a gap after \(minimumOffset)", declaredSize: size)
                }
                // Offsets inside a segment are 32-bit relative to its base (index files).
                guard header.lastOffset - segmentBase <= Int64(UInt32.max) else {
                    return .invalid("batch offset \(baseOffset) is out of range for a segment based at \(segmentBase)", declaredSize: size)
                }
                return .valid(header)
            }
        }

        func withBatch<T>(at position: Int64, size: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
            let start = Int(position - bufferStart)
            return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + size)])) }
        }
    }
}
