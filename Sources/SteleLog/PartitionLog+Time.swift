import SteleCore

extension PartitionLog {
    /// The first offset whose record timestamp is at or after `timestamp` (Kafka ListOffsets
    /// by time), or `nil` when every visible record is older.
    public func offset(atOrAfterTimestamp timestamp: Int64) async throws -> Int64? {
        try await record(atOrAfterTimestamp: timestamp)?.offset
    }

    /// The offset and timestamp of the first record with the largest timestamp (ListOffsets'
    /// max-timestamp spec, KIP-734), or `nil` when the log shows no record.
    ///
    /// Sealed segments' summaries cover only visible records; the active segment's also counts
    /// a batch being written and synced, so its visible batches' headers are read instead (one
    /// header per batch: an admin call's cost), or a timestamp no reader may see yet would make
    /// the answer "no record".
    public func recordWithMaxTimestamp() async throws -> (offset: Int64, timestamp: Int64)? {
        try await executor.run {
            let view = try self.readView()
            var largest: Int64 = -1
            for (index, segment) in view.segments.enumerated() {
                if index < view.segments.count - 1 {
                    largest = max(largest, try self.state.withLock { _ throws in segment.summary.maxTimestamp })
                } else {
                    largest = max(largest, try self.maxVisibleTimestamp(in: segment, end: view.readableBytes(of: index)))
                }
            }
            guard largest >= 0 else { return nil }
            return try self.offsetBlocking(atOrAfterTimestamp: largest)
        }
    }

    /// The largest batch timestamp among `segment`'s first `end` bytes.
    private func maxVisibleTimestamp(in segment: LogSegment, end: Int64) throws -> Int64 {
        var largest: Int64 = -1
        var position: Int64 = 0
        while position < end {
            var window = FileWindow(segment: segment, log: self)
            let header = try checkedHeader(window.header(at: position), at: position, end: end, segment: segment)
            largest = max(largest, header.maxTimestamp)
            position += Int64(header.totalSize)
        }
        return largest
    }

    /// The offset and timestamp of the first record at or after `timestamp` (what ListOffsets
    /// answers), or `nil` when every visible record is older.
    public func record(atOrAfterTimestamp timestamp: Int64) async throws -> (offset: Int64, timestamp: Int64)? {
        try await executor.run { try self.offsetBlocking(atOrAfterTimestamp: timestamp) }
    }

    func offsetBlocking(atOrAfterTimestamp timestamp: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        let view = try readView()
        for (index, segment) in view.segments.enumerated() {
            let (maxTimestamp, scanFrom) = try state.withLock { _ throws -> (Int64, UInt32?) in
                (segment.summary.maxTimestamp, segment.active?.timeIndex.scanStart(for: timestamp))
            }
            guard maxTimestamp >= timestamp else { continue }
            let relative = try scanFrom ?? sealedIndexes(of: segment).timeIndex.scanStart(for: timestamp)
            let position = try startPosition(for: segment.baseOffset + Int64(relative), in: segment)
            // Records below the log start (DeleteRecords) are not answers, even in a batch kept.
            if let found = try scanForTimestamp(timestamp, in: segment, from: position, end: view.readableBytes(of: index), minimumOffset: view.logStartOffset) {
                return found.offset < view.highWatermark ? found : nil
            }
        }
        return nil
    }

    private func scanForTimestamp(_ timestamp: Int64, in segment: LogSegment, from start: Int64, end: Int64,
                                  minimumOffset: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        var found: (offset: Int64, timestamp: Int64)?
        var position = start
        while position < end, found == nil {
            var window = FileWindow(segment: segment, log: self)
            let header = try checkedHeader(window.header(at: position), at: position, end: end, segment: segment)
            let size = Int64(header.totalSize)
            if header.maxTimestamp >= timestamp && header.lastOffset >= minimumOffset {
                let batch = try window.bytes(position..<(position + size))
                found = try firstOffset(in: batch, header: header, atOrAfter: timestamp, minimumOffset: minimumOffset, segment: segment, position: position)
            }
            position += size
        }
        return found
    }

    private func firstOffset(in batch: [UInt8], header: RecordBatchHeader, atOrAfter timestamp: Int64, minimumOffset: Int64,
                             segment: LogSegment, position: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        if header.attributes.timestampType == .logAppendTime { return (max(header.baseOffset, minimumOffset), header.maxTimestamp) }
        return try batch.withUnsafeBytes { raw -> (offset: Int64, timestamp: Int64)? in
            guard RecordBatch.hasValidChecksum(raw) else {
                throw LogError.corruption(LogCorruption(file: segment.logPath, position: position, reason: "CRC32C mismatch"))
            }
            var found: (offset: Int64, timestamp: Int64)?
            let visit: (RecordView) throws(CodecError) -> Void = { view in
                let recordTime = header.baseTimestamp &+ view.timestampDelta
                let offset = header.baseOffset + Int64(view.offsetDelta)
                if found == nil && recordTime >= timestamp && offset >= minimumOffset { found = (offset, recordTime) }
            }
            if header.attributes.compression == CompressionCodec.none {
                try RecordBatch.forEachRecordView(in: raw, header: header, visit)
            } else {
                let records = try BatchIndexer.decompressedRecords(of: raw, header: header, codec: header.attributes.compression!, decompressor: decompressor)
                try records.withUnsafeBytes { records in
                    try RecordBatch.forEachRecordView(inRecords: records, from: 0, to: records.count, count: Int(header.recordCount), visit)
                }
            }
            return found
        }
    }
}
