import SteleCompression
import SteleCore

/// The first byte picks a codec, the rest is its input: decompression must throw or return at
/// most the cap, and what gzip, lz4 and zstd compress must come back unchanged.
func fuzzCodecs(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let selector = bytes.first else { return }
    let codecs: [CompressionCodec] = [.gzip, .snappy, .lz4, .zstd]
    let codec = codecs[Int(selector) % codecs.count]
    let input = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[1...])
    guard FuzzCodecs.shared.supports(codec) else { return }
    if let output = try? FuzzCodecs.shared.decompress(codec, input) {
        precondition(output.count <= FuzzCodecs.shared.maxDecompressedBytes, "\(codec) expanded past its cap")
    }
    if codec != .snappy, selector & 0x80 != 0 {
        let original = Array(input)
        guard let compressed = try? FuzzCodecs.shared.compress(codec, original) else {
            preconditionFailure("\(codec) could not compress \(original.count) bytes")
        }
        let restored = compressed.withUnsafeBytes { try? FuzzCodecs.shared.decompress(codec, $0) }
        precondition(restored == original, "\(codec) did not round-trip \(original.count) bytes")
    }
}
