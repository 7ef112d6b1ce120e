import SteleCore

/// A batch that passed every check an append makes, with its keyed records located.
struct ValidatedBatch: Sendable {
    var bytes: [UInt8]
    var header: RecordBatchHeader
    var keyedRecords: [BatchRecordLocation]
    /// Checked by the writer, in order, immediately before the batch is placed.
    var expectations: [StreamExpectation] = []
    /// The marker of a control batch (appended by the transaction coordinator, or mirrored).
    var marker: TransactionMarker?
    /// A mirrored batch: placed at its own base offset, its producer state recorded unchecked
    /// (``PartitionLog/appendKeepingOffsets(_:)``).
    var keepsOffsets = false
}

/// The checks made before a batch is appended (Kafka `LogValidator`, kafka-protocol.md §2.4).
/// They run on the appending task, before the batch is queued, so a bad batch costs the writer nothing.
enum LogValidator {
    /// The records' real newest timestamp delta; a producer's `maxTimestamp` is not trusted.
    static func maxTimestampDelta(_ batch: UnsafeRawBufferPointer, header: RecordBatchHeader, decompressor: (any RecordDecompressor)?) throws -> Int64 {
        guard let codec = header.attributes.compression, codec != .none else {
            return try RecordBatch.maxTimestampDelta(inRecords: batch, from: RecordBatchHeader.size, to: header.totalSize, count: Int(header.recordCount))
        }
        let records = try BatchIndexer.decompressedRecords(of: batch, header: header, codec: codec, decompressor: decompressor)
        return try records.withUnsafeBytes { try RecordBatch.maxTimestampDelta(inRecords: $0, from: 0, to: $0.count, count: Int(header.recordCount)) }
    }

    /// `allowsMarker`: the batch may be a transaction marker (only the broker's coordinator
    /// appends those; a client's control batch is refused). `mirrored`: the batch comes from a
    /// source log that already checked it, and is kept byte for byte — its markers, its
    /// LogAppendTime stamps and its `maxTimestamp` are the source's.
    static func validate(_ bytes: [UInt8], config: LogConfig, decompressor: (any RecordDecompressor)?,
                         allowsMarker: Bool = false, mirrored: Bool = false) throws(LogError) -> ValidatedBatch {
        // A mirrored batch was accepted by its source, whose limit may be higher.
        guard bytes.count <= config.maxBatchBytes || mirrored else {
            throw .batchTooLarge(size: bytes.count, limit: config.maxBatchBytes)
        }
        do {
            return try bytes.withUnsafeBytes { raw in
                // A mirrored batch is as its source stores it: compaction there may have removed
                // records inside it (offset deltas with holes).
                let header = try RecordBatch.validate(raw, origin: mirrored ? .stored : .client)
                if mirrored {
                    // The base offset lies outside the CRC: one past what offsets can hold is refused.
                    guard header.baseOffset >= 0, header.baseOffset <= Int64.max - Int64(Int32.max) - 1 else {
                        throw CodecError.invalid("implausible base offset \(header.baseOffset)")
                    }
                }
                var marker: TransactionMarker?
                if header.attributes.isControl {
                    guard allowsMarker || mirrored else { throw CodecError.invalid("control batches cannot be appended by clients") }
                    guard let found = TransactionMarker.of(controlBatch: raw, header: header), header.recordCount == 1 else {
                        throw CodecError.invalid("a control batch holds exactly one commit or abort marker")
                    }
                    marker = found
                }
                if header.attributes.isTransactional && header.producerId < 0 {
                    throw CodecError.invalid("a transactional batch needs a producer id")
                }
                guard header.attributes.timestampType == .createTime || mirrored else {
                    throw CodecError.invalid("a producer may not set the LogAppendTime attribute")
                }
                if marker == nil && header.producerId >= 0 && header.baseSequence < 0 {
                    throw CodecError.invalid("idempotent batch (producer id \(header.producerId)) without a base sequence")
                }
                let keyed = try BatchIndexer.keyedRecords(in: raw, header: header, decompressor: decompressor, origin: mirrored ? .stored : .client)
                if config.cleanupPolicy.contains(.compact) && marker == nil && keyed.count != Int(header.recordCount) {
                    throw CodecError.invalid("a compacted log requires a key on every record")
                }
                var validated = ValidatedBatch(bytes: bytes, header: header, keyedRecords: keyed, marker: marker, keepsOffsets: mirrored)
                if mirrored { return validated }
                let maxTimestamp = header.baseTimestamp &+ (try maxTimestampDelta(raw, header: header, decompressor: decompressor))
                if maxTimestamp != header.maxTimestamp {
                    validated.bytes.withUnsafeMutableBytes { RecordBatch.setMaxTimestamp(maxTimestamp, in: $0) }
                    validated.header.maxTimestamp = maxTimestamp
                    validated.header.crc = validated.bytes.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: RecordBatchHeader.Field.crc, as: UInt32.self)) }
                }
                return validated
            }
        } catch let error as CodecError {
            throw .invalidBatch(error.description)
        } catch {
            throw .invalidBatch("\(error)")
        }
    }
}
