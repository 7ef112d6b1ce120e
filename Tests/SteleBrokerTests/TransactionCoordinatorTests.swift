import Foundation
import Testing
import SteleCore
import SteleLog
import SteleTestSupport
@testable import SteleBroker

/// The transaction coordinator against a real broker in a data directory: fencing, the checks
/// on transactional batches, pending offsets, recovery of decided transactions, and the stray
/// open transaction a lost coordinator state would leave behind.
@Suite("Transaction coordinator")
struct TransactionCoordinatorTests {
    let directory = NSTemporaryDirectory() + "stele-txn-" + UUID().uuidString

    static func transactional(producer: Int64, epoch: Int16, sequence: Int32, value: String) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.attributes = RecordBatchAttributes(rawValue: 0x10)
        (builder.producerId, builder.producerEpoch, builder.baseSequence) = (producer, epoch, sequence)
        builder.append(key: Array("k".utf8), value: Array(value.utf8))
        return builder.build()
    }

    /// Appends as the produce path does: checked by the coordinator, counted while appended.
    static func produce(_ broker: Broker, id: String, producer: Int64, epoch: Int16, sequence: Int32,
                        topic: String = "t", partition: Int32 = 0) async throws -> TransactionError? {
        if let refusal = broker.transactions.beginBatch(transactionalId: id, producerId: producer, epoch: epoch,
                                                        partition: .init(topic: topic, partition: partition)) { return refusal }
        defer { broker.transactions.finishedBatch(producerId: producer) }
        _ = try await broker.partition(topic, partition, autoCreate: false)
            .append(Self.transactional(producer: producer, epoch: epoch, sequence: sequence, value: "\(id)-\(sequence)"))
        return nil
    }

    /// EndTxn answers once its decision is durable; markers and completion follow (as Kafka).
    static func settled(_ coordinator: TransactionCoordinator, _ id: String) async throws {
        try await waitUntil("\(id) to complete", progress: { coordinator.metadata(of: id)?.state.rawValue ?? "" }) {
            [.completeCommit, .completeAbort, .empty].contains(coordinator.metadata(of: id)?.state)
        }
    }

    /// Kafka's `transactional.id.expiration.ms`: an id idle past it with no transaction open is
    /// forgotten durably (a tombstone, so a restart does not bring it back); an id with a
    /// transaction open is kept; the expired id's old producer is refused, and its next
    /// InitProducerId gets a new producer id.
    @Test func idleTransactionalIdsExpireDurably() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t", partitions: 1)
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "idle", timeoutMs: 60_000).get()
        #expect(await coordinator.add(transactionalId: "idle", producerId: producer, epoch: epoch, partitions: [.init(topic: "t", partition: 0)]) == nil)
        #expect(try await Self.produce(broker, id: "idle", producer: producer, epoch: epoch, sequence: 0) == nil)
        #expect(await coordinator.end(transactionalId: "idle", producerId: producer, epoch: epoch, commit: true) == nil)
        try await Self.settled(coordinator, "idle")
        // The longest timeout a transaction may have: a slow machine must not see it time out.
        let (other, otherEpoch) = try await coordinator.initProducerId(transactionalId: "open", timeoutMs: TransactionCoordinator.maxTimeoutMs).get()
        #expect(await coordinator.add(transactionalId: "open", producerId: other, epoch: otherEpoch, partitions: [.init(topic: "t", partition: 0)]) == nil)

        #expect(await coordinator.expireIdle(olderThan: .seconds(3600)).isEmpty, "changed a moment ago")
        // Past an expiration of zero once the clock has moved a millisecond: progress, no deadline.
        var expired: [String] = []
        while expired.isEmpty {
            expired = await coordinator.expireIdle(olderThan: .zero)
            if expired.isEmpty { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(expired == ["idle"])
        #expect(coordinator.metadata(of: "idle") == nil && coordinator.metadata(of: "open")?.state == .ongoing)
        // More ids than one batch of tombstones takes (chunks of 10 here): every idle id goes.
        let names = Set((0..<25).map { "many-\($0)" })
        for name in names { _ = try await coordinator.initProducerId(transactionalId: name, timeoutMs: 60_000).get() }
        var many: [String] = []
        while !names.isSubset(of: Set(many)) {
            many += await coordinator.expireIdle(olderThan: .zero, chunk: 10)
            if !names.isSubset(of: Set(many)) { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(Set(many) == names && coordinator.metadata(of: "open") != nil)
        #expect(try await Self.produce(broker, id: "idle", producer: producer, epoch: epoch, sequence: 1) != nil)
        try await broker.close()

        let again = try await Broker.open(BrokerConfig(dataDirectory: directory))
        #expect(again.transactions.metadata(of: "idle") == nil && again.transactions.metadata(of: "open") != nil)
        let (fresh, freshEpoch) = try await again.transactions.initProducerId(transactionalId: "idle", timeoutMs: 60_000).get()
        #expect(fresh != producer && fresh != other && freshEpoch == 0)
        try await again.close()
    }

    @Test func aNewProducerFencesTheOldAndAbortsItsTransaction() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t", partitions: 2)
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "a", timeoutMs: 60_000).get()
        #expect(await coordinator.add(transactionalId: "a", producerId: producer, epoch: epoch, partitions: [.init(topic: "t", partition: 0)]) == nil)
        #expect(try await Self.produce(broker, id: "a", producer: producer, epoch: epoch, sequence: 0) == nil)
        // Not added: refused, and the batch never lands.
        #expect(try await Self.produce(broker, id: "a", producer: producer, epoch: epoch, sequence: 1, partition: 1) != nil)
        // Another transactional id cannot write into this one's transaction.
        #expect(try await Self.produce(broker, id: "b", producer: producer, epoch: epoch, sequence: 1) == .invalidProducerIdMapping)
        let log = try await broker.partition("t", 0, autoCreate: false)
        #expect(log.lastStableOffset == 0)
        // A second instance: a new epoch, the open transaction aborted under it.
        let (again, newEpoch) = try await coordinator.initProducerId(transactionalId: "a", timeoutMs: 60_000).get()
        #expect(again == producer && newEpoch == epoch + 1)
        #expect(log.lastStableOffset == log.highWatermark)
        #expect(log.abortedTransactions(from: 0, upTo: .max).count == 1)
        // The zombie is fenced everywhere.
        #expect(await coordinator.end(transactionalId: "a", producerId: producer, epoch: epoch, commit: true) == .producerFenced)
        #expect(try await Self.produce(broker, id: "a", producer: producer, epoch: epoch, sequence: 1) == .invalidProducerEpoch)
        // A retried EndTxn of a completed transaction succeeds; the other outcome does not.
        #expect(await coordinator.add(transactionalId: "a", producerId: again, epoch: newEpoch, partitions: [.init(topic: "t", partition: 1)]) == nil)
        #expect(await coordinator.end(transactionalId: "a", producerId: again, epoch: newEpoch, commit: true) == nil)
        #expect(await coordinator.end(transactionalId: "a", producerId: again, epoch: newEpoch, commit: true) == nil)
        try await Self.settled(coordinator, "a")
        if case .invalidTransactionState = await coordinator.end(transactionalId: "a", producerId: again, epoch: newEpoch, commit: false) {} else {
            Issue.record("aborting a committed transaction must be INVALID_TXN_STATE")
        }
        if case .failure(.invalidTimeout) = await coordinator.initProducerId(transactionalId: "a", timeoutMs: 900_001) {} else {
            Issue.record("a timeout over transaction.max.timeout.ms must be INVALID_TRANSACTION_TIMEOUT")
        }
        try await broker.close()
    }

    @Test func offsetsWaitForTheCommitAndVanishWithAnAbort() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t")
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "ctp", timeoutMs: 60_000).get()
        for (round, commit) in [(1, false), (2, true)] {
            #expect(await coordinator.add(transactionalId: "ctp", producerId: producer, epoch: epoch, groups: ["g"]) == nil)
            let offset = TransactionMetadata.PendingOffset(group: "g", topic: "in", partition: 0, offset: Int64(round * 10), leaderEpoch: -1, metadata: nil)
            #expect(await coordinator.addOffsets(transactionalId: "ctp", producerId: producer, epoch: epoch, group: "g", offsets: [offset]) == nil)
            #expect(coordinator.hasPendingOffset(group: "g", topic: "in", partition: 0))
            #expect(await broker.groups.committed(group: "g").isEmpty || round == 2)
            #expect(await coordinator.end(transactionalId: "ctp", producerId: producer, epoch: epoch, commit: commit) == nil)
            try await Self.settled(coordinator, "ctp")
            #expect(!coordinator.hasPendingOffset(group: "g", topic: "in", partition: 0))
        }
        #expect(await broker.groups.committed(group: "g").values.map(\.offset) == [20], "only the committed round's offset")
        // A group not added to the transaction cannot take offsets.
        if case .invalidTransactionState = await coordinator.addOffsets(transactionalId: "ctp", producerId: producer, epoch: epoch, group: "other", offsets: []) {} else {
            Issue.record("offsets of a group never added must be refused")
        }
        try await broker.close()
    }

    @Test func anAbandonedTransactionIsAbortedAtItsTimeoutAndItsProducerFenced() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t")
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "gone", timeoutMs: 1).get()
        #expect(await coordinator.add(transactionalId: "gone", producerId: producer, epoch: epoch, partitions: [.init(topic: "t", partition: 0)]) == nil)
        #expect(try await Self.produce(broker, id: "gone", producer: producer, epoch: epoch, sequence: 0) == nil)
        // The coordinator's tick aborts it: wait for that, however long the machine takes.
        while coordinator.metadata(of: "gone")?.state != .completeAbort { try await Task.sleep(for: .milliseconds(20)) }
        let log = try await broker.partition("t", 0, autoCreate: false)
        #expect(log.lastStableOffset == log.highWatermark)
        #expect(coordinator.metadata(of: "gone")?.producerEpoch == epoch + 1)
        #expect(await coordinator.end(transactionalId: "gone", producerId: producer, epoch: epoch, commit: true) == .producerFenced)
        try await broker.close()
    }

    @Test func aTransactionOpenInAPartitionButUnknownToTheCoordinatorIsAbortedAtOpen() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var first: Int64 = -1
        do {
            let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
            try await broker.createTopic("t")
            let (producer, epoch) = try await broker.transactions.initProducerId(transactionalId: "lost", timeoutMs: 60_000).get()
            #expect(await broker.transactions.add(transactionalId: "lost", producerId: producer, epoch: epoch, partitions: [.init(topic: "t", partition: 0)]) == nil)
            #expect(try await Self.produce(broker, id: "lost", producer: producer, epoch: epoch, sequence: 0) == nil)
            first = try await broker.partition("t", 0, autoCreate: false).lastStableOffset
            try await broker.close()
        }
        // The coordinator's log is lost: the partition alone remembers the open transaction.
        try FileManager.default.removeItem(atPath: directory + "/__transaction_state")
        let reopened = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let log = try await reopened.partition("t", 0, autoCreate: false)
        #expect(first == 0)
        #expect(log.lastStableOffset == log.highWatermark, "the stray transaction was aborted, the partition readable again")
        #expect(log.abortedTransactions(from: 0, upTo: .max).count == 1)
        try await reopened.close()
    }

    /// EndTxn answers at its decision; a close right after it finishes the completion (markers
    /// written, the completion stored), so the next start has nothing to redo: no marker is
    /// written again, and the transaction is committed.
    @Test func aCloseRightAfterEndTxnCompletesIt() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
            try await broker.createTopic("t", partitions: 2)
            let (producer, epoch) = try await broker.transactions.initProducerId(transactionalId: "quick", timeoutMs: 60_000).get()
            #expect(await broker.transactions.add(transactionalId: "quick", producerId: producer, epoch: epoch,
                                                  partitions: [.init(topic: "t", partition: 0), .init(topic: "t", partition: 1)]) == nil)
            #expect(try await Self.produce(broker, id: "quick", producer: producer, epoch: epoch, sequence: 0) == nil)
            #expect(await broker.transactions.end(transactionalId: "quick", producerId: producer, epoch: epoch, commit: true) == nil)
            try await broker.close()
        }
        let reopened = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let log = try await reopened.partition("t", 0, autoCreate: false)
        #expect(log.highWatermark == 2, "the record and one commit marker: none written again at the start")
        #expect(log.lastStableOffset == log.highWatermark && log.abortedTransactions(from: 0, upTo: .max).isEmpty)
        #expect(reopened.transactions.metadata(of: "quick")?.state == .completeCommit)
        try await reopened.close()
    }

    @Test func anOngoingTransactionSurvivesARestartAndCommits() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var ids: (Int64, Int16) = (-1, -1)
        do {
            let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
            try await broker.createTopic("t")
            ids = try await broker.transactions.initProducerId(transactionalId: "keep", timeoutMs: 60_000).get()
            #expect(await broker.transactions.add(transactionalId: "keep", producerId: ids.0, epoch: ids.1, partitions: [.init(topic: "t", partition: 0)]) == nil)
            #expect(try await Self.produce(broker, id: "keep", producer: ids.0, epoch: ids.1, sequence: 0) == nil)
            try await broker.close()
        }
        let reopened = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let log = try await reopened.partition("t", 0, autoCreate: false)
        #expect(log.lastStableOffset == 0, "still open after the restart")
        #expect(await reopened.transactions.end(transactionalId: "keep", producerId: ids.0, epoch: ids.1, commit: true) == nil)
        try await Self.settled(reopened.transactions, "keep")
        #expect(log.lastStableOffset == log.highWatermark)
        #expect(log.abortedTransactions(from: 0, upTo: .max).isEmpty)
        try await reopened.close()
    }
}
