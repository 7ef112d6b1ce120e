import Testing
@testable import SteleCore


private func hexBytes(_ text: String) -> [UInt8] {
    let digits = Array(text.filter(\.isHexDigit))
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

/// kcat 1.7.1 (Produce v7), one record: key "key1", value "hello", headers h1=v1, h2=v2
/// (kafka-protocol.md §1.4, captured on the wire).
private let kcatBatch = hexBytes("""
    00000000 00000000 | 0000004d | 00000000 | 02 | a8c81410 | 0000 | 00000000 | 000001a208a6f1f5 | 000001a208a6f1f5 |
    ffffffffffffffff | ffff | ffffffff | 00000001 | 36 00 00 00 08 6b657931 0a 68656c6c6f 04 04 6831 04 7631 04 6832 04 7632
    """)
private let kcatTimestamp: Int64 = 0x0000_01A2_08A6_F1F5
private let kcatHeaders = [RecordHeader(key: "h1", value: Array("v1".utf8)), RecordHeader(key: "h2", value: Array("v2".utf8))]

private func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Writes `value` big-endian over `bytes[offset...]`.
private func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { raw in
        for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
    }
}

/// A copy of `bytes` changed by `change`, its CRC recomputed unless `fixingCRC` is false, so a
/// mutation inside the CRC range reaches the check it targets instead of the CRC check.
private func mutated(_ bytes: [UInt8], fixingCRC: Bool = true, _ change: (inout [UInt8]) -> Void) -> [UInt8] {
    var copy = bytes
    change(&copy)
    if fixingCRC { copy.withUnsafeMutableBytes { RecordBatch.updateChecksum(in: $0) } }
    return copy
}

/// Expects `validate` to throw a ``CodecError`` whose description mentions `fragment`, so that each
/// rejection test shows the check it targets fired, not an earlier one.
private func expectRejected(_ bytes: [UInt8], origin: RecordBatch.Origin = .client, because fragment: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    let error = #expect(throws: CodecError.self, sourceLocation: sourceLocation) {
        try RecordBatch.validate(bytes, origin: origin)
    }
    guard let error else { return }
    #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
}

private func timestamps(of bytes: [UInt8]) throws -> [Int64] {
    try bytes.withUnsafeBytes { raw in
        let header = try RecordBatchHeader(parsing: raw)
        var result: [Int64] = []
        try RecordBatch.forEachRecordView(in: raw, header: header) { view in
            result.append(RecordBatch.timestamp(of: view, header: header))
        }
        return result
    }
}

private func checksumIsValid(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { RecordBatch.hasValidChecksum($0) }
}

@Suite struct RecordBatchTests {
    // MARK: The captured kcat batch

    @Test func kcatBatchIsAcceptedWithItsHeaderFields() throws {
        #expect(kcatBatch.count == 89)
        let header = try RecordBatch.validate(kcatBatch)
        #expect(header.baseOffset == 0 && header.batchLength == 77 && header.partitionLeaderEpoch == 0)
        #expect(header.magic == 2 && header.crc == 0xA8C8_1410 && header.attributes.rawValue == 0)
        #expect(header.lastOffsetDelta == 0 && header.recordCount == 1)
        #expect(header.baseTimestamp == kcatTimestamp && header.maxTimestamp == kcatTimestamp)
        #expect(header.producerId == -1 && header.producerEpoch == -1 && header.baseSequence == -1)
        #expect(header.totalSize == 89)
        #expect(header.nextOffset == 1)
        #expect(header.attributes.compression == CompressionCodec.none)
        #expect(header.attributes.timestampType == .createTime)
        #expect(CRC32C.checksum(kcatBatch[21...]) == 0xA8C8_1410)
    }

