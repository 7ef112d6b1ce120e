/// Kafka's message formats v0 and v1 ("message sets"), which Produce v0–2 and Fetch v0–3 carry,
/// converted to and from the v2 batches Stele stores. Free of I/O.
///
/// A message set is messages back to back, each `offset i64, size i32` then the message:
/// `crc u32` (CRC-32 of the rest), `magic i8` (0 or 1), `attributes i8` (bits 0–2 the codec,
/// bit 3 LogAppendTime in v1), `timestamp i64` (v1 only), `key bytes`, `value bytes` (int32
/// length, -1 for null). A compressed message is a wrapper whose value is a compressed message
/// set of the inner messages.
///
/// Produced sets become one uncompressed v2 batch (v0 messages have no timestamp: -1, as
/// Kafka's up-conversion gives). Fetched batches become uncompressed messages of the magic the
/// version reads; record headers, which v0 and v1 cannot carry, are left out, as Kafka does.
public enum LegacyMessageSet {
    public struct Message: Sendable, Equatable {
        public var offset: Int64
        public var timestamp: Int64
        public var logAppendTime: Bool
        public var key: [UInt8]?
        public var value: [UInt8]?

        public init(offset: Int64, timestamp: Int64 = -1, logAppendTime: Bool = false, key: [UInt8]?, value: [UInt8]?) {
            (self.offset, self.timestamp, self.logAppendTime, self.key, self.value) = (offset, timestamp, logAppendTime, key, value)
        }
    }

    /// Bytes of a message's log overhead: offset and size.
    static let logOverhead = 12

    /// The messages of a produced set, compressed wrappers opened (one level, as Kafka allows).
    /// Every checksum and length is checked; a truncated last message (clients may send one
    /// past a size limit) is an error here, since a produce request must carry whole messages.
    ///
    /// `maxBytes` bounds the keys and values of all messages together, compressed wrappers
    /// opened: a request of small gzip wrappers each expanding to the codec's limit cannot make
    /// the broker hold gigabytes. Past it, the error names ``expandsPastLimit``.
    public static func decode(_ bytes: [UInt8], decompressor: (any RecordDecompressor)?, maxBytes: Int = 64 << 20) throws -> [Message] {
        var messages: [Message] = []
        var budget = maxBytes
        try bytes.withUnsafeBytes { raw in try decode(raw, decompressor: decompressor, wrapperMagic: nil, budget: &budget, into: &messages) }
        guard !messages.isEmpty else { throw CodecError.invalid("the message set holds no message") }
        return messages
    }

    /// What the error says when a set's messages pass `maxBytes`.
    public static let expandsPastLimit = "the message set expands past"

    private static func decode(_ raw: UnsafeRawBufferPointer, decompressor: (any RecordDecompressor)?, wrapperMagic: Int8?,
                               budget: inout Int, into messages: inout [Message]) throws {
        var reader = ByteReader(raw)
        while reader.remaining > 0 {
            let offset: Int64 = try reader.readBigEndian()
            let size: Int32 = try reader.readBigEndian()
            guard size >= 14, Int(size) <= reader.remaining else { throw CodecError.invalid("message size \(size) does not fit the \(reader.remaining) bytes left") }
            let start = reader.position
            let body = UnsafeRawBufferPointer(rebasing: raw[start..<(start + Int(size))])
            var message = ByteReader(body)
            let crc: UInt32 = try message.readBigEndian()
            guard crc == CRC32.checksum(UnsafeRawBufferPointer(rebasing: body[4...])) else {
                throw CodecError.invalid("message at offset \(offset) fails its CRC32 check")
            }
            let magic = try message.readInt8()
            guard magic == 0 || magic == 1 else { throw CodecError.invalid("message magic \(magic) in a v0/v1 message set") }
            // As Kafka: a wrapper's messages are of the wrapper's own format.
            if let wrapperMagic, magic != wrapperMagic {
                throw CodecError.invalid("a compressed message of format v\(wrapperMagic) holds a message of format v\(magic)")
            }
            let attributes = try message.readInt8()
            let timestamp: Int64 = magic == 1 ? try message.readBigEndian() : -1
            let key = try readBytes(&message)
            let value = try readBytes(&message)
            guard message.remaining == 0 else { throw CodecError.invalid("message at offset \(offset) has \(message.remaining) bytes past its value") }
            try reader.skip(Int(size))
            let codecNumber = Int16(attributes & 0x07)
            guard codecNumber != 0 else {
                budget -= (key?.count ?? 0) + (value?.count ?? 0)
                guard budget >= 0 else { throw CodecError.invalid("\(expandsPastLimit) the limit on what one produce may carry") }
                messages.append(Message(offset: offset, timestamp: timestamp, logAppendTime: magic == 1 && attributes & 0x08 != 0, key: key, value: value))
                continue
            }
            guard wrapperMagic == nil else { throw CodecError.invalid("a compressed message inside a compressed message") }
            let before = messages.count
            guard let codec = CompressionCodec(rawValue: codecNumber), codec != .zstd else { throw CodecError.invalid("compression codec \(codecNumber) in a v0/v1 message") }
            guard let decompressor, decompressor.supports(codec) else { throw CodecError.invalid("compression codec \(codec) is not available in this build") }
            guard var value else { throw CodecError.invalid("a compressed message without a value") }
            if codec == .lz4 && magic == 0 { repairLegacyLZ4HeaderChecksum(&value) }
            let inner: [UInt8]
            do { inner = try value.withUnsafeBytes { try decompressor.decompress(codec, $0) } } catch {
                throw CodecError.invalid("\(codec) message at offset \(offset) does not decompress: \(error)")
            }
            try inner.withUnsafeBytes { inner in try decode(inner, decompressor: nil, wrapperMagic: magic, budget: &budget, into: &messages) }
            // As Kafka: a wrapper holds at least one message.
            guard messages.count > before else { throw CodecError.invalid("a compressed message at offset \(offset) holds no message") }

        }
    }

