/// A cursor over borrowed bytes that reads Kafka's big-endian integers and zigzag varints.
///
/// Invariant: `0 <= position <= bytes.count`. Every read checks the remaining length first and
/// throws ``CodecError/truncated(needed:available:)`` rather than reading past the end, so a
/// malformed batch from the network can never make the decoder crash.
///
/// The reader borrows `bytes`: use it only inside the `withUnsafeBytes` closure that produced them.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var position: Int

    public init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        precondition(position >= 0 && position <= bytes.count)
        self.bytes = bytes
        self.position = position
    }

    public var remaining: Int { bytes.count - position }

    @inline(__always)
    mutating func require(_ count: Int) throws(CodecError) {
        guard count >= 0, count <= remaining else {
            throw .truncated(needed: count, available: remaining)
        }
    }

    public mutating func readInt8() throws(CodecError) -> Int8 {
        try require(1)
        defer { position += 1 }
        return Int8(bitPattern: bytes[position])
    }

    public mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type = T.self) throws(CodecError) -> T {
        try require(MemoryLayout<T>.size)
        defer { position += MemoryLayout<T>.size }
        return T(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    /// Reads an unsigned LEB128 value of at most `maxBytes` bytes (5 for varint, 10 for varlong).
    @inline(__always)
    mutating func readUnsignedVarint(maxBytes: Int) throws(CodecError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for _ in 0..<maxBytes {
            try require(1)
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw .malformedVarint
    }

    /// A zigzag varint as used inside records (Kafka `ByteUtils.readVarint`), at most 5 bytes.
    public mutating func readVarint() throws(CodecError) -> Int32 {
        let raw = UInt32(truncatingIfNeeded: try readUnsignedVarint(maxBytes: 5))
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A zigzag varlong (Kafka `ByteUtils.readVarlong`), at most 10 bytes.
    public mutating func readVarlong() throws(CodecError) -> Int64 {
        let raw = try readUnsignedVarint(maxBytes: 10)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Reads a length-prefixed byte range whose length is a zigzag varint; -1 means null.
    public mutating func readVarintBytesRange() throws(CodecError) -> Range<Int>? {
        let length = try readVarint()
        if length == -1 { return nil }
        guard length >= 0 else { throw .negativeLength(Int(length)) }
        try require(Int(length))
        defer { position += Int(length) }
        return position..<(position + Int(length))
    }

    public mutating func skip(_ count: Int) throws(CodecError) {
        try require(count)
        position += count
    }

    public func copy(_ range: Range<Int>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }
}

/// Why bytes could not be decoded. Each case names what was wrong so that the caller can report
/// it to a client (a Kafka error code) or to an operator (with a file and a position).
public enum CodecError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case malformedVarint
    case negativeLength(Int)
    case invalid(String)

    public var description: String {
        switch self {
        case let .truncated(needed, available): "truncated: needed \(needed) bytes, \(available) available"
        case .malformedVarint: "malformed varint (longer than its maximum size)"
        case let .negativeLength(length): "negative length \(length)"
        case let .invalid(reason): reason
        }
    }
}
