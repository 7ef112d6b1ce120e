import Foundation
import SteleCore
import SteleLog

/// The transaction coordinator's durable state, kept as Kafka keeps it: records of a compacted
/// log (`<data>/__transaction_state`), key = the transactional id, value = its
/// ``TransactionMetadata`` as JSON; the latest record per id wins. Every change is appended and
/// acknowledged durably before the coordinator acts on it.
final class TransactionStateStore: Sendable {
    private let log: PartitionLog
    /// A record holds one transactional id's state, batches handed to the coordinator included
    /// (base64 in JSON: a third more than ``TransactionCoordinator/maxPendingBatchBytes``).
    static let maxRecordBytes = 64 << 20

    static func open(directory: String, fileSystem: any FileSystem) async throws -> (TransactionStateStore, [String: TransactionMetadata]) {
        var config = LogConfig()
        config.cleanupPolicy = .compact
        // A decision is acted on only once durable, whatever the broker's flush policy.
        config.flushPolicy = .always
        config.segmentBytes = 16 << 20
        config.maxBatchBytes = maxRecordBytes
        let log = try await PartitionLog.open(directory: directory, config: config, fileSystem: fileSystem)
        let store = TransactionStateStore(log: log)
        return (store, try await store.load())
    }

    private init(log: PartitionLog) { self.log = log }

    private func load() async throws -> [String: TransactionMetadata] {
        var offset = log.logStartOffset
        var loaded: [String: TransactionMetadata] = [:]
        while offset < log.highWatermark {
            let batches = try await log.read(from: offset, maxBytes: 1 << 20).batches
            guard !batches.isEmpty else { break }
            var position = 0
            while position + RecordBatchHeader.size <= batches.count {
                let header = try RecordBatchHeader(parsing: Array(batches[position..<(position + RecordBatchHeader.size)]))
                for record in try RecordBatch.records(of: Array(batches[position..<(position + header.totalSize)])) {
                    // A record that does not decode is refused, never skipped: forgetting an id
                    // would forget its decided transaction and its epoch (zombies unfenced).
                    let at = header.baseOffset + Int64(record.offsetDelta)
                    guard let key = record.key else { throw CorruptStateRecord(log: "__transaction_state", offset: at, reason: "no key") }
                    let id = String(decoding: key, as: UTF8.self)
                    loaded[id] = try record.value.map { try CorruptStateRecord.decode(TransactionMetadata.self, from: $0, log: "__transaction_state", offset: at) }
                }
                offset = header.nextOffset
                position += header.totalSize
            }
        }
        return loaded
    }

    /// Appends the new state of one transactional id; returns once it is durable.
    func store(_ metadata: TransactionMetadata) async throws {
        var builder = RecordBatchBuilder(baseTimestamp: metadata.updatedMs)
        builder.append(key: Array(metadata.transactionalId.utf8), value: Array(try JSONEncoder().encode(metadata)))
        _ = try await log.append(builder.build())
    }

    /// Appends tombstones for `transactionalIds` in one batch, one sync (compaction drops their
    /// records); returns once they are durable.
    func remove(_ transactionalIds: [String]) async throws {
        guard !transactionalIds.isEmpty else { return }
        var builder = RecordBatchBuilder(baseTimestamp: wallClockMilliseconds())
        for id in transactionalIds { builder.append(key: Array(id.utf8), value: nil) }
        _ = try await log.append(builder.build())
    }

    func compact() async throws { _ = try await log.compact() }

    var sizeInBytes: Int64 { log.sizeInBytes }

    func close() async throws { try await log.close() }
}
