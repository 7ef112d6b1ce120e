import Testing
import SteleCore
import SteleCompression

/// Message formats v0 and v1 (Produce v0–2, Fetch v0–3): decoded with every check, converted to
/// the v2 batch Stele stores, and converted back for old readers.
@Suite("Legacy message sets")
struct LegacyMessageSetTests {
    typealias Message = LegacyMessageSet.Message

    @Test func checksumsMatchTheirCheckValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        // Slicing by 8 equals the bit-by-bit definition at every length and alignment.
        func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return crc ^ 0xFFFF_FFFF
        }
        var generator = SystemRandomNumberGenerator()
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<9 {
            for end in stride(from: start, through: data.count, by: 7) {
                #expect(CRC32.checksum(Array(data[start..<end])) == reference(data[start..<end]))
            }
        }
        #expect(XXHash32.hash([UInt8]()) == 0x02CC_5D05)
        #expect(XXHash32.hash(Array("abc".utf8)) == 0x32D1_53FF)
        #expect(XXHash32.hash(Array("Nobody inspects the spammish repetition".utf8)) == 0xE229_3B2F)
    }

    static let messages = [
        Message(offset: 0, timestamp: 1_700_000_000_000, key: Array("k1".utf8), value: Array("v1".utf8)),
        Message(offset: 1, timestamp: 1_700_000_000_005, key: nil, value: Array("unkeyed".utf8)),
        Message(offset: 2, timestamp: 1_700_000_000_009, key: Array("k1".utf8), value: nil),
    ]

    @Test(arguments: [Int8(0), 1])
    func aSetRoundTripsThroughAV2Batch(magic: Int8) throws {
        let sent = LegacyMessageSet.encode(Self.messages, magic: magic)
        let decoded = try LegacyMessageSet.decode(sent, decompressor: KafkaCodecs())
        let expected = Self.messages.map { message in
            var message = message
            if magic == 0 { message.timestamp = -1 }
            return message
        }
        #expect(decoded == expected)
        var batch = LegacyMessageSet.batch(of: decoded)
        #expect(try RecordBatch.validate(batch).recordCount == 3)
        batch.withUnsafeMutableBytes { RecordBatch.setBaseOffset(40, in: $0) }
        let back = try LegacyMessageSet.downConvert(batch, magic: magic, from: 0, maxBytes: 1 << 20, decompressor: KafkaCodecs())
        #expect(try LegacyMessageSet.decode(back, decompressor: nil) == expected.enumerated().map { index, message in
            var message = message
            message.offset = 40 + Int64(index)
            return message
        })
        let fromTheSecond = try LegacyMessageSet.downConvert(batch, magic: magic, from: 41, maxBytes: 1 << 20, decompressor: nil)
        #expect(try LegacyMessageSet.decode(fromTheSecond, decompressor: nil).map(\.offset) == [41, 42])
        let one = try LegacyMessageSet.downConvert(batch, magic: magic, from: 40, maxBytes: 1, decompressor: nil)
        #expect(try LegacyMessageSet.decode(one, decompressor: nil).map(\.offset) == [40], "at least one message, however small the limit")
    }

    /// A compressed wrapper: its value is the compressed set of inner messages.
    static func wrapper(_ inner: [Message], magic: Int8, codec: CompressionCodec, compressed: ([UInt8]) throws -> [UInt8]) throws -> [UInt8] {
        let value = try compressed(LegacyMessageSet.encode(inner, magic: magic))
        var set = LegacyMessageSet.encode([Message(offset: Int64(inner.count - 1), timestamp: 1_700_000_000_009, key: nil, value: value)], magic: magic)
        // Attributes sit after offset (8), size (4), crc (4) and magic (1); the CRC covers them.
        set[17] = UInt8(codec.rawValue)
        let crc = CRC32.checksum(Array(set[16...]))
        set.replaceSubrange(12..<16, with: withUnsafeBytes(of: crc.bigEndian, Array.init))
        return set
    }

    @Test func compressedWrappersOpen() throws {
        let codecs = KafkaCodecs()
        let gzip = try Self.wrapper(Self.messages, magic: 1, codec: .gzip) { try codecs.compress(.gzip, $0) }
        #expect(try LegacyMessageSet.decode(gzip, decompressor: codecs) == Self.messages)
        // lz4 from a client before Kafka 0.10: the header checksum covers the frame's magic too.
        let legacyLZ4 = try Self.wrapper(Self.messages, magic: 0, codec: .lz4) { bytes in
            var frame = try codecs.compress(.lz4, bytes)
            let end = 6 + (frame[4] & 0x08 != 0 ? 8 : 0) + (frame[4] & 0x01 != 0 ? 4 : 0)
            frame[end] = UInt8(truncatingIfNeeded: XXHash32.hash(Array(frame[0..<end])) >> 8)
            return frame
        }
        #expect(try LegacyMessageSet.decode(legacyLZ4, decompressor: codecs).map(\.value) == Self.messages.map(\.value))
        // The inner message is itself a wrapper: refused, as Kafka refuses it.
        var inner = LegacyMessageSet.encode([Message(offset: 0, key: nil, value: try codecs.compress(.gzip, gzip))], magic: 1)
        inner[17] = 1
        let crc = CRC32.checksum(Array(inner[16...]))
        inner.replaceSubrange(12..<16, with: withUnsafeBytes(of: crc.bigEndian, Array.init))
        let doubly = try Self.wrapper([], magic: 1, codec: .gzip) { _ in try codecs.compress(.gzip, inner) }
        #expect(throws: CodecError.self) { try LegacyMessageSet.decode(doubly, decompressor: codecs) }
    }

    @Test func whatAWrapperMayHoldIsBounded() throws {
        let codecs = KafkaCodecs()
        // Small on the wire, large once opened: the whole set counts against one budget.
        let big = [Message(offset: 0, key: nil, value: [UInt8](repeating: 0x61, count: 1 << 20))]
        let wrapper = try Self.wrapper(big, magic: 1, codec: .gzip) { try codecs.compress(.gzip, $0) }
        #expect(wrapper.count < 10_000)
        let set = Array(repeating: wrapper, count: 8).flatMap { $0 }
        #expect(try LegacyMessageSet.decode(set, decompressor: codecs).count == 8)
        #expect { try LegacyMessageSet.decode(set, decompressor: codecs, maxBytes: 4 << 20) } throws: {
            "\($0)".contains(LegacyMessageSet.expandsPastLimit)
        }
        // An empty wrapper, and a v1 wrapper of v0 messages, are refused as Kafka refuses them.
        let empty = try Self.wrapper([], magic: 1, codec: .gzip) { _ in try codecs.compress(.gzip, []) }
        #expect(throws: CodecError.self) { try LegacyMessageSet.decode(empty, decompressor: codecs) }
        let mixed = try Self.wrapper([], magic: 1, codec: .gzip) { _ in try codecs.compress(.gzip, LegacyMessageSet.encode(Self.messages, magic: 0)) }
        #expect(throws: CodecError.self) { try LegacyMessageSet.decode(mixed, decompressor: codecs) }
    }

    @Test func theOffsetAfterStoredBatches() {
        var first = LegacyMessageSet.batch(of: Self.messages)
        first.withUnsafeMutableBytes { RecordBatch.setBaseOffset(10, in: $0) }
        var second = LegacyMessageSet.batch(of: Self.messages)
        second.withUnsafeMutableBytes { RecordBatch.setBaseOffset(13, in: $0) }
        #expect(LegacyMessageSet.offset(afterBatches: first + second) == 16)
        #expect(LegacyMessageSet.offset(afterBatches: first + second.prefix(20)) == 13, "a cut last batch does not count")
        #expect(LegacyMessageSet.offset(afterBatches: []) == nil)
    }

    @Test func damageIsRefusedNeverServed() throws {
        let sent = LegacyMessageSet.encode(Self.messages, magic: 1)
        var flipped = sent
        flipped[30] ^= 0x01
        #expect { try LegacyMessageSet.decode(flipped, decompressor: nil) } throws: { "\($0)".contains("CRC32") }
        var magic2 = sent
        magic2[16] = 2
        #expect(throws: CodecError.self) { try LegacyMessageSet.decode(magic2, decompressor: nil) }
        #expect(throws: CodecError.self) { try LegacyMessageSet.decode([], decompressor: nil) }
        // Every truncation and every hostile size is an error, never a crash or a huge allocation.
        for length in 0..<sent.count { _ = try? LegacyMessageSet.decode(Array(sent[..<length]), decompressor: nil) }
        var huge = sent
        huge.replaceSubrange(8..<12, with: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: CodecError.self) { try LegacyMessageSet.decode(huge, decompressor: nil) }
    }
}
