import SteleCore

/// The first offset a partition serves when records were deleted inside its first segment
/// (Kafka's DeleteRecords; Kafka keeps it in `log-start-offset-checkpoint`). Kept in
/// `log-start-offset` in the partition directory, written durably before a deletion is
/// acknowledged. Absent: the first segment's base offset.
///
/// Layout, 16 bytes, big-endian: `SLS1`, the offset (8), CRC32C of the 12 bytes before it (4).
/// A damaged file is reported and read as absent: records deleted before may be served again,
/// which loses nothing, whereas trusting a damaged offset could hide acknowledged records.
enum LogStartOffsetFile {
    static let fileName = "log-start-offset"
    static let magic: [UInt8] = Array("SLS1".utf8)
    static let size = 16

    static func encode(_ offset: Int64) -> [UInt8] {
        let encoded = magic + withUnsafeBytes(of: offset.bigEndian, Array.init)
        return encoded + withUnsafeBytes(of: CRC32C.checksum(encoded).bigEndian, Array.init)
    }

    /// Nil when the file is damaged (wrong size, magic or checksum, or a negative offset).
    static func decode(_ bytes: [UInt8]) -> Int64? {
        guard bytes.count == size, Array(bytes[0..<4]) == magic else { return nil }
        let crc = UInt32(truncatingIfNeeded: bytes[12..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        guard crc == CRC32C.checksum(Array(bytes[0..<12])) else { return nil }
        let offset = Int64(bitPattern: bytes[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        return offset >= 0 ? offset : nil
    }

    /// The offset in `directory`'s file: nil when there is none; a problem when it is damaged.
    static func read(in directory: String, fileSystem: any FileSystem) -> (offset: Int64?, problem: String?) {
        let path = directory + "/" + fileName
        guard fileSystem.fileExists(path) else { return (nil, nil) }
        guard let bytes = try? fileSystem.readFile(path) else { return (nil, "\(path) cannot be read") }
        guard let offset = decode(bytes) else { return (nil, "\(path) is damaged; records deleted below it may be served again") }
        return (offset, nil)
    }
}
