/// The fixed 61-byte header of a Kafka RecordBatch v2 (magic 2), as it travels on the wire and
/// as Stele stores it on disk.
///
/// Layout (big-endian; Kafka `DefaultRecordBatch`):
/// ```
/// 0  baseOffset i64        12 partitionLeaderEpoch i32   21 attributes i16
/// 8  batchLength i32       16 magic i8                   23 lastOffsetDelta i32
///                          17 crc u32 (CRC32C of [21, end))
/// 27 baseTimestamp i64     35 maxTimestamp i64           43 producerId i64
/// 51 producerEpoch i16     53 baseSequence i32           57 recordCount i32
/// 61 records…
/// ```
/// `batchLength` counts the bytes after itself, so a batch occupies `12 + batchLength` bytes.
/// The CRC does not cover baseOffset, batchLength or partitionLeaderEpoch: a broker assigns
/// the first and stamps the last without recomputing it.
public struct RecordBatchHeader: Sendable, Equatable {
    /// Byte positions of the fields inside a batch.
    public enum Field {
        public static let baseOffset = 0
        public static let batchLength = 8
        public static let partitionLeaderEpoch = 12
        public static let magic = 16
        public static let crc = 17
        public static let attributes = 21
        public static let lastOffsetDelta = 23
        public static let baseTimestamp = 27
        public static let maxTimestamp = 35
        public static let producerId = 43
        public static let producerEpoch = 51
        public static let baseSequence = 53
        public static let recordCount = 57
    }

    /// Size of the header; records start here.
    public static let size = 61
    /// Bytes before `batchLength`'s coverage starts: baseOffset and batchLength themselves.
    public static let logOverhead = 12
    /// The only batch format Stele stores.
    public static let currentMagic: Int8 = 2

    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: RecordBatchAttributes
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    /// Bytes the whole batch occupies, header included.
    public var totalSize: Int { Self.logOverhead + Int(batchLength) }
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// The offset after this batch.
    public var nextOffset: Int64 { lastOffset + 1 }
    /// Whether ``lastOffset`` and ``nextOffset`` can be computed without overflow and are
    /// not before ``baseOffset``: what a client checks before trusting a broker's batch.
    public var hasPossibleOffsets: Bool {
        baseOffset >= 0 && lastOffsetDelta >= 0 && baseOffset <= Int64.max - Int64(Int32.max) - 1
    }

    /// Parses the header at the start of `bytes`. Checks only that 61 bytes are present; the
    /// checks that make a batch valid live in ``RecordBatch/validate(_:)``.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(CodecError) {
        var reader = ByteReader(bytes)
        try reader.require(Self.size)
        baseOffset = try reader.readBigEndian()
        batchLength = try reader.readBigEndian()
        partitionLeaderEpoch = try reader.readBigEndian()
        magic = try reader.readInt8()
        crc = try reader.readBigEndian()
        attributes = RecordBatchAttributes(rawValue: try reader.readBigEndian())
        lastOffsetDelta = try reader.readBigEndian()
        baseTimestamp = try reader.readBigEndian()
        maxTimestamp = try reader.readBigEndian()
        producerId = try reader.readBigEndian()
        producerEpoch = try reader.readBigEndian()
        baseSequence = try reader.readBigEndian()
        recordCount = try reader.readBigEndian()
    }

    /// Throws ``CodecError``.
    public init(parsing bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in try RecordBatchHeader(parsing: raw) }
    }

    /// Reads just baseOffset and batchLength, the 12 bytes a log scan needs to step batch by batch.
    public static func peekOffsetAndLength(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> (baseOffset: Int64, batchLength: Int32) {
        var reader = ByteReader(bytes)
        return (try reader.readBigEndian(), try reader.readBigEndian())
    }
}

/// The compression codec in bits 0–2 of a batch's attributes.
public enum CompressionCodec: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4

    public var description: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }
}

/// Which clock a batch's timestamps come from.
public enum TimestampType: Sendable, Equatable {
    /// Set by the producer; each record's time is `baseTimestamp + timestampDelta`.
    case createTime
    /// Set by the broker on append; every record's time is the batch's `maxTimestamp`.
    case logAppendTime
}

/// The 16-bit attributes field of a batch.
public struct RecordBatchAttributes: Sendable, Equatable, RawRepresentable {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    static let compressionMask: Int16 = 0x07
    static let timestampTypeBit: Int16 = 0x08
    static let transactionalBit: Int16 = 0x10
    static let controlBit: Int16 = 0x20
    static let deleteHorizonBit: Int16 = 0x40

    /// `nil` for codec numbers 5–7, which no Kafka version defines.
    public var compression: CompressionCodec? {
        CompressionCodec(rawValue: rawValue & Self.compressionMask)
    }

    public var timestampType: TimestampType {
        get { rawValue & Self.timestampTypeBit != 0 ? .logAppendTime : .createTime }
        set {
            if newValue == .logAppendTime { rawValue |= Self.timestampTypeBit } else { rawValue &= ~Self.timestampTypeBit }
        }
    }

    public var isTransactional: Bool { rawValue & Self.transactionalBit != 0 }
    public var isControl: Bool { rawValue & Self.controlBit != 0 }
    public var hasDeleteHorizon: Bool { rawValue & Self.deleteHorizonBit != 0 }

    public static func make(compression: CompressionCodec = .none, timestampType: TimestampType = .createTime) -> Self {
        var attributes = Self(rawValue: compression.rawValue)
        attributes.timestampType = timestampType
        return attributes
    }
}
