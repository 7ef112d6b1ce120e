import SteleCore

/// A batch that passed every check an append makes, with its keyed records located.
struct ValidatedBatch: Sendable {
    var bytes: [UInt8]
    var header: RecordBatchHeader
    var keyedRecords: [BatchRecordLocation]
}

/// The checks made before a batch is appended (Kafka `LogValidator`, kafka-protocol.md §2.4).
/// They run on the appending task, before the batch is queued, so a bad batch costs the writer nothing.
enum LogValidator {
    static func validate(_ bytes: [UInt8], config: LogConfig, decompressor: (any RecordDecompressor)?) throws(LogError) -> ValidatedBatch {
        guard bytes.count <= config.maxBatchBytes else {
            throw .batchTooLarge(size: bytes.count, limit: config.maxBatchBytes)
        }
        do {
            return try bytes.withUnsafeBytes { raw in
                let header = try RecordBatch.validate(raw)
                guard !header.attributes.isControl else { throw CodecError.invalid("control batches cannot be appended by clients") }
                guard header.attributes.timestampType == .createTime else {
                    throw CodecError.invalid("a producer may not set the LogAppendTime attribute")
                }
                if header.producerId >= 0 && header.baseSequence < 0 {
                    throw CodecError.invalid("idempotent batch (producer id \(header.producerId)) without a base sequence")
                }
                let keyed = try BatchIndexer.keyedRecords(in: raw, header: header, decompressor: decompressor, origin: .client)
                if config.cleanupPolicy.contains(.compact) && keyed.count != Int(header.recordCount) {
                    throw CodecError.invalid("a compacted log requires a key on every record")
                }
                return ValidatedBatch(bytes: bytes, header: header, keyedRecords: keyed)
            }
        } catch let error as CodecError {
            throw .invalidBatch(error.description)
        } catch {
            throw .invalidBatch("\(error)")
        }
    }
}
