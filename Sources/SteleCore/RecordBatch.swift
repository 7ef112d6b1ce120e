/// Operations on the bytes of one RecordBatch v2: validation, record iteration and the
/// in-place rewrites a broker makes on append. Free of I/O; see ``RecordBatchHeader`` for the layout.
public enum RecordBatch {
    /// The largest batch Stele accepts at all, whatever the topic's limit: it bounds what a
    /// length field from the network can make us allocate. (Kafka's `message.max.bytes`
    /// default is 1,048,588; topics may raise it, so this guard sits far above.)
    public static let maxSize = 1 << 30

    /// Who produced the bytes being validated.
    public enum Origin: Sendable {
        /// A producer: offset deltas must be exactly 0..<recordCount (Kafka `LogValidator`).
        case client
        /// Stele's own log: the cleaner may have removed records, so deltas need only ascend
        /// within `0...lastOffsetDelta`.
        case stored
    }

    /// Checks what must hold before a batch can be stored or served: a whole header, magic 2,
    /// `batchLength` equal to the bytes given, a matching CRC32C, a consistent record count, and,
    /// for uncompressed batches, records that parse exactly with valid offset deltas.
    ///
    /// - Returns: the parsed header.
    @discardableResult
    public static func validate(_ bytes: UnsafeRawBufferPointer, origin: Origin = .client) throws(CodecError) -> RecordBatchHeader {
        let header = try RecordBatchHeader(parsing: bytes)
        guard header.magic == RecordBatchHeader.currentMagic else {
            throw .invalid("unsupported batch magic \(header.magic) (Stele stores magic 2 only)")
        }
        guard header.batchLength >= Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead),
              header.totalSize == bytes.count else {
            throw .invalid("batch length \(header.batchLength) does not match the \(bytes.count) bytes given")
        }
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[RecordBatchHeader.Field.attributes...]))
        guard actual == header.crc else {
            throw .invalid("CRC32C mismatch: batch says \(hex(header.crc)), bytes give \(hex(actual))")
        }
        // Compared as Int64: a hostile recordCount of Int32.min must not overflow.
        let countMatches = switch origin {
        case .client: Int64(header.lastOffsetDelta) == Int64(header.recordCount) - 1
        case .stored: Int64(header.lastOffsetDelta) >= Int64(header.recordCount) - 1
        }
        guard header.recordCount > 0, countMatches else {
            throw .invalid("record count \(header.recordCount) does not match last offset delta \(header.lastOffsetDelta)")
        }
        guard header.attributes.compression != nil else {
            throw .invalid("unknown compression codec \(header.attributes.rawValue & 7)")
        }
        if header.attributes.compression == CompressionCodec.none {
            var expected: Int64 = 0
            try forEachRecordView(in: bytes, header: header) { view throws(CodecError) in
                try checkOffsetDelta(view.offsetDelta, expected: &expected, header: header, origin: origin)
            }
        }
        return header
    }

    /// Checks one record's offset delta against the previous ones (`expected` is the lowest
    /// delta the next record may have).
    public static func checkOffsetDelta(_ delta: Int32, expected: inout Int64, header: RecordBatchHeader, origin: Origin) throws(CodecError) {
        let delta = Int64(delta)
        switch origin {
        case .client:
            guard delta == expected else { throw .invalid("record \(expected) has offset delta \(delta)") }
        case .stored:
            guard delta >= expected, delta <= Int64(header.lastOffsetDelta) else {
                throw .invalid("offset delta \(delta) out of order (expected at least \(expected), at most \(header.lastOffsetDelta))")
            }
        }
        expected = delta + 1
    }

    /// Throws ``CodecError``.
    @discardableResult
    public static func validate(_ bytes: [UInt8], origin: Origin = .client) throws -> RecordBatchHeader {
        try bytes.withUnsafeBytes { raw in try validate(raw, origin: origin) }
    }

    /// Whether the stored CRC matches the bytes: the check a read makes before serving a batch.
    public static func hasValidChecksum(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= RecordBatchHeader.size else { return false }
        let stored = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: RecordBatchHeader.Field.crc, as: UInt32.self))
        return stored == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[RecordBatchHeader.Field.attributes...]))
    }

    /// Calls `body` with a view of each record of an uncompressed batch, in order, and checks
    /// that the batch holds exactly the records its header declares.
    public static func forEachRecordView(
        in bytes: UnsafeRawBufferPointer, header: RecordBatchHeader,
        _ body: (RecordView) throws(CodecError) -> Void
    ) throws(CodecError) {
        guard header.attributes.compression == CompressionCodec.none else {
            throw .invalid("records of a compressed batch need decompression first")
        }
        guard header.totalSize >= RecordBatchHeader.size, header.totalSize <= bytes.count else {
            throw .invalid("batch length \(header.batchLength) does not fit the \(bytes.count) bytes given")
        }
        try forEachRecordView(inRecords: bytes, from: RecordBatchHeader.size, to: header.totalSize,
                              count: Int(header.recordCount), body)
    }

    /// Walks `count` records laid out back to back in `bytes[from..<to]` (the records section of an
    /// uncompressed batch, or a decompressed records blob).
    public static func forEachRecordView(
        inRecords bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, count: Int,
        _ body: (RecordView) throws(CodecError) -> Void
    ) throws(CodecError) {
        var reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[..<end]), position: start)
        var parsed = 0
        while reader.remaining > 0 {
            try body(try RecordView(from: &reader))
            parsed += 1
        }
        guard parsed == count else { throw .invalid("batch declares \(count) records but holds \(parsed)") }
    }

    /// Decodes every record of an uncompressed batch.
    /// Throws ``CodecError``.
    public static func records(of bytes: [UInt8]) throws -> [Record] {
        try bytes.withUnsafeBytes { raw in
            let header = try RecordBatchHeader(parsing: raw)
            var records: [Record] = []
            records.reserveCapacity(Int(max(0, min(header.recordCount, 1 << 16))))
            try forEachRecordView(in: raw, header: header) { (view: RecordView) throws(CodecError) in
                records.append(Record(view: view, in: raw))
            }
            return records
        }
    }

    /// Stamps the offset the log assigned. baseOffset lies outside the CRC, so no checksum work.
    public static func setBaseOffset(_ offset: Int64, in bytes: UnsafeMutableRawBufferPointer) {
        bytes.storeBytes(of: offset.bigEndian, toByteOffset: RecordBatchHeader.Field.baseOffset, as: Int64.self)
    }

    /// Turns a batch into a LogAppendTime batch stamped `time` (Kafka `setMaxTimestamp`), which
    /// changes bytes inside the CRC's range, so the CRC is recomputed: kafka-python and aiokafka
    /// check CRCs on fetch.
    public static func setLogAppendTime(_ time: Int64, in bytes: UnsafeMutableRawBufferPointer) {
        let attributesAt = RecordBatchHeader.Field.attributes
        var attributes = RecordBatchAttributes(rawValue: Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: attributesAt, as: Int16.self)))
        attributes.timestampType = .logAppendTime
        bytes.storeBytes(of: attributes.rawValue.bigEndian, toByteOffset: attributesAt, as: Int16.self)
        bytes.storeBytes(of: time.bigEndian, toByteOffset: RecordBatchHeader.Field.maxTimestamp, as: Int64.self)
        updateChecksum(in: bytes)
    }

    /// Corrects a CreateTime batch's `maxTimestamp` to its records' real maximum (Kafka's
    /// `LogValidator` does the same): time lookups and retention trust this field.
    public static func setMaxTimestamp(_ time: Int64, in bytes: UnsafeMutableRawBufferPointer) {
        bytes.storeBytes(of: time.bigEndian, toByteOffset: RecordBatchHeader.Field.maxTimestamp, as: Int64.self)
        updateChecksum(in: bytes)
    }

    /// The largest record timestamp delta among `count` records laid out in `bytes[from..<to]`.
    public static func maxTimestampDelta(inRecords bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, count: Int) throws(CodecError) -> Int64 {
        var largest = Int64.min
        try forEachRecordView(inRecords: bytes, from: start, to: end, count: count) { view throws(CodecError) in
            largest = max(largest, view.timestampDelta)
        }
        return largest
    }

    /// Recomputes the CRC after a rewrite inside `[attributes, end)`.
    public static func updateChecksum(in bytes: UnsafeMutableRawBufferPointer) {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[RecordBatchHeader.Field.attributes...]))
        bytes.storeBytes(of: crc.bigEndian, toByteOffset: RecordBatchHeader.Field.crc, as: UInt32.self)
    }

    /// Timestamp of a record: the batch's `maxTimestamp` for LogAppendTime, else base + delta (§2.3).
    public static func timestamp(of view: RecordView, header: RecordBatchHeader) -> Int64 {
        header.attributes.timestampType == .logAppendTime ? header.maxTimestamp : header.baseTimestamp &+ view.timestampDelta
    }
}

@inline(__always)
func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