    /// Kafka clients before 0.10 wrote an lz4 frame's header checksum over the frame's magic
    /// number and descriptor instead of the descriptor alone (KAFKA-3160); Kafka reads message
    /// format v0 frames ignoring that byte. Here the byte is set to what the descriptor gives,
    /// so the frame decodes; its blocks keep their own checksums.
    static func repairLegacyLZ4HeaderChecksum(_ frame: inout [UInt8]) {
        guard frame.count >= 7, frame[0..<4] == [0x04, 0x22, 0x4D, 0x18] else { return }
        let flags = frame[4]
        let descriptorEnd = 6 + (flags & 0x08 != 0 ? 8 : 0) + (flags & 0x01 != 0 ? 4 : 0)
        guard descriptorEnd < frame.count else { return }
        frame[descriptorEnd] = UInt8(truncatingIfNeeded: XXHash32.hash(Array(frame[4..<descriptorEnd])) >> 8)
    }

    private static func readBytes(_ reader: inout ByteReader) throws(CodecError) -> [UInt8]? {
        let length: Int32 = try reader.readBigEndian()
        guard length >= 0 else {
            guard length == -1 else { throw CodecError.invalid("negative length \(length)") }
            return nil
        }
        guard Int(length) <= reader.remaining else { throw CodecError.invalid("length \(length) runs past the message") }
        let start = reader.position
        try reader.skip(Int(length))
        return reader.copy(start..<(start + Int(length)))
    }

