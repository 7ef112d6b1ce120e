/// When an append is acknowledged relative to `fdatasync`.
public enum FlushPolicy: Sendable, Equatable, CustomStringConvertible {
    /// Acknowledge only after the bytes are synced. Appends waiting together share one sync
    /// (group commit), and the next group gathers while a sync is in flight.
    case always
    /// Sync at most every `interval`; acknowledged writes of the last interval can be lost on
    /// power failure (not on a process crash: the page cache keeps them).
    case interval(Duration)
    /// Never sync on the write path; the operating system writes back when it chooses.
    /// Segments are still synced when they roll and when the log closes.
    case os

    public var description: String {
        switch self {
        case .always: "always"
        case let .interval(duration): "interval(\(duration.milliseconds)ms)"
        case .os: "os"
        }
    }

    /// Parses `always`, `os`, `interval:<ms>` or a bare number of milliseconds.
    public init?(parsing text: String) {
        switch text {
        case "always": self = .always
        case "os": self = .os
        default:
            let digits = text.hasPrefix("interval:") ? String(text.dropFirst("interval:".count)) : text
            guard let ms = Int(digits), ms > 0 else { return nil }
            self = .interval(.milliseconds(ms))
        }
    }
}

/// What happens to old data (Kafka `cleanup.policy`).
public struct CleanupPolicy: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Delete whole segments past `retention` or beyond `retentionBytes`.
    public static let delete = CleanupPolicy(rawValue: 1)
    /// Keep the latest record per key; drop tombstones after `deleteRetention`.
    public static let compact = CleanupPolicy(rawValue: 2)
}

/// Configuration of one partition log. Names follow Kafka's topic configs, units last.
public struct LogConfig: Sendable {
    /// Roll to a new segment when the active one would exceed this (Kafka `segment.bytes`, 1 GiB).
    /// Positions in index files are 32-bit: the log clamps this to 2 GiB.
    public var segmentBytes: Int = 1 << 30
    /// Roll when the active segment's first batch is older than this (Kafka `segment.ms`, 7 days).
    public var segmentAge: Duration? = .seconds(7 * 24 * 3600)
    /// Bytes between sparse offset/time index entries (Kafka `index.interval.bytes`); 0 indexes every batch.
    public var indexIntervalBytes: Int = 4096
    /// Roll when the active segment's in-memory key index holds this many records: it bounds
    /// the memory of the active segment (about 40 bytes per entry plus the keys) whatever the
    /// record size. A single batch larger than this still fits in one (new) segment.
    public var maxKeyIndexEntries: Int = 1_000_000
    public var flushPolicy: FlushPolicy = .always
    /// Delete segments whose newest record is older than this; `nil` keeps them forever (the
    /// default: Stele keeps events forever, unlike Kafka's 7 days).
    public var retention: Duration? = nil
    /// Delete the oldest segments while the log is bigger than this; `nil` means no limit.
    public var retentionBytes: Int64? = nil
    public var cleanupPolicy: CleanupPolicy = .delete
    /// A mirror's log: batches keep the offsets their source gave them
    /// (``PartitionLog/appendKeepingOffsets(_:)``), so offsets jump where the source's
    /// compaction or retention left gaps.
    public var keepsSourceOffsets = false
    /// A promoted mirror's log: it keeps its source's offsets (and gaps) but takes no more of
    /// its source's batches. Checked by the writer as it places each one, so no batch that
    /// passed an earlier check can land after the promotion's abort of open transactions.
    public var refusesSourceBatches = false
    /// How long a tombstone survives compaction (Kafka `delete.retention.ms`, 1 day).
    public var deleteRetention: Duration = .seconds(24 * 3600)
    /// `logAppendTime` makes the log stamp every batch with its own clock.
    public var timestampType: TimestampTypeConfig = .createTime
    /// Largest batch an append accepts (Kafka `max.message.bytes`, 1,048,588).
    public var maxBatchBytes: Int = 1_048_588
    /// The most bytes of batches the writer takes into one group write (one write, one sync).
    /// Appends beyond it wait, in order, for the next group: a burst of producers costs a
    /// bounded write buffer, not one as large as the burst. A batch larger than this is written
    /// in a group of its own.
    public var maxAppendGroupBytes: Int = 16 << 20
    /// Memory for loaded index files of sealed segments, across the whole log.
    public var indexCacheBytes: Int = 64 << 20
    /// Memory for the cached stream versions used by concurrency checks.
    public var versionCacheEntries: Int = 100_000

    /// How long an idempotent producer's state (epoch, last sequences) is kept after its last
    /// append (Kafka `producer.id.expiration.ms`, one day). Within it a retried batch is found and
    /// answered with its original offsets; after it the producer is forgotten, which bounds the
    /// memory producers take.
    public var producerIdExpiration: Duration = .milliseconds(86_400_000)

    /// How often, at most, the partition's recovery point (what recovery may never cut) is
    /// rewritten after syncs; it is also written at open and close. Shorter protects more of a
    /// recent tail against damage-versus-torn-write ambiguity, at one small file write each time.
    public var recoveryPointInterval: Duration = .seconds(1)

    public init() {}

    /// Segments of a few KiB and an index entry per batch, so that rolls, index lookups and
    /// compaction happen in every test.
    public static var tiny: LogConfig {
        var config = LogConfig()
        config.segmentBytes = 4096
        config.indexIntervalBytes = 0
        config.maxKeyIndexEntries = 64
        config.indexCacheBytes = 8 << 10
        config.versionCacheEntries = 8
        return config
    }
}

/// The timestamp type a topic is configured with (Kafka `message.timestamp.type`).
public enum TimestampTypeConfig: Sendable, Equatable {
    case createTime, logAppendTime
}

extension Duration {
    /// Whole milliseconds (Kafka's unit for every duration config).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension LogConfig {
    /// Offsets may jump from one batch to the next: compaction removes records, and a mirror
    /// keeps its source's gaps. Elsewhere each batch starts where the previous one ended, which
    /// is how damage to a base offset (outside the CRC's range) is caught.
    var allowsOffsetGaps: Bool { cleanupPolicy.contains(.compact) || keepsSourceOffsets }
}
