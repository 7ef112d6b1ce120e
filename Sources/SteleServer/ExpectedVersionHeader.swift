import SteleCompression
import SteleCore
import SteleLog

/// The `stele.expected-version` record header: the optimistic-concurrency check of the event
/// store, asked for through an unchanged Kafka producer (kafka-protocol.md §6). Its value is
/// ASCII decimal — the version of the stream's last event (streams count from 0), or -1 for
/// "the stream must not exist yet". A record without the header is appended unchecked.
enum ExpectedVersionHeader {
    static let name = "stele.expected-version"
    static let nameBytes = Array(name.utf8)

    enum Failure: Error, CustomStringConvertible {
        case malformed(offsetDelta: Int32, value: String)
        var description: String {
            switch self {
            case let .malformed(delta, value): "record \(delta): \(ExpectedVersionHeader.name) must be a decimal version or -1, got '\(value)'"
            }
        }
    }

    /// The expectations a batch's records carry (empty when none has the header).
    static func expectations(in batch: [UInt8], codecs: KafkaCodecs) throws -> [StreamExpectation] {
        try batch.withUnsafeBytes { raw in
            let header = try RecordBatchHeader(parsing: raw)
            var found: [StreamExpectation] = []
            // Runs on every produced batch with headers: header bytes are compared in place,
            // nothing of the record is copied unless the header is there.
            let visit: (RecordView, UnsafeRawBufferPointer) throws -> Void = { view, bytes in
                guard view.headerCount > 0 else { return }
                var reader = ByteReader(bytes, position: view.headersStart)
                for _ in 0..<view.headerCount {
                    // RecordView already checked these bytes, so they parse.
                    let keyRange = try reader.readVarintBytesRange()!
                    let valueRange = try reader.readVarintBytesRange()
                    guard UnsafeRawBufferPointer(rebasing: bytes[keyRange]).elementsEqual(nameBytes) else { continue }
                    let text = String(decoding: valueRange.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0), as: UTF8.self)
                    guard let version = Int64(text), version >= -1 else { throw Failure.malformed(offsetDelta: view.offsetDelta, value: text) }
                    found.append(StreamExpectation(offsetDelta: view.offsetDelta, expected: version == -1 ? .noStream : .exact(version)))
                }
            }
            guard let codec = header.attributes.compression else { return [] }
            if codec == .none {
                try RecordBatch.forEachRecordView(in: raw, header: header) { view throws(CodecError) in
                    do { try visit(view, raw) } catch let error as CodecError { throw error } catch { throw .invalid("\(error)") }
                }
            } else {
                let records = try codecs.decompress(codec, UnsafeRawBufferPointer(rebasing: raw[RecordBatchHeader.size...]))
                try records.withUnsafeBytes { blob in
                    try RecordBatch.forEachRecordView(inRecords: blob, from: 0, to: blob.count, count: Int(header.recordCount)) { view throws(CodecError) in
                        do { try visit(view, blob) } catch let error as CodecError { throw error } catch { throw .invalid("\(error)") }
                    }
                }
            }
            return found
        }
    }
}
