import SteleCore

/// Where one keyed record of a batch lies, relative to the start of the batch.
struct BatchRecordLocation: Sendable {
    var key: [UInt8]
    var start: UInt32
    var length: UInt32
    var offsetDelta: Int32
    var timestampDelta: Int64
    var checksum: UInt32
    var spansWholeBatch: Bool
    var isTombstone: Bool
}

/// Finds the keyed records of a batch that passed `RecordBatch.validate`.
enum BatchIndexer {
    static func keyedRecords(in batch: UnsafeRawBufferPointer, header: RecordBatchHeader,
                             decompressor: (any RecordDecompressor)?, origin: RecordBatch.Origin = .stored) throws -> [BatchRecordLocation] {
        var located: [BatchRecordLocation] = []
        // A control record's key is the marker's type, not a stream: it is never indexed.
        if header.attributes.isControl { return located }
        guard let codec = header.attributes.compression else { throw CodecError.invalid("unknown compression codec") }
        if codec == .none {
            try RecordBatch.forEachRecordView(in: batch, header: header) { view throws(CodecError) in
                guard let key = view.key else { return }
                let recordBytes = UnsafeRawBufferPointer(rebasing: batch[view.start..<view.end])
                located.append(BatchRecordLocation(
                    key: Array(UnsafeRawBufferPointer(rebasing: batch[key])), start: UInt32(view.start),
                    length: UInt32(view.end - view.start), offsetDelta: view.offsetDelta,
                    timestampDelta: view.timestampDelta, checksum: CRC32C.checksum(recordBytes), spansWholeBatch: false,
                    isTombstone: view.value == nil))
            }
            return located
        }
        let records = try decompressedRecords(of: batch, header: header, codec: codec, decompressor: decompressor)
        try records.withUnsafeBytes { raw in
            var expected: Int64 = 0
            try RecordBatch.forEachRecordView(inRecords: raw, from: 0, to: raw.count, count: Int(header.recordCount)) { view throws(CodecError) in
                try RecordBatch.checkOffsetDelta(view.offsetDelta, expected: &expected, header: header, origin: origin)
                guard let key = view.key else { return }
                located.append(BatchRecordLocation(
                    key: Array(UnsafeRawBufferPointer(rebasing: raw[key])), start: 0, length: UInt32(batch.count),
                    offsetDelta: view.offsetDelta, timestampDelta: view.timestampDelta, checksum: 0, spansWholeBatch: true,
                    isTombstone: view.value == nil))
            }
        }
        return located
    }

    static func decompressedRecords(of batch: UnsafeRawBufferPointer, header: RecordBatchHeader, codec: CompressionCodec,
                                    decompressor: (any RecordDecompressor)?) throws -> [UInt8] {
        guard let decompressor, decompressor.supports(codec) else {
            throw CodecError.invalid("compression codec \(codec) is not available in this build")
        }
        return try decompressor.decompress(codec, UnsafeRawBufferPointer(rebasing: batch[RecordBatchHeader.size...]))
    }
}
