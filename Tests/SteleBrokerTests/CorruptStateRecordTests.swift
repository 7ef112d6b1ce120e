import Foundation
import Testing
import SteleCore
import SteleLog
@testable import SteleBroker

/// A record of the broker's own state logs whose bytes pass their checksum but do not decode
/// (written by something else, or by a future version): the open stops and names it, rather
/// than skipping it — a skipped commit sends a group back to an older position, a skipped
/// transaction state forgets a decision and unfences zombies.
@Suite("Broker state records that do not decode")
struct CorruptStateRecordTests {
    let directory = NSTemporaryDirectory() + "stele-state-record-" + UUID().uuidString

    /// Appends one record, key and value as given, to the log at `path`.
    static func write(key: String, value: String, to path: String) async throws {
        var config = LogConfig()
        config.cleanupPolicy = .compact
        let log = try await PartitionLog.open(directory: path, config: config)
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.append(key: Array(key.utf8), value: Array(value.utf8))
        _ = try await log.append(builder.build())
        try await log.close()
    }

    @Test func aCommittedOffsetThatDoesNotDecodeStopsTheOpen() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await OffsetStore.open(directory: directory, flushPolicy: .always)
        let key = OffsetStore.Key(group: "g", topic: "t", partition: 0)
        try await store.store([(key, OffsetStore.Committed(offset: 5, leaderEpoch: -1, metadata: nil, commitTimestamp: 0))])
        try await store.close()
        try await Self.write(key: String(decoding: try JSONEncoder().encode(key), as: UTF8.self), value: "{\"offset\": \"seven\"}", to: directory)
        let error = await #expect(throws: CorruptStateRecord.self) { _ = try await OffsetStore.open(directory: directory, flushPolicy: .always) }
        #expect(error?.offset == 1 && error?.log == "__consumer_offsets")
    }

    @Test func aTransactionStateThatDoesNotDecodeStopsTheBroker() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
            _ = try await broker.transactions.initProducerId(transactionalId: "t", timeoutMs: 60_000).get()
            try await broker.close()
        }
        try await Self.write(key: "t", value: "not json", to: directory + "/__transaction_state")
        let error = await #expect(throws: CorruptStateRecord.self) { _ = try await Broker.open(BrokerConfig(dataDirectory: directory)) }
        #expect(error?.log == "__transaction_state")
    }
}
