import CSteleCompression
import SteleCore

/// Kafka's four compression codecs: gzip, lz4 (frame) and zstd through the system libraries,
/// loaded at run time (`libz.so.1`, `liblz4.so.1`, `libzstd.so.1`, present on Debian and Ubuntu
/// systems because apt itself uses them); snappy in Swift. A codec whose library is missing is
/// reported as unsupported, so batches using it are refused with a message naming the codec.
public struct KafkaCodecs: RecordDecompressor {
    /// The largest records section a compressed batch may expand to: a batch is at most
    /// `max.message.bytes` compressed, and no client sends ratios near this.
    public let maxDecompressedBytes: Int

    public init(maxDecompressedBytes: Int = 64 << 20) {
        self.maxDecompressedBytes = maxDecompressedBytes
    }

    public func supports(_ codec: CompressionCodec) -> Bool {
        switch codec {
        case .none, .snappy: true
        case .gzip, .lz4, .zstd: stele_codec_available(Int32(codec.rawValue)) != 0
        }
    }

    public func decompress(_ codec: CompressionCodec, _ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        switch codec {
        case .none: return Array(bytes)
        case .snappy: return try Snappy.decompress(bytes, limit: maxDecompressedBytes)
        case .gzip, .lz4, .zstd:
            return try Self.call(codec) { output, length, error, capacity in
                stele_decompress(Int32(codec.rawValue), bytes.baseAddress, bytes.count, maxDecompressedBytes, output, length, error, capacity)
            }
        }
    }

    /// Compresses with gzip, lz4 or zstd (tests, and clients of the library that build batches).
    public func compress(_ codec: CompressionCodec, _ bytes: [UInt8]) throws -> [UInt8] {
        guard codec == .gzip || codec == .lz4 || codec == .zstd else { throw CodecError.invalid("compressing with \(codec) is not supported") }
        return try bytes.withUnsafeBytes { raw in
            try Self.call(codec) { output, length, error, capacity in
                stele_compress(Int32(codec.rawValue), raw.baseAddress, raw.count, output, length, error, capacity)
            }
        }
    }

    private static func call(_ codec: CompressionCodec,
                             _ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutablePointer<Int>, UnsafeMutablePointer<CChar>, Int) -> Int32) throws -> [UInt8] {
        var output: UnsafeMutableRawPointer?
        var length = 0
        var error = [CChar](repeating: 0, count: 256)
        let status = error.withUnsafeMutableBufferPointer { body(&output, &length, $0.baseAddress!, $0.count) }
        guard status == 0, let output else {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CodecError.invalid("\(codec): \(message)")
        }
        defer { free(output) }
        return Array(UnsafeRawBufferPointer(start: output, count: length))
    }
}

#if canImport(Glibc)
import Glibc
#endif
