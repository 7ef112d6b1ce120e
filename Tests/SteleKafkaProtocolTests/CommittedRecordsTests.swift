import SteleCompression
import SteleCore
import Testing
@testable import SteleKafkaProtocol

/// What a read_committed reader keeps of fetched bytes (`stele mirror --offsets translate`
/// copies exactly this): markers and aborted transactions dropped, records before the fetch
/// position left out, compressed batches read, damage and impossible offsets refused.
struct CommittedRecordsTests {
    static func batch(at offset: Int64, _ values: [String], producerId: Int64 = -1, transactional: Bool = false,
                      compression: CompressionCodec = .none) throws -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.producerId = producerId
        if producerId >= 0 { (builder.producerEpoch, builder.baseSequence) = (0, 0) }
        if transactional { builder.attributes = RecordBatchAttributes(rawValue: 0x10) }
        for (index, value) in values.enumerated() {
            builder.append(key: Array("k\(index)".utf8), value: Array(value.utf8), headers: [RecordHeader(key: "h", value: [UInt8(index)])],
                           timestamp: 1_700_000_000_000 + Int64(index))
        }
        var bytes = builder.build()
        if compression != .none {
            let records = try KafkaCodecs().compress(compression, Array(bytes[RecordBatchHeader.size...]))
            bytes = Array(bytes[..<RecordBatchHeader.size]) + records
            let attributes = Int16(bigEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: RecordBatchHeader.Field.attributes, as: Int16.self) })
            bytes.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: Int32(raw.count - RecordBatchHeader.logOverhead).bigEndian, toByteOffset: 8, as: Int32.self)
                raw.storeBytes(of: (attributes | compression.rawValue).bigEndian, toByteOffset: RecordBatchHeader.Field.attributes, as: Int16.self)
                let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[RecordBatchHeader.Field.attributes...]))
                raw.storeBytes(of: crc.bigEndian, toByteOffset: RecordBatchHeader.Field.crc, as: UInt32.self)
            }
        }
        bytes.withUnsafeMutableBytes { RecordBatch.setBaseOffset(offset, in: $0) }
        return bytes
    }

    static func marker(_ marker: TransactionMarker, at offset: Int64, producerId: Int64) -> [UInt8] {
        var bytes = marker.batch(producerId: producerId, producerEpoch: 0, coordinatorEpoch: 0, timestamp: 1_700_000_000_000)
        bytes.withUnsafeMutableBytes { RecordBatch.setBaseOffset(offset, in: $0) }
        return bytes
    }

    static func values(_ records: [CommittedRecord]) -> [String] { records.map { String(decoding: $0.value!, as: UTF8.self) } }

    @Test func abortedTransactionsAndMarkersAreDroppedCommittedOnesKept() throws {
        // Producer 7 commits a transaction, producer 8 aborts one, interleaved with plain records.
        let bytes = try Self.batch(at: 0, ["a", "b"]) + Self.batch(at: 2, ["t1", "t2"], producerId: 7, transactional: true)
            + Self.batch(at: 4, ["x1"], producerId: 8, transactional: true) + Self.batch(at: 5, ["c"])
            + Self.marker(.commit, at: 6, producerId: 7) + Self.batch(at: 7, ["x2"], producerId: 8, transactional: true)
            + Self.marker(.abort, at: 8, producerId: 8) + Self.batch(at: 9, ["y"], producerId: 8, transactional: true)
            + Self.marker(.commit, at: 10, producerId: 8)
        let (records, next) = try CommittedRecords.extract(bytes, abortedTransactions: [(producerId: 8, firstOffset: 4)], from: 0, decompressor: nil)
        #expect(Self.values(records) == ["a", "b", "t1", "t2", "c", "y"], "producer 8's transaction after its abort marker is its next one")
        #expect(records.map(\.offset) == [0, 1, 2, 3, 5, 9])
        #expect(next == 11)
        #expect(records[1].key == Array("k1".utf8) && records[1].headers == [RecordHeader(key: "h", value: [1])])
        #expect(records[1].timestamp == 1_700_000_000_001)
    }

    @Test func recordsBeforeThePositionAreLeftOutAndAPartialBatchEndsTheFetch() throws {
        let whole = try Self.batch(at: 10, ["a", "b", "c", "d"])
        let partial = try Self.batch(at: 14, ["e"])
        let (records, next) = try CommittedRecords.extract(whole + partial.dropLast(3), abortedTransactions: [], from: 12, decompressor: nil)
        #expect(Self.values(records) == ["c", "d"] && next == 14)
        let (none, nothing) = try CommittedRecords.extract(Array(partial.dropLast(3)), abortedTransactions: [], from: 14, decompressor: nil)
        #expect(none.isEmpty && nothing == nil)
    }

    @Test func compressedBatchesAreReadWithTheDecompressor() throws {
        let bytes = try Self.batch(at: 0, ["one", "two", "three"], compression: .lz4) + Self.batch(at: 3, ["four"], compression: .gzip)
        let (records, next) = try CommittedRecords.extract(bytes, abortedTransactions: [], from: 1, decompressor: KafkaCodecs())
        #expect(Self.values(records) == ["two", "three", "four"] && next == 4)
        #expect(throws: CodecError.self) { _ = try CommittedRecords.extract(bytes, abortedTransactions: [], from: 0, decompressor: nil) }
    }

    @Test func aDamagedBatchOrImpossibleOffsetsAreRefused() throws {
        var damaged = try Self.batch(at: 0, ["a"]) + Self.batch(at: 1, ["b"])
        damaged[damaged.count - 2] ^= 0x01
        #expect(throws: CodecError.self) { _ = try CommittedRecords.extract(damaged, abortedTransactions: [], from: 0, decompressor: nil) }
        for offset in [Int64.max - 1, -5] {
            let hostile = try Self.batch(at: offset, ["a"])
            #expect(throws: CodecError.self) { _ = try CommittedRecords.extract(hostile, abortedTransactions: [], from: 0, decompressor: nil) }
        }
    }
}