    @Test func kcatBatchRecordDecodesKeyValueAndHeaders() throws {
        let records = try RecordBatch.records(of: kcatBatch)
        #expect(records == [Record(attributes: 0, timestampDelta: 0, offsetDelta: 0,
                                   key: utf8("key1"), value: utf8("hello"), headers: kcatHeaders)])
        #expect(try timestamps(of: kcatBatch) == [kcatTimestamp])
    }

    @Test func builderReproducesKcatBytesExactly() {
        var builder = RecordBatchBuilder(baseTimestamp: kcatTimestamp)
        builder.partitionLeaderEpoch = 0
        builder.producerId = -1
        builder.producerEpoch = -1
        builder.baseSequence = -1
        builder.append(key: utf8("key1"), value: utf8("hello"), headers: kcatHeaders, timestamp: kcatTimestamp)
        #expect(builder.build() == kcatBatch)
    }

    @Test func aiokafkaStyleBatchIsAccepted() throws {
        // aiokafka: partitionLeaderEpoch -1 and baseSequence 0 although producerId is -1 (§1.4).
        let aiokafka = mutated(kcatBatch) { bytes in
            put(Int32(-1), at: 12, in: &bytes)
            put(Int32(0), at: 53, in: &bytes)
        }
        let header = try RecordBatch.validate(aiokafka)
        #expect(header.partitionLeaderEpoch == -1)
        #expect(header.baseSequence == 0)
        #expect(header.producerId == -1)
    }

    // MARK: Rejections

    @Test func wrongMagicIsRejected() {
        for magic: UInt8 in [0, 1, 3, 0xFF] {
            expectRejected(mutated(kcatBatch, fixingCRC: false) { $0[16] = magic }, because: "magic")
        }
    }

    @Test func anyFlippedByteInsideCRCRangeIsACRCMismatch() {
        for position in 17..<kcatBatch.count {  // the CRC field itself, then [21, end)
            expectRejected(mutated(kcatBatch, fixingCRC: false) { $0[position] ^= 0x01 }, because: "CRC32C mismatch")
        }
    }

    @Test func partitionLeaderEpochIsOutsideTheCRC() throws {
        for position in 12..<16 {
            let stamped = mutated(kcatBatch, fixingCRC: false) { $0[position] ^= 0xA5 }
            #expect(checksumIsValid(stamped))
            #expect(try RecordBatch.validate(stamped).partitionLeaderEpoch != 0)
        }
    }

    @Test func batchLengthNotMatchingTheBufferIsRejected() {
        for length: Int32 in [76, 78, 49, 48, 0, -1, -12, .max, .min] {
            expectRejected(mutated(kcatBatch, fixingCRC: false) { put(length, at: 8, in: &$0) }, because: "batch length")
        }
        expectRejected(kcatBatch + [0x00], because: "batch length")
        expectRejected(Array(kcatBatch.dropLast()), because: "batch length")
    }

    @Test func headerShorterThan61BytesIsTruncated() {
        for count in 0..<RecordBatchHeader.size {
            #expect(throws: CodecError.truncated(needed: 61, available: count)) {
                try RecordBatch.validate(Array(kcatBatch.prefix(count)))
            }
        }
    }

    @Test func recordCountZeroIsRejected() {
        let empty = mutated(kcatBatch) { bytes in
            put(Int32(-1), at: 23, in: &bytes)  // lastOffsetDelta = recordCount - 1, so only "> 0" fails
            put(Int32(0), at: 57, in: &bytes)
        }
        expectRejected(empty, because: "record count 0")
        expectRejected(empty, origin: .stored, because: "record count 0")
    }

    @Test func recordCountAboveRecordsPresentIsRejected() {
        let short = mutated(kcatBatch) { bytes in
            put(Int32(1), at: 23, in: &bytes)
            put(Int32(2), at: 57, in: &bytes)
        }
        expectRejected(short, because: "declares 2 records but holds 1")
    }

    @Test func clientLastOffsetDeltaMustBeRecordCountMinusOne() throws {
        let gapped = mutated(kcatBatch) { put(Int32(1), at: 23, in: &$0) }
        expectRejected(gapped, because: "last offset delta 1")
        // A cleaned batch in Stele's own log may end past its last surviving record.
        #expect(try RecordBatch.validate(gapped, origin: .stored).lastOffsetDelta == 1)
    }

    @Test func cleanedBatchWithAscendingDeltasIsAcceptedOnlyWhenStored() throws {
        var builder = RecordBatchBuilder(baseTimestamp: 1_000)
        builder.appendPreservingDeltas(Record(offsetDelta: 0, key: utf8("a"), value: utf8("1")))
        builder.appendPreservingDeltas(Record(timestampDelta: 5, offsetDelta: 2, key: utf8("c"), value: utf8("3")))
        let cleaned = builder.build(lastOffsetDelta: 2)
        expectRejected(cleaned, because: "record count 2 does not match last offset delta 2")
        let header = try RecordBatch.validate(cleaned, origin: .stored)
        #expect(header.recordCount == 2)
        #expect(header.lastOffset == 2)
        #expect(header.maxTimestamp == 1_005)
        #expect(try RecordBatch.records(of: cleaned).map(\.offsetDelta) == [0, 2])
        // Deltas 0, 2 under a count-consistent header still have a gap for a client.
        expectRejected(builder.build(lastOffsetDelta: 1), because: "record 1 has offset delta 2")
    }

    @Test func storedDeltasMustAscendWithinLastOffsetDelta() {
        var descending = RecordBatchBuilder(baseTimestamp: 0)
        descending.appendPreservingDeltas(Record(offsetDelta: 2, key: nil, value: utf8("x")))
        descending.appendPreservingDeltas(Record(offsetDelta: 1, key: nil, value: utf8("y")))
        expectRejected(descending.build(lastOffsetDelta: 2), origin: .stored, because: "out of order")
        var beyond = RecordBatchBuilder(baseTimestamp: 0)
        beyond.appendPreservingDeltas(Record(offsetDelta: 0, key: nil, value: utf8("x")))
        beyond.appendPreservingDeltas(Record(offsetDelta: 4, key: nil, value: utf8("y")))
        expectRejected(beyond.build(lastOffsetDelta: 3), origin: .stored, because: "out of order")
    }

    @Test func recordLengthBeyondTheBatchIsTruncated() {
        // The record length varint 0x36 (27) becomes 0x38 (28); 27 bytes follow it.
        #expect(throws: CodecError.truncated(needed: 28, available: 27)) {
            try RecordBatch.validate(mutated(kcatBatch) { $0[61] = 0x38 })
        }
        #expect(throws: CodecError.negativeLength(-1)) {
            try RecordBatch.validate(mutated(kcatBatch) { $0[61] = 0x01 })
        }
    }

    @Test func unknownCompressionCodecIsRejected() {
        for codec: UInt8 in [5, 6, 7] {
            expectRejected(mutated(kcatBatch) { $0[22] = codec }, because: "unknown compression codec \(codec)")
        }
    }

    // MARK: Broker rewrites

    @Test func setBaseOffsetKeepsTheCRCValid() throws {
        var bytes = kcatBatch
        bytes.withUnsafeMutableBytes { RecordBatch.setBaseOffset(1_234_567, in: $0) }
        #expect(bytes[8...] == kcatBatch[8...])
        #expect(checksumIsValid(bytes))
        let header = try RecordBatch.validate(bytes)
        #expect(header.baseOffset == 1_234_567)
        #expect(header.nextOffset == 1_234_568)
    }

    @Test func setLogAppendTimeSetsBit3AndMaxTimestampAndRecomputesCRC() throws {
        let transactional = mutated(kcatBatch) { $0[22] = 0x10 }  // other attribute bits must survive
        var bytes = transactional
        bytes.withUnsafeMutableBytes { RecordBatch.setLogAppendTime(1_700_000_000_000, in: $0) }
        #expect(checksumIsValid(bytes))
        #expect(bytes[17..<21] != transactional[17..<21])
        let header = try RecordBatch.validate(bytes)
        #expect(header.attributes.rawValue == 0x18)
        #expect(header.attributes.timestampType == .logAppendTime)
        #expect(header.attributes.isTransactional)
        #expect(header.maxTimestamp == 1_700_000_000_000)
        #expect(header.baseTimestamp == kcatTimestamp)
    }

    @Test func hasValidChecksumRejectsCorruptOrShortBuffers() {
        #expect(checksumIsValid(kcatBatch))
        #expect(!checksumIsValid(mutated(kcatBatch, fixingCRC: false) { $0[88] ^= 0x80 }))
        #expect(!checksumIsValid(Array(kcatBatch.prefix(60))))
    }

    // MARK: Record contents and timestamps

    @Test func nullKeyAndNullValueRoundTrip() throws {
        var builder = RecordBatchBuilder(baseTimestamp: 42)
        builder.append(key: nil, value: nil)
        let bytes = builder.build()
        // length 6, attributes, timestampDelta 0, offsetDelta 0, key -1, value -1, no headers
        #expect(Array(bytes[61...]) == [0x0C, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00])
        let record = try #require(try RecordBatch.records(of: bytes).first)
        #expect(record.key == nil)
        #expect(record.value == nil)
    }

    @Test func emptyKeyIsNotNull() throws {
        var builder = RecordBatchBuilder(baseTimestamp: 42)
        builder.append(key: [], value: utf8("v"))
        let record = try #require(try RecordBatch.records(of: builder.build()).first)
        #expect(record.key == [])
        #expect(record.value == utf8("v"))
    }

    @Test func headersKeepNullValuesRepeatedKeysAndOrder() throws {
        let headers = [RecordHeader(key: "trace", value: utf8("1")), RecordHeader(key: "tombstone-reason", value: nil),
                       RecordHeader(key: "trace", value: utf8("2")), RecordHeader(key: "", value: []),
                       RecordHeader(key: "trace", value: nil)]
        var builder = RecordBatchBuilder(baseTimestamp: 42)
        builder.append(key: utf8("k"), value: utf8("v"), headers: headers)
        let bytes = builder.build()
        try RecordBatch.validate(bytes)
        #expect(try RecordBatch.records(of: bytes).first?.headers == headers)
    }

    @Test func createTimeIsBasePlusDeltaAndLogAppendTimeIsMaxTimestamp() throws {
        var builder = RecordBatchBuilder(baseTimestamp: 1_000)
        builder.append(key: nil, value: utf8("a"), timestamp: 1_000)
        builder.append(key: nil, value: utf8("b"), timestamp: 1_500)
        builder.append(key: nil, value: utf8("c"), timestamp: 900)
        var bytes = builder.build()
        #expect(try RecordBatch.validate(bytes).maxTimestamp == 1_500)
        #expect(try RecordBatch.records(of: bytes).map(\.timestampDelta) == [0, 500, -100])
        #expect(try timestamps(of: bytes) == [1_000, 1_500, 900])

        bytes.withUnsafeMutableBytes { RecordBatch.setLogAppendTime(9_999, in: $0) }
        #expect(try timestamps(of: bytes) == [9_999, 9_999, 9_999])
    }

    // MARK: Robustness

    @Test func randomMutationsNeverCrashValidation() throws {
        var rng = SplitMix64(seed: 0x57E1_E000)
        var rich = RecordBatchBuilder(baseTimestamp: kcatTimestamp)
        rich.append(key: nil, value: nil, headers: [RecordHeader(key: "h", value: nil)])
        rich.append(key: [], value: utf8("value"), timestamp: kcatTimestamp + 7)
        rich.append(key: utf8("k"), value: [UInt8](repeating: 0x80, count: 200), headers: [RecordHeader(key: "h", value: [])])
        let originals = [kcatBatch, rich.build()]
        var accepted = 0
        for _ in 0..<20_000 {
            let original = originals[Int.random(in: 0..<originals.count, using: &rng)]
            var bytes = original
            let flips = Int.random(in: 1...4, using: &rng)
            switch rng.next() % 4 {
            case 0:  // raw byte changes anywhere: the CRC (or a header check) should catch them
                for _ in 0..<flips { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = .random(in: 0...255, using: &rng) }
            case 1:  // truncation
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            case 2:  // changes inside the CRC range with a fixed-up CRC, to reach the record parser
                bytes = mutated(bytes) { bytes in
                    for _ in 0..<flips { bytes[Int.random(in: 21..<bytes.count, using: &rng)] = .random(in: 0...255, using: &rng) }
                }
            default:  // records cut or extended, with batchLength and CRC fixed up
                let cut = Int.random(in: RecordBatchHeader.size...bytes.count, using: &rng)
                bytes = mutated(Array(bytes[..<cut]) + (0..<flips).map { _ in .random(in: 0...255, using: &rng) }) { bytes in
                    put(Int32(bytes.count - 12), at: 8, in: &bytes)
                }
            }
            for origin in [RecordBatch.Origin.client, .stored] {
                guard let header = try? RecordBatch.validate(bytes, origin: origin) else { continue }
                accepted += 1
                // Whatever validate accepts must decode.
                if header.attributes.compression == CompressionCodec.none {
                    #expect(try RecordBatch.records(of: bytes).count == Int(header.recordCount))
                }
            }
        }
        #expect(accepted > 0, "no mutation survived, so the accepting path was never exercised")
    }

    // MARK: Hostile values that once trapped instead of throwing

    @Test
    func recordCountInt32MinIsRejectedWithoutTrapping() {
        let hostile = mutated(kcatBatch) { put(Int32.min, at: 57, in: &$0) }
        expectRejected(hostile, because: "record count")
        expectRejected(hostile, origin: .stored, because: "record count")
    }

    @Test
    func storedOffsetDeltaInt32MaxIsCheckedWithoutTrapping() throws {
        var builder = RecordBatchBuilder(baseTimestamp: 0)
        builder.appendPreservingDeltas(Record(offsetDelta: .max, key: nil, value: [1]))
        // Deltas ascend within 0...lastOffsetDelta, so the stored rules accept it.
        #expect(try RecordBatch.validate(builder.build(lastOffsetDelta: .max), origin: .stored).lastOffsetDelta == .max)
    }
}
