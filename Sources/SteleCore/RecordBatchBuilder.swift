/// Builds an uncompressed RecordBatch v2, as a Kafka producer would.
///
/// ```swift
/// var builder = RecordBatchBuilder(baseTimestamp: now)
/// builder.append(key: Array("acc-1".utf8), value: Array("{}".utf8), timestamp: now)
/// let bytes = builder.build()   // baseOffset 0, CRC filled in
/// ```
public struct RecordBatchBuilder: Sendable {
    public var baseOffset: Int64 = 0
    public var partitionLeaderEpoch: Int32 = 0
    public var attributes: RecordBatchAttributes
    public var baseTimestamp: Int64
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1
    public var baseSequence: Int32 = -1
    public private(set) var records: [Record] = []
    private var maxTimestamp: Int64

    public init(baseTimestamp: Int64, timestampType: TimestampType = .createTime) {
        self.baseTimestamp = baseTimestamp
        self.maxTimestamp = baseTimestamp
        self.attributes = .make(timestampType: timestampType)
    }

    public var isEmpty: Bool { records.isEmpty }

    public mutating func append(key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        let time = timestamp ?? baseTimestamp
        maxTimestamp = max(maxTimestamp, time)
        records.append(Record(timestampDelta: time &- baseTimestamp, offsetDelta: Int32(records.count),
                              key: key, value: value, headers: headers))
    }

    /// Appends a record keeping its own offset delta and timestamp delta (the log cleaner keeps
    /// records' offsets when it rewrites a batch without some of them).
    public mutating func appendPreservingDeltas(_ record: Record) {
        // Wrapping: a producer's deltas are not range-checked, and the cleaner must not trap on them.
        maxTimestamp = max(maxTimestamp, baseTimestamp &+ record.timestampDelta)
        records.append(record)
    }

    /// Encodes the batch. `lastOffsetDelta` defaults to the last record's delta; the cleaner
    /// passes the original one so the batch still ends at its original offset.
    public func build(lastOffsetDelta: Int32? = nil, maxTimestamp overrideMax: Int64? = nil) -> [UInt8] {
        precondition(!records.isEmpty, "a batch holds at least one record")
        var writer = ByteWriter(capacity: RecordBatchHeader.size + records.count * 32)
        writer.writeBigEndian(baseOffset)
        writer.writeBigEndian(Int32(0)) // batchLength, filled in below
        writer.writeBigEndian(partitionLeaderEpoch)
        writer.writeInt8(RecordBatchHeader.currentMagic)
        writer.writeBigEndian(UInt32(0)) // crc, filled in below
        writer.writeBigEndian(attributes.rawValue)
        writer.writeBigEndian(lastOffsetDelta ?? records[records.count - 1].offsetDelta)
        writer.writeBigEndian(baseTimestamp)
        writer.writeBigEndian(overrideMax ?? maxTimestamp)
        writer.writeBigEndian(producerId)
        writer.writeBigEndian(producerEpoch)
        writer.writeBigEndian(baseSequence)
        writer.writeBigEndian(Int32(records.count))
        for record in records { record.encode(into: &writer) }
        writer.overwriteBigEndian(Int32(writer.count - RecordBatchHeader.logOverhead), at: RecordBatchHeader.Field.batchLength)
        var bytes = writer.bytes
        bytes.withUnsafeMutableBytes { RecordBatch.updateChecksum(in: $0) }
        return bytes
    }
}
