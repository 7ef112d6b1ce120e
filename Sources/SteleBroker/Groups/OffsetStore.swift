import Foundation
import Synchronization
import SteleCore
import SteleLog

/// Committed consumer offsets, kept durably the way Kafka keeps them: as records of a
/// compacted log (`<data>/__consumer_offsets`), key = (group, topic, partition), value = the
/// committed position; a tombstone deletes. Appended to on each commit, which is acknowledged
/// only once durable, and read into memory on open.
///
/// What the open reads is bounded: the broker's maintenance pass compacts the sealed segments
/// (one record per live key remains, and tombstones go after `delete.retention.ms`), and the
/// active segment rolls at `segmentBytes` (16 MiB, about 100,000 commits) — so a group that
/// commits every second for a year costs the open its live offsets plus one segment, not a
/// year of commits.
public final class OffsetStore: Sendable {
    public struct Committed: Codable, Sendable, Equatable {
        public var offset: Int64
        public var leaderEpoch: Int32
        public var metadata: String?
        public var commitTimestamp: Int64
    }

    public struct Key: Codable, Hashable, Sendable {
        public var group: String
        public var topic: String
        public var partition: Int32

        public init(group: String, topic: String, partition: Int32) {
            (self.group, self.topic, self.partition) = (group, topic, partition)
        }
    }

    /// Kafka's `offset.metadata.max.bytes`.
    public static let maxMetadataBytes = 4096

    private let log: PartitionLog
    /// Each key's latest value and the log offset of the record that set it. Stores run
    /// concurrently (a group's commits overlap while one waits on the disk), so the map takes a
    /// value only from a record later than the one it holds: memory follows the log's order,
    /// not the order the appends happened to return in. A deletion stays as a `nil` value
    /// while other stores are in flight, so an older commit finishing late cannot bring the
    /// key back; once none is, deleted keys are dropped.
    ///
    /// Kept by group: a request naming thousands of groups looks each up, where one map of
    /// every key made each a scan of every group's offsets.
    private struct Entries {
        var byGroup: [String: [Key: (value: Committed?, offset: Int64)]] = [:]
        var inFlight = 0
        var deleted: Set<Key> = []

        subscript(key: Key) -> (value: Committed?, offset: Int64)? {
            get { byGroup[key.group]?[key] }
            set {
                byGroup[key.group, default: [:]][key] = newValue
                if byGroup[key.group]?.isEmpty == true { byGroup[key.group] = nil }
            }
        }
    }
    private let committed = Mutex(Entries())

    /// Records read by the last open (live keys of compacted segments plus the active segment's).
    public var recordsLoaded: Int { loadedCount.withLock { $0 } }
    private let loadedCount = Mutex(0)

    public static func open(directory: String, flushPolicy: FlushPolicy, segmentBytes: Int = 16 << 20,
                            fileSystem: any FileSystem = POSIXFileSystem(),
                            clock: @escaping @Sendable () -> Int64 = wallClockMilliseconds) async throws -> OffsetStore {
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.flushPolicy = flushPolicy
        config.segmentBytes = segmentBytes
        let log = try await PartitionLog.open(directory: directory, config: config, fileSystem: fileSystem, clock: clock)
        let store = OffsetStore(log: log)
        try await store.load()
        return store
    }

    private init(log: PartitionLog) {
        self.log = log
    }

    private func load() async throws {
        var offset = log.logStartOffset
        var loaded: [Key: Committed] = [:]
        var count = 0
        while offset < log.highWatermark {
            let batches = try await log.read(from: offset, maxBytes: 1 << 20).batches
            guard !batches.isEmpty else { break }
            var position = 0
            while position < batches.count {
                let header = try RecordBatchHeader(parsing: Array(batches[position..<(position + RecordBatchHeader.size)]))
                for record in try RecordBatch.records(of: Array(batches[position..<(position + header.totalSize)])) {
                    count += 1
                    // Every record here is one this store wrote (the log's CRC vouches for its
                    // bytes): one that does not decode is refused, never skipped — a skipped
                    // commit would send its group back to an older position without a word.
                    let at = header.baseOffset + Int64(record.offsetDelta)
                    guard let keyBytes = record.key else { throw CorruptStateRecord(log: "__consumer_offsets", offset: at, reason: "no key") }
                    let key = try CorruptStateRecord.decode(Key.self, from: keyBytes, log: "__consumer_offsets", offset: at)
                    loaded[key] = try record.value.map { try CorruptStateRecord.decode(Committed.self, from: $0, log: "__consumer_offsets", offset: at) }
                }
                offset = header.nextOffset
                position += header.totalSize
            }
        }
        committed.withLock { entries in
            entries = Entries()
            for (key, value) in loaded { entries[key] = (value, -1) }
        }
        loadedCount.withLock { $0 = count }
    }

    /// Keeps the latest record per key in sealed segments (run by the broker's maintenance pass).
    @discardableResult
    public func compact() async throws -> CompactionReport {
        try await log.compact()
    }

    /// Bytes of the offsets log on disk.
    public var sizeInBytes: Int64 { log.sizeInBytes }

    /// Stores commits durably, then makes them visible to `fetch`. A `nil` value deletes.
    public func store(_ entries: [(Key, Committed?)]) async throws {
        guard !entries.isEmpty else { return }
        var builder = RecordBatchBuilder(baseTimestamp: wallClockMilliseconds())
        for (key, value) in entries {
            builder.append(key: Array(try JSONEncoder().encode(key)), value: try value.map { Array(try JSONEncoder().encode($0)) })
        }
        let batch = builder.build()
        committed.withLock { $0.inFlight += 1 }
        let appended: AppendResult
        do { appended = try await log.append(batch) } catch {
            committed.withLock { Self.finished(&$0) }
            throw error
        }
        committed.withLock { state in
            for ((key, value), offset) in zip(entries, appended.baseOffset...) where (state[key]?.offset ?? -1) < offset {
                state[key] = (value, offset)
                if value == nil { state.deleted.insert(key) }
            }
            Self.finished(&state)
        }
    }

    private static func finished(_ entries: inout Entries) {
        entries.inFlight -= 1
        assert(entries.inFlight >= 0)
        guard entries.inFlight == 0 else { return }
        for key in entries.deleted where entries[key]?.value == nil { entries[key] = nil }
        entries.deleted = []
    }

    public func fetch(group: String) -> [Key: Committed] {
        committed.withLock { entries in
            var found: [Key: Committed] = [:]
            for (key, entry) in entries.byGroup[group] ?? [:] { if let value = entry.value { found[key] = value } }
            return found
        }
    }

    public var groups: Set<String> {
        committed.withLock { entries in Set(entries.byGroup.compactMap { group, keys in keys.values.contains { $0.value != nil } ? group : nil }) }
    }

    /// Whether `group` has a committed offset (one lookup, not the set of every group).
    public func hasOffsets(group: String) -> Bool {
        committed.withLock { $0.byGroup[group]?.values.contains { $0.value != nil } ?? false }
    }

    public func close() async throws {
        try await log.close()
    }
}
