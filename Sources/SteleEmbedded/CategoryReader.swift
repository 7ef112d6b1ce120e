import SteleCompression
import SteleCore
import SteleLog
import SteleStore

/// Reads a partition's records by offset (what a category read needs), decoding the stored
/// batches, compressed ones included — Kafka producers may have written them.
enum CategoryReader {
    struct Entry {
        var offset: Int64
        var timestamp: Int64
        var key: [UInt8]
        var value: [UInt8]?
        var headers: [RecordHeader]
    }

    /// Bytes fetched per log read.
    static let readBytes = 1 << 20

    /// Up to `limit` keyed records from `offset` on (records without a key belong to no stream
    /// and are skipped), the offset after the last record examined, and whether that is the end
    /// of what readers may see. The page also stops once its records hold `maxBytes` (a read
    /// never holds a thousand 1 MiB events at once); at least one read is always made.
    static func records(of log: PartitionLog, from offset: Int64, limit: Int,
                        maxBytes: Int = .max) async throws -> (entries: [Entry], scannedTo: Int64, reachedEnd: Bool) {
        var entries: [Entry] = []
        var next = offset
        var bytes = 0
        while entries.count < limit {
            // No read larger than the share: many partitions must not each bring 1 MiB.
            // Committed records only: a transaction's events appear when it commits, never if it aborts.
            let result = try await log.read(from: next, maxBytes: min(readBytes, max(maxBytes - bytes, 4096)), isolation: .readCommitted)
            if result.batches.isEmpty { return (entries, next, true) }
            let before = entries.count
            let last = try decode(result.batches, from: next, limit: limit - entries.count, aborted: result.abortedTransactions, into: &entries)
            guard last >= next else { return (entries, next, true) }
            next = last + 1
            if next >= result.lastStableOffset { return (entries, next, true) }
            for entry in entries[before...] { bytes += entry.key.count + (entry.value?.count ?? 0) + entry.headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) } }
            if bytes >= maxBytes { break }
        }
        return (entries, next, false)
    }

    /// Appends the keyed records at or after `from`; returns the last offset the batches cover.
    private static func decode(_ bytes: [UInt8], from: Int64, limit: Int, aborted: [AbortedTransaction],
                               into entries: inout [Entry]) throws -> Int64 {
        let codecs = KafkaCodecs()
        var position = 0
        var lastCovered: Int64 = from - 1
        var taken = 0
        var found: [Entry] = []
        defer { entries += found }
        try bytes.withUnsafeBytes { raw in
            while position + RecordBatchHeader.size <= raw.count, taken < limit {
                let header = try RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[position...]))
                guard position + header.totalSize <= raw.count else { break }
                let batch = UnsafeRawBufferPointer(rebasing: raw[position..<(position + header.totalSize)])
                // Markers and the batches of aborted transactions hold no events.
                if header.attributes.isControl || (header.attributes.isTransactional && aborted.contains {
                    $0.producerId == header.producerId && $0.firstOffset <= header.baseOffset && header.baseOffset < $0.lastOffset
                }) {
                    if taken < limit { lastCovered = max(lastCovered, header.lastOffset) }
                    position += header.totalSize
                    continue
                }
                let appendTime = header.attributes.timestampType == .logAppendTime ? header.maxTimestamp : nil
                let visit: (RecordView, UnsafeRawBufferPointer) -> Void = { view, blob in
                    let offset = header.baseOffset + Int64(view.offsetDelta)
                    guard offset >= from, taken < limit else { return }
                    lastCovered = offset
                    let record = Record(view: view, in: blob)
                    guard let key = record.key else { return }
                    found.append(Entry(offset: offset, timestamp: appendTime ?? (header.baseTimestamp &+ record.timestampDelta),
                                         key: key, value: record.value, headers: record.headers))
                    taken += 1
                }
                if header.attributes.compression == CompressionCodec.none {
                    try RecordBatch.forEachRecordView(in: batch, header: header) { view in visit(view, batch) }
                } else if let codec = header.attributes.compression {
                    let blob = try codecs.decompress(codec, UnsafeRawBufferPointer(rebasing: batch[RecordBatchHeader.size...]))
                    try blob.withUnsafeBytes { blob in
                        try RecordBatch.forEachRecordView(inRecords: blob, from: 0, to: blob.count, count: Int(header.recordCount)) { view in visit(view, blob) }
                    }
                } else {
                    throw CodecError.invalid("batch at offset \(header.baseOffset) uses an unknown compression codec")
                }
                if taken < limit { lastCovered = max(lastCovered, header.lastOffset) }
                position += header.totalSize
            }
        }
        return lastCovered
    }
}
