/// Turns the records blob of a compressed batch back into records.
///
/// The log stores compressed batches exactly as sent but must see their records to index keys
/// and find timestamps. The codecs live outside the storage engine (they need system libraries);
/// a log without a decompressor for a codec refuses batches compressed with it, saying so.
public protocol RecordDecompressor: Sendable {
    /// Whether `codec` can be decompressed.
    func supports(_ codec: CompressionCodec) -> Bool
    /// The uncompressed records section of a batch. Throws on malformed input.
    func decompress(_ codec: CompressionCodec, _ bytes: UnsafeRawBufferPointer) throws -> [UInt8]
}
