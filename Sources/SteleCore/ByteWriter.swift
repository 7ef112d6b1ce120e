/// An append-only byte buffer that writes Kafka's big-endian integers and zigzag varints.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func writeInt8(_ value: Int8) {
        bytes.append(UInt8(bitPattern: value))
    }

    public mutating func writeBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeBytes<C: Collection>(_ data: C) where C.Element == UInt8 {
        bytes.append(contentsOf: data)
    }

    mutating func writeUnsignedVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    public mutating func writeVarint(_ value: Int32) {
        writeUnsignedVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    public mutating func writeVarlong(_ value: Int64) {
        writeUnsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Writes a varint length then the bytes; `nil` is written as length -1.
    public mutating func writeVarintBytes(_ data: [UInt8]?) {
        guard let data else { return writeVarint(-1) }
        writeVarint(Int32(data.count))
        bytes.append(contentsOf: data)
    }

    /// Overwrites bytes already written, for fields (length, CRC) known only at the end.
    public mutating func overwriteBigEndian<T: FixedWidthInteger>(_ value: T, at position: Int) {
        precondition(position + MemoryLayout<T>.size <= bytes.count)
        withUnsafeBytes(of: value.bigEndian) { raw in
            for (index, byte) in raw.enumerated() { bytes[position + index] = byte }
        }
    }

    /// Number of bytes `writeVarint`/`writeVarlong` uses for `value` (zigzag encoded).
    public static func varlongSize(_ value: Int64) -> Int {
        var rest = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var size = 1
        while rest >= 0x80 { rest >>= 7; size += 1 }
        return size
    }
}
