import SteleCore

/// One record as a read_committed consumer sees it: its offset in the partition, its timestamp
/// (the batch's LogAppendTime stamp, or its own create time) and its contents.
public struct CommittedRecord: Sendable, Equatable {
    public var offset: Int64
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public init(offset: Int64, timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = []) {
        (self.offset, self.timestamp, self.key, self.value, self.headers) = (offset, timestamp, key, value, headers)
    }

    /// The bytes this record adds to a batch, roughly (what a batch size bound counts).
    public var size: Int { 24 + (key?.count ?? 0) + (value?.count ?? 0) + headers.reduce(0) { $0 + 8 + $1.key.utf8.count + ($1.value?.count ?? 0) } }
}

/// What a read_committed consumer keeps of one partition's fetched bytes (Kafka's
/// `CompletedFetch`, KIP-98): control batches dropped, and the batches of aborted transactions —
/// those a producer in the fetch's aborted-transactions list wrote from the listed first offset
/// up to its abort marker — dropped too. Free of I/O: a mirror that translates offsets
/// (`stele mirror --offsets translate`) copies what this returns.
public enum CommittedRecords {
    /// The committed data records at or past `position` in the whole batches of `bytes`, in
    /// order, and the offset after the last whole batch (`nil`: no whole batch). A fetch may
    /// start with a batch that begins before `position`; its earlier records are left out.
    ///
    /// Throws ``CodecError`` for a batch whose CRC does not match or whose records do not parse
    /// (a damaged batch is never copied), or one compressed with a codec `decompressor` lacks.
    public static func extract(_ bytes: [UInt8], abortedTransactions: [(producerId: Int64, firstOffset: Int64)],
                               from position: Int64, decompressor: (any RecordDecompressor)?) throws -> (records: [CommittedRecord], nextOffset: Int64?) {
        var pendingAborts = abortedTransactions.sorted { $0.firstOffset < $1.firstOffset }[...]
        var abortedProducers: Set<Int64> = []
        var records: [CommittedRecord] = []
        var next: Int64?
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            var start = 0
            while start + RecordBatchHeader.size <= raw.count {
                let header = try RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[start...]))
                guard header.totalSize >= RecordBatchHeader.size, start + header.totalSize <= raw.count else { break } // a partial batch ends a fetch
                guard header.hasPossibleOffsets else { throw CodecError.invalid("a batch at offset \(header.baseOffset) no log can hold") }
                let batch = UnsafeRawBufferPointer(rebasing: raw[start..<(start + header.totalSize)])
                start += header.totalSize
                guard RecordBatch.hasValidChecksum(batch) else {
                    throw CodecError.invalid("the batch at offset \(header.baseOffset) fails its CRC32C")
                }
                next = header.nextOffset
                if header.producerId >= 0 {
                    while let first = pendingAborts.first, first.firstOffset <= header.lastOffset {
                        abortedProducers.insert(first.producerId)
                        pendingAborts.removeFirst()
                    }
                }
                if header.attributes.isControl {
                    if TransactionMarker.of(controlBatch: batch, header: header) == .abort { abortedProducers.remove(header.producerId) }
                    continue
                }
                if header.attributes.isTransactional && abortedProducers.contains(header.producerId) { continue }
                guard header.lastOffset >= position, header.recordCount > 0 else { continue }
                try collect(batch, header: header, from: position, decompressor: decompressor, into: &records)
            }
        }
        return (records, next)
    }

    private static func collect(_ batch: UnsafeRawBufferPointer, header: RecordBatchHeader, from position: Int64,
                                decompressor: (any RecordDecompressor)?, into records: inout [CommittedRecord]) throws {
        let appendTime = header.attributes.timestampType == .logAppendTime ? header.maxTimestamp : nil
        func add(_ view: RecordView, in bytes: UnsafeRawBufferPointer) {
            let offset = header.baseOffset &+ Int64(view.offsetDelta)
            guard offset >= position else { return }
            let record = Record(view: view, in: bytes)
            records.append(CommittedRecord(offset: offset, timestamp: appendTime ?? (header.baseTimestamp &+ record.timestampDelta),
                                           key: record.key, value: record.value, headers: record.headers))
        }
        guard let codec = header.attributes.compression else {
            throw CodecError.invalid("the batch at offset \(header.baseOffset) names an unknown compression codec")
        }
        if codec == .none {
            try RecordBatch.forEachRecordView(in: batch, header: header) { (view: RecordView) throws(CodecError) in add(view, in: batch) }
            return
        }
        guard let decompressor, decompressor.supports(codec) else {
            throw CodecError.invalid("the batch at offset \(header.baseOffset) is compressed with \(codec), which this build cannot read")
        }
        let inflated = try decompressor.decompress(codec, UnsafeRawBufferPointer(rebasing: batch[RecordBatchHeader.size...]))
        try inflated.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            try RecordBatch.forEachRecordView(inRecords: raw, from: 0, to: raw.count, count: Int(header.recordCount)) { (view: RecordView) throws(CodecError) in add(view, in: raw) }
        }
    }
}
