import NIOCore

/// Writes Kafka's primitive types into a response buffer, classic or compact.
public struct KafkaEncoder {
    public var buffer: ByteBuffer
    public let flexible: Bool

    public init(_ buffer: ByteBuffer, flexible: Bool) {
        self.buffer = buffer
        self.flexible = flexible
    }

    public mutating func int8(_ value: Int8) { buffer.writeInteger(value) }
    public mutating func int16(_ value: Int16) { buffer.writeInteger(value) }
    public mutating func int32(_ value: Int32) { buffer.writeInteger(value) }
    public mutating func int64(_ value: Int64) { buffer.writeInteger(value) }
    public mutating func float64(_ value: Double) { buffer.writeInteger(value.bitPattern) }
    public mutating func bool(_ value: Bool) { buffer.writeInteger(Int8(value ? 1 : 0)) }
    public mutating func uuid(_ value: [UInt8]) {
        precondition(value.count == 16)
        buffer.writeBytes(value)
    }

    public mutating func unsignedVarint(_ value: UInt32) {
        var rest = value
        while rest >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        buffer.writeInteger(UInt8(rest))
    }

    private mutating func length(_ length: Int?, classicInt16: Bool) {
        if flexible {
            unsignedVarint(length.map { UInt32($0 + 1) } ?? 0)
        } else if classicInt16 {
            int16(Int16(length ?? -1))
        } else {
            int32(Int32(length ?? -1))
        }
    }

    /// A classic string's length is an int16: the most bytes it can carry.
    public static let maxClassicStringBytes = Int(Int16.max)

    /// Writes `value`; in a classic (non-flexible) version, a string longer than 32,767 bytes is
    /// cut there, at a character boundary. Only text Stele composes can be that long (an error
    /// message quoting what a flexible request sent): a classic request's strings fit by
    /// construction, and writing the length as an int16 would otherwise trap.
    public mutating func nullableString(_ value: String?) {
        guard let value else { return length(nil, classicInt16: true) }
        var utf8 = Substring(value).utf8
        if !flexible && utf8.count > Self.maxClassicStringBytes {
            var end = utf8.index(utf8.startIndex, offsetBy: Self.maxClassicStringBytes)
            while end > utf8.startIndex && UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
            utf8 = Substring(value)[..<end].utf8
        }
        length(utf8.count, classicInt16: true)
        buffer.writeBytes(utf8)
    }

    public mutating func string(_ value: String) { nullableString(value) }

    public mutating func nullableBytes(_ value: ByteBuffer?) {
        guard var value else { return length(nil, classicInt16: false) }
        length(value.readableBytes, classicInt16: false)
        buffer.writeBuffer(&value)
    }

    public mutating func nullableBytes(_ value: [UInt8]?) {
        guard let value else { return length(nil, classicInt16: false) }
        length(value.count, classicInt16: false)
        buffer.writeBytes(value)
    }

    public mutating func array<T>(_ elements: [T]?, _ element: (inout KafkaEncoder, T) -> Void) {
        guard let elements else { return length(nil, classicInt16: false) }
        length(elements.count, classicInt16: false)
        for value in elements { element(&self, value) }
    }

    /// A tagged-field section holding `fields`, in ascending tag order (flexible versions
    /// only; a classic version writes nothing). Each field's bytes are written into a buffer of
    /// their own first: the section names each field's size before its bytes.
    public mutating func taggedFields(_ fields: [(tag: UInt32, write: (inout KafkaEncoder) -> Void)]) {
        guard flexible else { return }
        assert(zip(fields, fields.dropFirst()).allSatisfy { $0.tag < $1.tag }, "tags ascend")
        unsignedVarint(UInt32(fields.count))
        for field in fields {
            var body = KafkaEncoder(ByteBuffer(), flexible: true)
            field.write(&body)
            unsignedVarint(field.tag)
            unsignedVarint(UInt32(body.buffer.readableBytes))
            buffer.writeImmutableBuffer(body.buffer)
        }
    }

    /// An empty tagged-field section (flexible versions only).
    public mutating func taggedFields() {
        if flexible { unsignedVarint(0) }
    }
}
