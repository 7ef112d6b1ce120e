import Synchronization
import SteleCore

/// One segment: a `.log` file of consecutive batches starting at `baseOffset`, and its indexes.
///
/// Isolation: the mutable fields (`summary`, `active`) belong to the owning `PartitionLog` and
/// are read and written only under its state lock. Sealed segments are immutable on disk; their
/// indexes are loaded on first use and may be dropped again by the `IndexCache`.
final class LogSegment: @unchecked Sendable {
    let baseOffset: Int64
    let directory: String
    let file: any StorageFile

    /// Size, end offset and newest timestamp. For the active segment this includes batches
    /// written but not yet visible to readers (see `PartitionLog.State.highWatermark`).
    var summary: SegmentSummary
    /// The in-memory indexes while the segment is active; `nil` once sealed.
    var active: SegmentIndexBuilder?
    /// When the active segment got its first batch, by the log's clock: its age for rolling.
    /// Kafka uses the first batch's producer timestamp instead, which rolls a segment per append
    /// when producers send old timestamps; the log's own clock has no such trap.
    var firstAppendMilliseconds: Int64?

    /// Sealed indexes, loaded lazily; guarded separately so loading does no I/O under the log lock.
    let sealed = Mutex<SealedIndexes?>(nil)
    /// The sealed log file mapped read-only, for stream reads (see `readEntries`).
    let mappedLog = Mutex<IndexBytes?>(nil)
    /// Last use, for the index cache's LRU eviction.
    let lastUse = Atomic<Int>(0)

    init(baseOffset: Int64, directory: String, file: any StorageFile, summary: SegmentSummary, active: SegmentIndexBuilder?) {
        self.baseOffset = baseOffset
        self.directory = directory
        self.file = file
        self.summary = summary
        self.active = active
    }

    var logPath: String { LogFileNames.path(directory, baseOffset: baseOffset, kind: .log) }

    func indexPath(_ kind: IndexFile.Kind) -> String {
        LogFileNames.path(directory, baseOffset: baseOffset, kind: kind.fileKind)
    }

    var isActive: Bool { active != nil }
}
