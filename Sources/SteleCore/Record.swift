/// One record of a RecordBatch v2, decoded into owned values.
///
/// Wire layout (Kafka `DefaultRecord`), every integer a zigzag varint/varlong:
/// `length attributes:i8 timestampDelta offsetDelta keyLength key valueLength value headerCount headers…`
/// A length of -1 means null: a null value is a tombstone in a compacted topic.
public struct Record: Sendable, Equatable {
    public var attributes: Int8
    public var timestampDelta: Int64
    public var offsetDelta: Int32
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public init(attributes: Int8 = 0, timestampDelta: Int64 = 0, offsetDelta: Int32 = 0,
                key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = []) {
        self.attributes = attributes
        self.timestampDelta = timestampDelta
        self.offsetDelta = offsetDelta
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// Decodes one record, length prefix included, from `reader`.
    public init(from reader: inout ByteReader) throws(CodecError) {
        let view = try RecordView(from: &reader)
        self.init(view: view, in: reader.bytes)
    }

    /// Copies the fields a ``RecordView`` points at.
    public init(view: RecordView, in bytes: UnsafeRawBufferPointer) {
        var reader = ByteReader(bytes)
        attributes = view.attributes
        timestampDelta = view.timestampDelta
        offsetDelta = view.offsetDelta
        key = view.key.map { reader.copy($0) }
        value = view.value.map { reader.copy($0) }
        headers = []
        headers.reserveCapacity(view.headerCount)
        reader = ByteReader(bytes, position: view.headersStart)
        for _ in 0..<view.headerCount {
            // The view already walked these bytes, so they are known to be well formed.
            let keyRange = try! reader.readVarintBytesRange()!
            let valueRange = try! reader.readVarintBytesRange()
            headers.append(RecordHeader(
                key: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[keyRange]), as: UTF8.self),
                value: valueRange.map { reader.copy($0) }))
        }
    }

    /// Appends the encoded record, length prefix included.
    public func encode(into writer: inout ByteWriter) {
        var body = ByteWriter(capacity: 32 + (key?.count ?? 0) + (value?.count ?? 0))
        body.writeInt8(attributes)
        body.writeVarlong(timestampDelta)
        body.writeVarint(offsetDelta)
        body.writeVarintBytes(key)
        body.writeVarintBytes(value)
        body.writeVarint(Int32(headers.count))
        for header in headers {
            body.writeVarintBytes(Array(header.key.utf8))
            body.writeVarintBytes(header.value)
        }
        writer.writeVarint(Int32(body.count))
        writer.writeBytes(body.bytes)
    }
}

/// A record header: a UTF-8 key (keys may repeat, order is kept) and a nullable value.
public struct RecordHeader: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// Where the parts of one encoded record lie inside a buffer, without copying them.
///
/// A log scan uses views to index keys and to find timestamps while leaving the bytes where
/// they are. Every range is checked against the record's own length while parsing.
public struct RecordView: Sendable, Equatable {
    /// Position of the record's length varint: the record spans `start..<end`.
    public var start: Int
    public var end: Int
    public var attributes: Int8
    public var timestampDelta: Int64
    public var offsetDelta: Int32
    public var key: Range<Int>?
    public var value: Range<Int>?
    public var headerCount: Int
    public var headersStart: Int

    /// Longest record header section Stele will walk (bounds work on hostile input).
    public static let maxHeaderCount = 1 << 20

    public init(from reader: inout ByteReader) throws(CodecError) {
        start = reader.position
        let length = try reader.readVarint()
        guard length >= 0 else { throw .negativeLength(Int(length)) }
        try reader.require(Int(length))
        end = reader.position + Int(length)
        // Parse inside a reader limited to this record, so no field can run into the next one.
        var inner = ByteReader(UnsafeRawBufferPointer(rebasing: reader.bytes[..<end]), position: reader.position)
        attributes = try inner.readInt8()
        timestampDelta = try inner.readVarlong()
        offsetDelta = try inner.readVarint()
        key = try inner.readVarintBytesRange()
        value = try inner.readVarintBytesRange()
        let count = try inner.readVarint()
        guard count >= 0, Int(count) <= Self.maxHeaderCount else { throw .invalid("record header count \(count) out of range") }
        headerCount = Int(count)
        headersStart = inner.position
        for _ in 0..<headerCount {
            guard try inner.readVarintBytesRange() != nil else { throw .invalid("record header with a null key") }
            _ = try inner.readVarintBytesRange()
        }
        guard inner.position == end else {
            throw .invalid("record length \(length) does not match its fields (\(inner.position - start) bytes)")
        }
        try reader.skip(end - reader.position)
    }
}
