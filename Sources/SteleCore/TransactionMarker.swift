/// How a Kafka transaction ended, as written into every partition it touched: a control batch
/// (attributes: transactional and control bits) holding one control record whose key is
/// `version: int16 = 0, type: int16` (0 abort, 1 commit) and whose value is
/// `version: int16 = 0, coordinatorEpoch: int32` (Kafka `ControlRecordType`, `EndTransactionMarker`).
/// The batch carries the producer's id and epoch and no sequence (-1).
public enum TransactionMarker: Int16, Sendable, Equatable, Codable {
    case abort = 0
    case commit = 1

    /// The control batch that ends `producerId`'s transaction in one partition.
    public func batch(producerId: Int64, producerEpoch: Int16, coordinatorEpoch: Int32, timestamp: Int64) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: timestamp)
        builder.attributes = RecordBatchAttributes(rawValue: RecordBatchAttributes.transactionalBit | RecordBatchAttributes.controlBit)
        builder.producerId = producerId
        builder.producerEpoch = producerEpoch
        builder.baseSequence = -1
        var key = ByteWriter(capacity: 4)
        key.writeBigEndian(Int16(0))
        key.writeBigEndian(rawValue)
        var value = ByteWriter(capacity: 6)
        value.writeBigEndian(Int16(0))
        value.writeBigEndian(coordinatorEpoch)
        builder.append(key: key.bytes, value: value.bytes)
        return builder.build()
    }

    /// The marker a control batch holds; `nil` for a control record of another type (Kafka
    /// reserves types above 1) or a key too short to hold one.
    public static func of(controlBatch batch: UnsafeRawBufferPointer, header: RecordBatchHeader) -> TransactionMarker? {
        guard header.attributes.isControl, header.attributes.compression == CompressionCodec.none else { return nil }
        var marker: TransactionMarker?
        try? RecordBatch.forEachRecordView(in: batch, header: header) { view throws(CodecError) in
            guard marker == nil, let key = view.key, key.count >= 4 else { return }
            let type = Int16(bitPattern: UInt16(batch[key.lowerBound + 2]) << 8 | UInt16(batch[key.lowerBound + 3]))
            marker = TransactionMarker(rawValue: type)
        }
        return marker
    }
}
