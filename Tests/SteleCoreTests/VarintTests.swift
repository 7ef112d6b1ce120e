import Testing
@testable import SteleCore


private func varint(_ value: Int32) -> [UInt8] {
    var writer = ByteWriter()
    writer.writeVarint(value)
    return writer.bytes
}

private func varlong(_ value: Int64) -> [UInt8] {
    var writer = ByteWriter()
    writer.writeVarlong(value)
    return writer.bytes
}

/// Runs `body` on a reader over `bytes` and checks that it consumed every byte.
private func read<T>(_ bytes: [UInt8], _ body: (inout ByteReader) throws -> T) throws -> T {
    try bytes.withUnsafeBytes { raw in
        var reader = ByteReader(raw)
        let value = try body(&reader)
        #expect(reader.remaining == 0, "reader left \(reader.remaining) of \(bytes.count) bytes")
        return value
    }
}

/// Zigzag + LEB128 vectors (Kafka `ByteUtils`): 32-bit `(n << 1) ^ (n >> 31)`, least significant group first.
private let varintVectors: [(Int32, [UInt8])] = [
    (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]),
    (63, [0x7E]), (-64, [0x7F]), (64, [0x80, 0x01]), (-65, [0x81, 0x01]),
    (8191, [0xFE, 0x7F]), (-8192, [0xFF, 0x7F]), (8192, [0x80, 0x80, 0x01]),
    (.max, [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]), (.min, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
]

private let varlongVectors: [(Int64, [UInt8])] = [
    (0, [0x00]), (-1, [0x01]), (1, [0x02]), (63, [0x7E]), (-64, [0x7F]), (64, [0x80, 0x01]),
    (Int64(Int32.max), [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]), (Int64(Int32.min), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    (Int64(Int32.max) + 1, [0x80, 0x80, 0x80, 0x80, 0x10]),
    (.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    (.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
]

@Suite struct VarintTests {
    @Test(arguments: varintVectors)
    func varintEncodesToKnownBytes(value: Int32, bytes: [UInt8]) throws {
        #expect(varint(value) == bytes)
        #expect(try read(bytes) { try $0.readVarint() } == value)
    }

    @Test(arguments: varlongVectors)
    func varlongEncodesToKnownBytes(value: Int64, bytes: [UInt8]) throws {
        #expect(varlong(value) == bytes)
        #expect(try read(bytes) { try $0.readVarlong() } == value)
        #expect(ByteWriter.varlongSize(value) == bytes.count)
    }

    @Test func randomVarintsRoundTripBackToBack() throws {
        var rng = SplitMix64(seed: 0x00C0_FFEE)
        // Shift by a random width so that every encoded length (1...5 bytes) is well represented.
        let values: [Int32] = (0..<10_000).map { _ in
            Int32(truncatingIfNeeded: Int64(bitPattern: rng.next())) >> Int32.random(in: 0...31, using: &rng)
        }
        var writer = ByteWriter()
        for value in values { writer.writeVarint(value) }
        let decoded = try read(writer.bytes) { reader in try values.map { _ in try reader.readVarint() } }
        #expect(decoded == values)
    }

    @Test func randomVarlongsRoundTripBackToBack() throws {
        var rng = SplitMix64(seed: 0x0BAD_5EED)
        let values: [Int64] = (0..<10_000).map { _ in
            Int64(bitPattern: rng.next()) >> Int64.random(in: 0...63, using: &rng)
        }
        var writer = ByteWriter()
        var expectedSize = 0
        for value in values {
            writer.writeVarlong(value)
            expectedSize += ByteWriter.varlongSize(value)
        }
        #expect(writer.count == expectedSize)
        let decoded = try read(writer.bytes) { reader in try values.map { _ in try reader.readVarlong() } }
        #expect(decoded == values)
    }

    @Test func varintLongerThanFiveBytesIsMalformed() {
        #expect(throws: CodecError.malformedVarint) {
            try read([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) { try $0.readVarint() }
        }
        // Even a redundant encoding of 0 is rejected once it needs a sixth byte.
        #expect(throws: CodecError.malformedVarint) {
            try read([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]) { try $0.readVarint() }
        }
    }

    @Test func varlongLongerThanTenBytesIsMalformed() {
        #expect(throws: CodecError.malformedVarint) {
            try read([UInt8](repeating: 0xFF, count: 10) + [0x01]) { try $0.readVarlong() }
        }
    }

    @Test func truncatedVarintThrowsTruncated() {
        #expect(throws: CodecError.truncated(needed: 1, available: 0)) {
            try read([]) { try $0.readVarint() }
        }
        // A continuation bit with nothing after it.
        #expect(throws: CodecError.truncated(needed: 1, available: 0)) {
            try read([0x80]) { try $0.readVarint() }
        }
        #expect(throws: CodecError.truncated(needed: 1, available: 0)) {
            try read([0xFF, 0xFF, 0xFF]) { try $0.readVarlong() }
        }
    }

    @Test func varintBytesReadNullEmptyAndPresentRanges() throws {
        let ranges = try read([0x01, 0x00, 0x06, 0x61, 0x62, 0x63]) { reader in
            [try reader.readVarintBytesRange(), try reader.readVarintBytesRange(), try reader.readVarintBytesRange()]
        }
        #expect(ranges == [nil, 2..<2, 3..<6])
    }

    @Test func varintBytesRejectNegativeAndOverlongLengths() {
        #expect(throws: CodecError.negativeLength(-2)) {
            try read([0x03]) { try $0.readVarintBytesRange() }
        }
        // Length 5 with only 3 bytes following.
        #expect(throws: CodecError.truncated(needed: 5, available: 3)) {
            try read([0x0A, 0x61, 0x62, 0x63]) { try $0.readVarintBytesRange() }
        }
    }

    @Test func writerEncodesNullBytesAsMinusOne() {
        var writer = ByteWriter()
        writer.writeVarintBytes(nil)
        writer.writeVarintBytes([])
        writer.writeVarintBytes([0xAB])
        #expect(writer.bytes == [0x01, 0x00, 0x02, 0xAB])
    }

    @Test func bigEndianIntegersRoundTripAndCheckLength() throws {
        var writer = ByteWriter()
        writer.writeBigEndian(Int64(0x0000_01A2_08A6_F1F5))
        writer.writeBigEndian(Int32(77))
        writer.writeBigEndian(Int16(-1))
        writer.writeInt8(2)
        #expect(writer.bytes == [0x00, 0x00, 0x01, 0xA2, 0x08, 0xA6, 0xF1, 0xF5, 0x00, 0x00, 0x00, 0x4D, 0xFF, 0xFF, 0x02])
        writer.overwriteBigEndian(UInt32(0xA8C8_1410), at: 8)
        #expect(Array(writer.bytes[8..<12]) == [0xA8, 0xC8, 0x14, 0x10])

        let values = try read(writer.bytes) { reader in
            (try reader.readBigEndian(Int64.self), try reader.readBigEndian(UInt32.self),
             try reader.readBigEndian(Int16.self), try reader.readInt8())
        }
        #expect(values == (0x0000_01A2_08A6_F1F5, 0xA8C8_1410, -1, 2))
        #expect(throws: CodecError.truncated(needed: 4, available: 3)) {
            try read([0, 0, 0]) { try $0.readBigEndian(Int32.self) }
        }
    }
}