    /// One uncompressed v2 batch of `messages` (offsets assigned by the log on append).
    public static func batch(of messages: [Message]) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: messages.first?.timestamp ?? -1)
        for message in messages { builder.append(key: message.key, value: message.value, timestamp: message.timestamp) }
        return builder.build()
    }

    /// Encodes `messages` uncompressed at `magic` 0 or 1.
    public static func encode(_ messages: [Message], magic: Int8) -> [UInt8] {
        var writer = ByteWriter(capacity: messages.reduce(0) { $0 + size(of: $1, magic: magic) })
        for message in messages { append(message, magic: magic, to: &writer) }
        return writer.bytes
    }

    static func size(of message: Message, magic: Int8) -> Int {
        logOverhead + 4 + 1 + 1 + (magic == 1 ? 8 : 0) + 4 + (message.key?.count ?? 0) + 4 + (message.value?.count ?? 0)
    }

    private static func append(_ message: Message, magic: Int8, to writer: inout ByteWriter) {
        func withBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
            guard let bytes else { return body(nil) }
            return bytes.withUnsafeBytes { body($0) }
        }
        withBytes(message.key) { key in
            withBytes(message.value) { value in
                appendMessage(offset: message.offset, timestamp: message.timestamp, logAppendTime: message.logAppendTime,
                              key: key, value: value, magic: magic, to: &writer)
            }
        }
    }

    /// Writes one message straight into `writer`: the CRC is computed over the bytes written and
    /// put in its place, with no copy of the message on the way (down-conversion writes one per
    /// record a fetch returns).
    static func appendMessage(offset: Int64, timestamp: Int64, logAppendTime: Bool, key: UnsafeRawBufferPointer?,
                              value: UnsafeRawBufferPointer?, magic: Int8, to writer: inout ByteWriter) {
        let size = 4 + 1 + 1 + (magic == 1 ? 8 : 0) + 4 + (key?.count ?? 0) + 4 + (value?.count ?? 0)
        writer.writeBigEndian(offset)
        writer.writeBigEndian(Int32(size))
        let crcPosition = writer.count
        writer.writeBigEndian(UInt32(0))
        writer.writeInt8(magic)
        writer.writeInt8(magic == 1 && logAppendTime ? 0x08 : 0)
        if magic == 1 { writer.writeBigEndian(timestamp) }
        if let key {
            writer.writeBigEndian(Int32(key.count))
            writer.writeBytes(key)
        } else {
            writer.writeBigEndian(Int32(-1))
        }
        if let value {
            writer.writeBigEndian(Int32(value.count))
            writer.writeBytes(value)
        } else {
            writer.writeBigEndian(Int32(-1))
        }
        let crc = writer.bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[(crcPosition + 4)...])) }
        writer.overwriteBigEndian(crc, at: crcPosition)
    }

    /// The offset after the last whole batch of `batches`, nil when they hold none.
    public static func offset(afterBatches batches: [UInt8]) -> Int64? {
        batches.withUnsafeBytes { raw in
            var position = 0
            var next: Int64?
            while position + RecordBatchHeader.size <= raw.count,
                  let header = try? RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[position...])),
                  header.totalSize >= RecordBatchHeader.size, position + header.totalSize <= raw.count {
                next = header.nextOffset
                position += header.totalSize
            }
            return next
        }
    }

    /// The records of stored v2 `batches` from offset `from` on, as messages of `magic`, up to
    /// `maxBytes` (at least one message, so a consumer always progresses). Control records
    /// (transaction markers) are left out: v0 and v1 have none.
    public static func downConvert(_ batches: [UInt8], magic: Int8, from: Int64, maxBytes: Int,
                                   decompressor: (any RecordDecompressor)?) throws -> [UInt8] {
        // Messages of format v0/v1 take about as many bytes as the records they come from.
        var writer = ByteWriter(capacity: min(maxBytes, batches.count + batches.count / 4) + 64)
        try batches.withUnsafeBytes { raw in
            var position = 0
            while position + RecordBatchHeader.size <= raw.count {
                let header = try RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[position...]))
                let end = position + header.totalSize
                guard header.totalSize >= RecordBatchHeader.size, end <= raw.count else { break }
                defer { position = end }
                if header.attributes.isControl || header.lastOffset < from { continue }
                let batch = UnsafeRawBufferPointer(rebasing: raw[position..<end])
                guard let codec = header.attributes.compression else { throw CodecError.invalid("unknown compression codec") }
                var full = false
                func emit(_ view: RecordView, in bytes: UnsafeRawBufferPointer) {
                    let offset = header.baseOffset + Int64(view.offsetDelta)
                    guard offset >= from, !full else { return }
                    let key = view.key.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
                    let value = view.value.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
                    let size = logOverhead + 4 + 1 + 1 + (magic == 1 ? 8 : 0) + 4 + (key?.count ?? 0) + 4 + (value?.count ?? 0)
                    if writer.count > 0 && writer.count + size > maxBytes { full = true; return }
                    appendMessage(offset: offset, timestamp: RecordBatch.timestamp(of: view, header: header),
                                  logAppendTime: header.attributes.timestampType == .logAppendTime, key: key, value: value, magic: magic, to: &writer)
                }
                if codec == .none {
                    try RecordBatch.forEachRecordView(in: batch, header: header) { view throws(CodecError) in emit(view, in: batch) }
                } else {
                    guard let decompressor, decompressor.supports(codec) else { throw CodecError.invalid("compression codec \(codec) is not available in this build") }
                    let records: [UInt8]
                    do { records = try decompressor.decompress(codec, UnsafeRawBufferPointer(rebasing: batch[RecordBatchHeader.size...])) } catch {
                        throw CodecError.invalid("\(codec) batch at offset \(header.baseOffset) does not decompress: \(error)")
                    }
                    try records.withUnsafeBytes { records in
                        try RecordBatch.forEachRecordView(inRecords: records, from: 0, to: records.count, count: Int(header.recordCount)) { view throws(CodecError) in
                            emit(view, in: records)
                        }
                    }
                }
                if full { return }
            }
        }
        return writer.bytes
    }
}
