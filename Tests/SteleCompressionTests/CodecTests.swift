import Foundation
import Testing
import SteleCore
import SteleCompression
@testable import SteleLog

@Suite("Compression codecs")
struct CodecTests {
    static let text = Array((0..<5000).map { "record \($0) of a compressible stream;" }.joined().utf8)

    @Test(arguments: [CompressionCodec.gzip, .lz4, .zstd])
    func systemCodecsRoundTrip(codec: CompressionCodec) throws {
        let codecs = KafkaCodecs()
        try #require(codecs.supports(codec), "\(codec) library missing on this machine")
        let compressed = try codecs.compress(codec, Self.text)
        #expect(compressed.count < Self.text.count / 3)
        #expect(try compressed.withUnsafeBytes { try codecs.decompress(codec, $0) } == Self.text)
        // Damage and truncation are errors, not crashes.
        var damaged = compressed
        damaged[damaged.count / 2] ^= 0xFF
        _ = try? damaged.withUnsafeBytes { try codecs.decompress(codec, $0) }
        #expect(throws: (any Error).self) { try Array(compressed.prefix(compressed.count / 2)).withUnsafeBytes { try codecs.decompress(codec, $0) } }
    }

    @Test func decompressionIsBounded() throws {
        let codecs = KafkaCodecs(maxDecompressedBytes: 1000)
        let compressed = try KafkaCodecs().compress(.zstd, [UInt8](repeating: 7, count: 1 << 20))
        #expect(throws: (any Error).self) { try compressed.withUnsafeBytes { try codecs.decompress(.zstd, $0) } }
    }

    /// "Wikipedia" as raw snappy, from the format description's worked example shape: a literal,
    /// then a copy. Built by hand: length 24, literal "Wikipedia is ", copy… kept simple here.
    @Test func snappyRawAndXerialFraming() throws {
        // Raw: uncompressed length 10; literal "abcd" (tag (4-1)<<2 = 0x0c); copy-1 length 6 offset 4.
        let raw: [UInt8] = [10, 0x0C] + Array("abcd".utf8) + [UInt8(((6 - 4) << 2) | 1), 4]
        #expect(try raw.withUnsafeBytes { try Snappy.decompress($0, limit: 100) } == Array("abcdabcdab".utf8))
        var xerial: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]
        for _ in 0..<2 {
            xerial += [0, 0, 0, UInt8(raw.count)] + raw
        }
        #expect(try xerial.withUnsafeBytes { try Snappy.decompress($0, limit: 100) } == Array("abcdabcdababcdabcdab".utf8))
        for bad: [UInt8] in [[10, 0x0C, 0x61], [5, 0x05, 9], [200, 200, 200, 200, 200, 200], [3, 0x0C] + Array("abcd".utf8)] {
            #expect(throws: Snappy.Failure.self) { try bad.withUnsafeBytes { try Snappy.decompress($0, limit: 100) } }
        }
        #expect(throws: Snappy.Failure.self) { try [UInt8]([0xFF, 0xFF, 0x03]).withUnsafeBytes { try Snappy.decompress($0, limit: 100) } }
    }

    @Test(arguments: [CompressionCodec.gzip, .lz4, .zstd])
    func compressedBatchesAreStoredAsSentAndIndexedByKey(codec: CompressionCodec) async throws {
        let codecs = KafkaCodecs()
        try #require(codecs.supports(codec))
        var plain = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        for index in 0..<50 { plain.append(key: Array("stream-\(index % 3)".utf8), value: Array("event-\(index)".utf8)) }
        let uncompressed = plain.build()
        // Re-pack the records section compressed, as a producer does.
        let records = Array(uncompressed[RecordBatchHeader.size...])
        var batch = Array(uncompressed[..<RecordBatchHeader.size]) + (try codecs.compress(codec, records))
        let batchLength = Int32(batch.count - 12)
        batch.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: batchLength.bigEndian, toByteOffset: RecordBatchHeader.Field.batchLength, as: Int32.self)
            raw.storeBytes(of: RecordBatchAttributes.make(compression: codec).rawValue.bigEndian, toByteOffset: RecordBatchHeader.Field.attributes, as: Int16.self)
            RecordBatch.updateChecksum(in: raw)
        }
        let directory = NSTemporaryDirectory() + "stele-codec-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try await PartitionLog.open(directory: directory, decompressor: codecs)
        _ = try await log.append(batch)
        let stored = try await log.read(from: 0, maxBytes: 1 << 20).batches
        var expected = batch
        expected.withUnsafeMutableBytes { RecordBatch.setBaseOffset(0, in: $0) }
        #expect(stored == expected, "compressed batches are stored as sent")
        let stream = try await log.readStream(key: Array("stream-1".utf8))
        #expect(stream.map { String(decoding: $0.value!, as: UTF8.self) } == stride(from: 1, to: 50, by: 3).map { "event-\($0)" })
        try await log.close()
        // Without the codec the log refuses the batch and says why.
        let bare = try await PartitionLog.open(directory: directory + "-bare")
        defer { try? FileManager.default.removeItem(atPath: directory + "-bare") }
        await #expect(throws: LogError.self) { try await bare.append(batch) }
        try await bare.close()
    }
}
