/// Snappy decompression in Swift (format: google/snappy `format_description.txt`), so that
/// snappy batches need no system library.
///
/// Kafka producers send two framings: librdkafka writes a raw snappy block; the Java client
/// (and clients copying it) wraps blocks in xerial/snappy-java framing — an 8-byte magic
/// `82 'SNAPPY' 00`, two int32 version fields, then `[int32 length][raw block]`… Both are read.
public enum Snappy {
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]

    public enum Failure: Error, CustomStringConvertible {
        case malformed(String)
        case tooLarge(Int)

        public var description: String {
            switch self {
            case let .malformed(reason): "malformed snappy data: \(reason)"
            case let .tooLarge(size): "snappy data decompresses to \(size) bytes, over the limit"
            }
        }
    }

    /// Decompresses either framing; `limit` bounds the output (a hostile length cannot make
    /// Stele allocate more).
    public static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws -> [UInt8] {
        if input.count >= 16 && input.prefix(8).elementsEqual(xerialMagic) {
            var output: [UInt8] = []
            var position = 16
            while position < input.count {
                guard position + 4 <= input.count else { throw Failure.malformed("truncated xerial block length") }
                let length = Int(UInt32(bigEndian: input.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
                position += 4
                guard length <= input.count - position else { throw Failure.malformed("xerial block runs past the end") }
                try decompressBlock(UnsafeRawBufferPointer(rebasing: input[position..<(position + length)]), into: &output, limit: limit)
                position += length
            }
            return output
        }
        var output: [UInt8] = []
        try decompressBlock(input, into: &output, limit: limit)
        return output
    }

    /// One raw snappy block: a varint uncompressed length, then literals and back-references.
    static func decompressBlock(_ input: UnsafeRawBufferPointer, into output: inout [UInt8], limit: Int) throws {
        var position = 0
        func byte() throws -> Int {
            guard position < input.count else { throw Failure.malformed("truncated block") }
            defer { position += 1 }
            return Int(input[position])
        }
        var expected = 0
        for shift in stride(from: 0, to: 35, by: 7) {
            let next = try byte()
            expected |= (next & 0x7F) << shift
            if next & 0x80 == 0 { break }
            if shift == 28 { throw Failure.malformed("length varint too long") }
        }
        let start = output.count
        guard expected <= limit - start else { throw Failure.tooLarge(start + expected) }
        output.reserveCapacity(start + expected)
        while position < input.count {
            let tag = try byte()
            switch tag & 3 {
            case 0:
                var length = tag >> 2
                if length >= 60 {
                    let extra = length - 59
                    length = 0
                    for index in 0..<extra { length |= try byte() << (8 * index) }
                }
                length += 1
                guard length <= input.count - position else { throw Failure.malformed("literal runs past the end") }
                guard output.count - start + length <= expected else { throw Failure.malformed("more output than announced") }
                output.append(contentsOf: input[position..<(position + length)])
                position += length
            default:
                let length: Int
                let offset: Int
                switch tag & 3 {
                case 1:
                    length = ((tag >> 2) & 7) + 4
                    offset = ((tag >> 5) << 8) | (try byte())
                case 2:
                    length = (tag >> 2) + 1
                    offset = try byte() | (try byte() << 8)
                default:
                    length = (tag >> 2) + 1
                    offset = try byte() | (try byte() << 8) | (try byte() << 16) | (try byte() << 24)
                }
                guard offset > 0, offset <= output.count - start else { throw Failure.malformed("copy offset \(offset) out of range") }
                guard output.count - start + length <= expected else { throw Failure.malformed("more output than announced") }
                // Byte by byte: a copy may overlap the bytes it produces (run-length style).
                let from = output.count - offset
                for index in 0..<length { output.append(output[from + index]) }
            }
        }
        guard output.count - start == expected else { throw Failure.malformed("block holds \(output.count - start) bytes, announced \(expected)") }
    }
}
