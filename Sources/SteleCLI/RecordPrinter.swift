import Foundation
import SteleCore
import SteleWire

/// Human-readable lines for `stele log dump`.
enum RecordPrinter {
    static func describe(_ header: RecordBatchHeader, position: Int64) -> String {
        let codec = header.attributes.compression?.description ?? "unknown"
        let timeType = header.attributes.timestampType == .logAppendTime ? "append" : "create"
        return "batch offsets \(header.baseOffset)...\(header.lastOffset) position \(position) size \(header.totalSize) "
            + "records \(header.recordCount) crc \(String(header.crc, radix: 16)) codec \(codec) "
            + "time \(timeType) \(iso(header.baseTimestamp))..\(iso(header.maxTimestamp)) "
            + "producer \(header.producerId)/\(header.producerEpoch)/\(header.baseSequence)"
            + (header.attributes.isTransactional ? " transactional" : "") + (header.attributes.isControl ? " control" : "")
    }

    static func describeRecords(_ batch: UnsafeRawBufferPointer, header: RecordBatchHeader, valueChars: Int) -> [String] {
        guard header.attributes.compression == CompressionCodec.none else { return ["(\(header.recordCount) compressed records)"] }
        var lines: [String] = []
        try? RecordBatch.forEachRecordView(in: batch, header: header) { view throws(CodecError) in
            let record = Record(view: view, in: batch)
            var line = "offset \(header.baseOffset + Int64(view.offsetDelta)) time \(iso(RecordBatch.timestamp(of: view, header: header))) "
            line += "key \(show(record.key, limit: 80)) value \(show(record.value, limit: valueChars))"
            if !record.headers.isEmpty {
                line += " headers [" + record.headers.map { "\($0.key)=\(show($0.value, limit: 40))" }.joined(separator: ", ") + "]"
            }
            lines.append(line)
        }
        return lines
    }

    /// Text in quotes when it is UTF-8, else hex; abbreviated past `limit` with the full size.
    static func show(_ bytes: [UInt8]?, limit: Int) -> String {
        guard let bytes else { return "null" }
        if let text = String(validating: bytes, as: UTF8.self), !text.contains(where: { $0.isNewline }) {
            let cut = text.count > limit ? String(text.prefix(limit)) + "…" : text
            return "\"\(cut)\"" + (text.count > limit ? " (\(bytes.count) B)" : "")
        }
        let hex = bytes.prefix(limit / 2).map { String(format: "%02x", $0) }.joined()
        return "0x" + hex + (bytes.count > limit / 2 ? "… (\(bytes.count) B)" : "")
    }

    /// A batch's time as ISO 8601, or the number as stored when it is before 1970 or after 9999:
    /// a producer chooses its timestamps, and a damaged log is what `dump` is for.
    static func iso(_ milliseconds: Int64) -> String {
        guard (0...253_402_300_799_999).contains(milliseconds) else { return "\(milliseconds)" }
        return ISO8601Milliseconds.format(milliseconds)
    }
}
