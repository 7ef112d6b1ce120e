import SteleCompression
import SteleCore
@testable import SteleLog

/// The path a produced batch takes before it is written (full validation with the real
/// codecs, records decoded), and the check recovery and the cleaner make of stored bytes.
func fuzzBatch(_ bytes: UnsafeBufferPointer<UInt8>) {
    let batch = Array(bytes)
    var config = LogConfig()
    config.maxBatchBytes = 1 << 20
    if let validated = try? LogValidator.validate(batch, config: config, decompressor: FuzzCodecs.shared) {
        _ = validated
    }
    if (try? RecordBatch.validate(UnsafeRawBufferPointer(bytes), origin: .stored)) != nil {
        _ = try? RecordBatch.records(of: batch)
    }
    // Almost every mutation breaks the CRC, which is checked first: the same bytes with the
    // CRC made right reach the layout, record and decompression checks behind it.
    guard batch.count >= RecordBatchHeader.size else { return }
    var fixed = batch
    fixed.withUnsafeMutableBytes { RecordBatch.updateChecksum(in: $0) }
    _ = try? LogValidator.validate(fixed, config: config, decompressor: FuzzCodecs.shared)
    if (try? RecordBatch.validate(fixed, origin: .stored)) != nil {
        _ = try? RecordBatch.records(of: fixed)
    }
}

enum FuzzCodecs {
    /// A 1 MiB expansion cap keeps each input fast; the cap itself is what is under test.
    static let shared = KafkaCodecs(maxDecompressedBytes: 1 << 20)
}
