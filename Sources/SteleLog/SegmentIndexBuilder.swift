import Synchronization
import SteleCore

/// The indexes of one segment while it is being written (the active segment) or rebuilt from
/// its log file (recovery), and the summary that goes into each index file's header.
///
/// Invariant: `logBytes` is the size of the batches added so far and `nextOffset` the offset
/// after the last of them; every index entry points at one of those batches.
struct SegmentIndexBuilder: Sendable {
    let baseOffset: Int64
    let indexIntervalBytes: Int
    private(set) var offsetIndex = OffsetIndex()
    private(set) var timeIndex = TimeIndex()
    private(set) var keyIndex = ActiveKeyIndex()
    private(set) var logBytes: Int64 = 0
    private(set) var nextOffset: Int64
    private(set) var maxTimestamp: Int64 = -1
    private var bytesSinceIndexEntry = Int.max
    private(set) var batchCount = 0
    private(set) var recordCount = 0

    init(baseOffset: Int64, indexIntervalBytes: Int) {
        self.baseOffset = baseOffset
        self.nextOffset = baseOffset
        self.indexIntervalBytes = indexIntervalBytes
    }

    /// Records a batch written at `position` (which must be the current end).
    mutating func add(batchAt position: Int64, header: RecordBatchHeader, keyedRecords: [BatchRecordLocation]) {
        precondition(position == logBytes, "batches are added in file order")
        precondition(header.baseOffset >= nextOffset, "offsets ascend")
        let relative = UInt32(header.baseOffset - baseOffset)
        let batchMax = header.maxTimestamp
        maxTimestamp = max(maxTimestamp, batchMax)
        // Both sparse indexes get entries only every `indexIntervalBytes`, so their size is
        // bounded by bytes, not batches. A time entry says every record up to and including
        // this batch is no newer than `maxTimestamp`, so sparse entries stay correct.
        if bytesSinceIndexEntry >= indexIntervalBytes {
            offsetIndex.append(relativeOffset: relative, position: UInt32(position))
            timeIndex.append(maxTimestampSoFar: maxTimestamp, relativeOffset: relative)
            bytesSinceIndexEntry = 0
        }
        for record in keyedRecords {
            let timestamp = header.attributes.timestampType == .logAppendTime ? header.maxTimestamp : header.baseTimestamp &+ record.timestampDelta
            keyIndex.append(key: record.key, entry: KeyIndexEntry(
                relativeOffset: relative + UInt32(record.offsetDelta),
                position: UInt32(position) + record.start, length: record.length, checksum: record.checksum,
                timestamp: timestamp, spansWholeBatch: record.spansWholeBatch, isTombstone: record.isTombstone))
        }
        logBytes += Int64(header.totalSize)
        bytesSinceIndexEntry += header.totalSize
        batchCount += 1
        recordCount += Int(header.recordCount)
        nextOffset = header.nextOffset
    }

    /// Accounts for a damaged batch that a scan skipped: its bytes stay, nothing indexes them.
    mutating func skipDamaged(bytes: Int) {
        logBytes += Int64(bytes)
        bytesSinceIndexEntry = Int.max
    }

    var summary: SegmentSummary {
        SegmentSummary(baseOffset: baseOffset, nextOffset: nextOffset, logBytes: logBytes, maxTimestamp: maxTimestamp)
    }

    /// The three index files, ready to write.
    func encodedFiles() -> [(IndexFile.Kind, [UInt8])] {
        [(.offset, IndexFile.encode(kind: .offset, summary: summary, payload: offsetIndex.payload)),
         (.time, IndexFile.encode(kind: .time, summary: summary, payload: timeIndex.payload)),
         (.key, IndexFile.encode(kind: .key, summary: summary, payload: keyIndex.payload))]
    }

    /// The same indexes in the form a sealed segment keeps them.
    func sealed() -> SealedIndexes {
        SealedIndexes(offsetIndex: offsetIndex, timeIndex: timeIndex, keyIndex: LazyKeyIndex(loaded: SealedKeyIndex(payload: keyIndex.payload)!))
    }
}

/// The loaded indexes of a sealed segment. The key index loads on first use: fetches and time
/// lookups need only the small sparse indexes, and checking a key index means reading all of it.
struct SealedIndexes: Sendable {
    var offsetIndex: OffsetIndex
    var timeIndex: TimeIndex
    var keyIndex: LazyKeyIndex

    var memoryBytes: Int { offsetIndex.memoryBytes + timeIndex.memoryBytes }
}

/// A sealed key index loaded (mapped and checked) the first time it is asked for.
final class LazyKeyIndex: Sendable {
    private let state: Mutex<SealedKeyIndex?>
    private let load: @Sendable () -> SealedKeyIndex?

    init(loaded: SealedKeyIndex) {
        state = Mutex(loaded)
        load = { nil }
    }

    init(load: @escaping @Sendable () -> SealedKeyIndex?) {
        state = Mutex(nil)
        self.load = load
    }

    /// The index, or `nil` when its file is missing or fails its checks (then rebuild it).
    func get() -> SealedKeyIndex? {
        state.withLock { index in
            if index == nil { index = load() }
            return index
        }
    }
}
