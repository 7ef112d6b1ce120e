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
    private let committed = Mutex<[Key: Committed]>([:])

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
                    guard let keyBytes = record.key, let key = try? JSONDecoder().decode(Key.self, from: Data(keyBytes)) else { continue }
                    loaded[key] = record.value.flatMap { try? JSONDecoder().decode(Committed.self, from: Data($0)) }
                }
                offset = header.nextOffset
                position += header.totalSize
            }
        }
        committed.withLock { $0 = loaded }
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
        _ = try await log.append(builder.build())
        committed.withLock { map in for (key, value) in entries { map[key] = value } }
    }

    public func fetch(group: String) -> [Key: Committed] {
        committed.withLock { $0.filter { $0.key.group == group } }
    }

    public var groups: Set<String> { committed.withLock { Set($0.keys.map(\.group)) } }

    public func close() async throws {
        try await log.close()
    }
}
