import Foundation
import Synchronization
import Testing
import SteleCore
import SteleLog
import SteleTestSupport
@testable import SteleBroker

/// Transaction version 2 (KIP-890 part 2) at the coordinator, against a real broker: the epoch
/// bumped at every end, so an EndTxn delayed past its transaction can never decide the next
/// one (KAFKA-17754, found by Jepsen in Kafka and Bufstream); retries of an end answered as it
/// was; an empty abort; the hand-over to a new producer id when the epoch runs out; offsets
/// adding their group; the decision's epoch surviving a restart.
@Suite("Transaction version 2")
struct TransactionVersion2Tests {
    let directory = NSTemporaryDirectory() + "stele-txn2-" + UUID().uuidString
    typealias Coordinator = TransactionCoordinatorTests
    static let p0 = TransactionMetadata.Partition(topic: "t", partition: 0)

    @Test func everyEndBumpsTheEpochAndADelayedEndIsFenced() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t")
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "v2", timeoutMs: 60_000).get()
        #expect(await coordinator.add(transactionalId: "v2", producerId: producer, epoch: epoch, partitions: [Self.p0]) == nil)
        #expect(try await Coordinator.produce(broker, id: "v2", producer: producer, epoch: epoch, sequence: 0) == nil)
        let committed = try await coordinator.end(transactionalId: "v2", producerId: producer, epoch: epoch, commit: true, bumpingEpoch: true).get()
        #expect(committed.producerId == producer && committed.epoch == epoch + 1, "the producer continues with the next epoch")
        try await Coordinator.settled(coordinator, "v2")
        let log = try await broker.partition("t", 0, autoCreate: false)
        #expect(log.producerEpoch(of: producer) == epoch + 1, "the marker carries the new epoch")
        #expect(log.lastStableOffset == log.highWatermark && log.abortedTransactions(from: 0, upTo: .max).isEmpty)

        // A retry of that end (its answer lost) gets the same answer; the other way is refused.
        let retried = try await coordinator.end(transactionalId: "v2", producerId: producer, epoch: epoch, commit: true, bumpingEpoch: true).get()
        #expect(retried.producerId == producer && retried.epoch == epoch + 1)
        if case .failure(.invalidTransactionState) = await coordinator.end(transactionalId: "v2", producerId: producer, epoch: epoch, commit: false, bumpingEpoch: true) {} else {
            Issue.record("a retry that aborts a committed transaction must be INVALID_TXN_STATE")
        }

        // The next transaction, at the new epoch, sequences from 0 again.
        let next = committed.epoch
        #expect(await coordinator.add(transactionalId: "v2", producerId: producer, epoch: next, partitions: [Self.p0]) == nil)
        #expect(try await Coordinator.produce(broker, id: "v2", producer: producer, epoch: next, sequence: 0) == nil)
        // KAFKA-17754: the first end, delayed in the network, arrives now. Under the old
        // protocol its epoch was still current and it would commit this transaction; here it
        // is fenced, and the transaction stays open.
        if case .failure(.producerFenced) = await coordinator.end(transactionalId: "v2", producerId: producer, epoch: epoch, commit: true, bumpingEpoch: true) {} else {
            Issue.record("a delayed EndTxn of an ended transaction must be PRODUCER_FENCED")
        }
        #expect(coordinator.metadata(of: "v2")?.state == .ongoing)
        #expect(log.lastStableOffset < log.highWatermark, "the new transaction is still open")
        // So is a delayed batch of the old epoch.
        #expect(try await Coordinator.produce(broker, id: "v2", producer: producer, epoch: epoch, sequence: 1) == .invalidProducerEpoch)

        let aborted = try await coordinator.end(transactionalId: "v2", producerId: producer, epoch: next, commit: false, bumpingEpoch: true).get()
        #expect(aborted.epoch == next + 1)
        try await Coordinator.settled(coordinator, "v2")
        #expect(log.abortedTransactions(from: 0, upTo: .max).count == 1)
        #expect(log.producerEpoch(of: producer) == next + 1)
        try await broker.close()
    }

    /// Kafka's table for an EndTxn v5 with nothing open: an abort bumps the epoch (the
    /// producer fences its own requests in flight), a commit is INVALID_TXN_STATE.
    @Test func anAbortWithNothingOpenBumpsTheEpoch() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "idle", timeoutMs: 60_000).get()
        if case .failure(.invalidTransactionState) = await coordinator.end(transactionalId: "idle", producerId: producer, epoch: epoch, commit: true, bumpingEpoch: true) {} else {
            Issue.record("committing nothing must be INVALID_TXN_STATE")
        }
        let bumped = try await coordinator.end(transactionalId: "idle", producerId: producer, epoch: epoch, commit: false, bumpingEpoch: true).get()
        #expect(bumped.producerId == producer && bumped.epoch == epoch + 1)
        try await Coordinator.settled(coordinator, "idle")
        #expect(coordinator.metadata(of: "idle")?.producerEpoch == epoch + 1)
        // An epoch that is neither the current one nor the one before it is fenced.
        if case .failure(.producerFenced) = await coordinator.end(transactionalId: "idle", producerId: producer, epoch: epoch + 5, commit: false, bumpingEpoch: true) {} else {
            Issue.record("a foreign epoch must be PRODUCER_FENCED")
        }
        try await broker.close()
    }

    /// At epoch 32766 an end cannot bump once more: the markers take epoch 32767 and the
    /// producer continues with a new producer id at epoch 0, which the answer (and a retry's)
    /// names.
    @Test func theLastEpochHandsTheProducerANewId() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t", partitions: 2)
        let coordinator = broker.transactions
        let (producer, _) = try await coordinator.initProducerId(transactionalId: "old", timeoutMs: 60_000).get()
        let last = Int16.max - 1
        coordinator.state.withLock { $0.entries["old"]!.metadata.producerEpoch = last }
        #expect(await coordinator.add(transactionalId: "old", producerId: producer, epoch: last, partitions: [Self.p0]) == nil)
        #expect(try await Coordinator.produce(broker, id: "old", producer: producer, epoch: last, sequence: 0) == nil)
        let handedOver = try await coordinator.end(transactionalId: "old", producerId: producer, epoch: last, commit: true, bumpingEpoch: true).get()
        #expect(handedOver.producerId != producer && handedOver.epoch == 0)
        // The producer goes on with the new id at once, as a Java client does (Produce v12's
        // add), while the markers may still be being written: it waits for them, it is not
        // refused (INVALID_PRODUCER_ID_MAPPING would be fatal to it).
        let t1 = TransactionMetadata.Partition(topic: "t", partition: 1)
        #expect(await coordinator.add(transactionalId: "old", producerId: handedOver.producerId, epoch: 0, partitions: [t1]) == nil)
        #expect(try await Coordinator.produce(broker, id: "old", producer: handedOver.producerId, epoch: 0, sequence: 0, partition: 1) == nil)
        let log = try await broker.partition("t", 0, autoCreate: false)
        #expect(log.producerEpoch(of: producer) == .max, "the marker took the last epoch of the old id")
        #expect(log.lastStableOffset == log.highWatermark)
        let metadata = try #require(coordinator.metadata(of: "old"))
        #expect(metadata.producerId == handedOver.producerId && metadata.producerEpoch == 0 && metadata.previousProducerId == producer)
        #expect(metadata.state == .ongoing && metadata.partitions == [t1])
        // The new id works: the transaction under it commits.
        #expect(await coordinator.add(transactionalId: "old", producerId: handedOver.producerId, epoch: 0, partitions: [Self.p0]) == nil)
        #expect(try await Coordinator.produce(broker, id: "old", producer: handedOver.producerId, epoch: 0, sequence: 0) == nil)
        #expect(try await coordinator.end(transactionalId: "old", producerId: handedOver.producerId, epoch: 0, commit: true, bumpingEpoch: true).get().epoch == 1)
        // The old id is gone for good.
        #expect(await coordinator.add(transactionalId: "old", producerId: producer, epoch: last, partitions: [Self.p0]) == .invalidProducerIdMapping)
        try await broker.close()
    }

    /// A transaction timing out at epoch 32766 cannot be fenced by a bump: the id moves to a
    /// new producer id, so the producer that abandoned it (which under version 2 goes on
    /// without asking) can neither add to nor commit a later transaction.
    @Test func aTimeoutAtTheLastEpochFencesWithANewId() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t")
        let coordinator = broker.transactions
        let (producer, _) = try await coordinator.initProducerId(transactionalId: "late", timeoutMs: 1).get()
        let last = Int16.max - 1
        coordinator.state.withLock { $0.entries["late"]!.metadata.producerEpoch = last }
        #expect(await coordinator.add(transactionalId: "late", producerId: producer, epoch: last, partitions: [Self.p0]) == nil)
        #expect(try await Coordinator.produce(broker, id: "late", producer: producer, epoch: last, sequence: 0) == nil)
        try await waitUntil("the timeout to abort it", progress: { coordinator.metadata(of: "late")?.state.rawValue ?? "" }) {
            coordinator.metadata(of: "late")?.state == .completeAbort
        }
        let metadata = try #require(coordinator.metadata(of: "late"))
        #expect(metadata.producerId != producer && metadata.producerEpoch == 0)
        let log = try await broker.partition("t", 0, autoCreate: false)
        #expect(log.producerEpoch(of: producer) == .max && log.abortedTransactions(from: 0, upTo: .max).count == 1)
        #expect(await coordinator.add(transactionalId: "late", producerId: producer, epoch: last, partitions: [Self.p0]) == .invalidProducerIdMapping)
        // Its commit is refused (it reads as a retry of the end that aborted it: the other way).
        if case .success = await coordinator.end(transactionalId: "late", producerId: producer, epoch: last, commit: true, bumpingEpoch: true) {
            Issue.record("the fenced producer's commit must be refused")
        }
        try await broker.close()
    }

    /// After a version-2 end the previous epoch is remembered (for retries of the end); an
    /// InitProducerId naming it while a transaction is open is no retry: the transaction is
    /// aborted and the epoch bumped, as for any InitProducerId.
    @Test func initProducerIdWithThePreviousEpochStillFencesAnOpenTransaction() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t")
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "i", timeoutMs: 60_000).get()
        let next = try await coordinator.end(transactionalId: "i", producerId: producer, epoch: epoch, commit: false, bumpingEpoch: true).get().epoch
        #expect(await coordinator.add(transactionalId: "i", producerId: producer, epoch: next, partitions: [Self.p0]) == nil)
        #expect(try await Coordinator.produce(broker, id: "i", producer: producer, epoch: next, sequence: 0) == nil)
        let again = try await coordinator.initProducerId(transactionalId: "i", timeoutMs: 60_000, producerId: producer, epoch: epoch).get()
        #expect(again.epoch == next + 1, "the open transaction was fenced with a new epoch")
        let log = try await broker.partition("t", 0, autoCreate: false)
        #expect(log.lastStableOffset == log.highWatermark && log.abortedTransactions(from: 0, upTo: .max).count == 1)
        try await broker.close()
    }

    /// TxnOffsetCommit v5 adds the group itself (no AddOffsetsToTxn), beginning the transaction.
    @Test func offsetsAddTheirGroupAndCommitWithTheTransaction() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "ctp2", timeoutMs: 60_000).get()
        let offset = TransactionMetadata.PendingOffset(group: "g", topic: "in", partition: 0, offset: 17, leaderEpoch: -1, metadata: nil)
        #expect(await coordinator.addOffsets(transactionalId: "ctp2", producerId: producer, epoch: epoch, group: "g", offsets: [offset], addingGroup: true) == nil)
        #expect(coordinator.metadata(of: "ctp2")?.state == .ongoing && coordinator.metadata(of: "ctp2")?.groups == ["g"])
        #expect(await broker.groups.committed(group: "g").isEmpty, "not before the commit")
        #expect(try await coordinator.end(transactionalId: "ctp2", producerId: producer, epoch: epoch, commit: true, bumpingEpoch: true).get().epoch == epoch + 1)
        try await Coordinator.settled(coordinator, "ctp2")
        #expect(await broker.groups.committed(group: "g").values.map(\.offset) == [17])
        try await broker.close()
    }

    /// A close right after the decision: the next start completes it with the bumped epoch,
    /// and the producer's next epoch is the one the answer named.
    @Test func theBumpedEpochSurvivesARestart() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var ids: (Int64, Int16) = (-1, -1)
        do {
            let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
            try await broker.createTopic("t")
            let (producer, epoch) = try await broker.transactions.initProducerId(transactionalId: "r", timeoutMs: 60_000).get()
            #expect(await broker.transactions.add(transactionalId: "r", producerId: producer, epoch: epoch, partitions: [Self.p0]) == nil)
            #expect(try await Coordinator.produce(broker, id: "r", producer: producer, epoch: epoch, sequence: 0) == nil)
            let answer = try await broker.transactions.end(transactionalId: "r", producerId: producer, epoch: epoch, commit: true, bumpingEpoch: true).get()
            ids = (answer.producerId, answer.epoch)
            try await broker.close()
        }
        let reopened = try await Broker.open(BrokerConfig(dataDirectory: directory))
        let metadata = try #require(reopened.transactions.metadata(of: "r"))
        #expect(metadata.producerId == ids.0 && metadata.producerEpoch == ids.1 && metadata.state == .completeCommit)
        let log = try await reopened.partition("t", 0, autoCreate: false)
        #expect(log.producerEpoch(of: ids.0) == ids.1 && log.lastStableOffset == log.highWatermark)
        #expect(await reopened.transactions.add(transactionalId: "r", producerId: ids.0, epoch: ids.1, partitions: [Self.p0]) == nil)
        #expect(try await Coordinator.produce(reopened, id: "r", producer: ids.0, epoch: ids.1, sequence: 0) == nil)
        try await reopened.close()
    }
}

/// The defence for clients of versions 0–4, whose epoch cannot move at every end: a request
/// whose connection closed while it waited for the id's previous change decides nothing.
@Suite("Transactions: abandoned requests")
struct AbandonedTransactionRequestTests {
    let directory = NSTemporaryDirectory() + "stele-txn-gone-" + UUID().uuidString

    /// KAFKA-17754 with an old client: its EndTxn (commit) waits behind a change in progress;
    /// the client times out, closes the connection and retries elsewhere, and goes on to its
    /// next transaction. The abandoned copy wakes when the change ends: it must not commit
    /// what is open then.
    @Test func anEndTxnWhoseConnectionClosedWhileWaitingDecidesNothing() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t")
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "old", timeoutMs: 60_000).get()
        #expect(await coordinator.add(transactionalId: "old", producerId: producer, epoch: epoch, partitions: [TransactionVersion2Tests.p0]) == nil)
        #expect(try await TransactionCoordinatorTests.produce(broker, id: "old", producer: producer, epoch: epoch, sequence: 0) == nil)
        // A change of the id in progress: the EndTxn waits for it (as long as it takes here).
        coordinator.patience.withLock { $0 = .seconds(3600) }
        coordinator.state.withLock { $0.entries["old"]!.busy = true }
        let connected = Mutex(true)
        let waiting = Task {
            await coordinator.end(transactionalId: "old", producerId: producer, epoch: epoch, commit: true, stillWanted: { connected.withLock { $0 } })
        }
        // Its connection closes while it waits; then the change ends.
        try await waitUntil("the EndTxn to wait", progress: { "\(coordinator.changes.waiting)" }) { coordinator.changes.waiting > 0 }
        connected.withLock { $0 = false }
        coordinator.release("old")
        #expect(await waiting.value == .requesterGone)
        #expect(coordinator.metadata(of: "old")?.state == .ongoing, "the abandoned EndTxn decided nothing")
        // The same request on an open connection commits.
        #expect(await coordinator.end(transactionalId: "old", producerId: producer, epoch: epoch, commit: true, stillWanted: { true }) == nil)
        try await TransactionCoordinatorTests.settled(coordinator, "old")
        #expect(coordinator.metadata(of: "old")?.state == .completeCommit)
        try await broker.close()
    }

    @Test func addsFromAClosedConnectionChangeNothing() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try await Broker.open(BrokerConfig(dataDirectory: directory))
        try await broker.createTopic("t")
        let coordinator = broker.transactions
        let (producer, epoch) = try await coordinator.initProducerId(transactionalId: "gone", timeoutMs: 60_000).get()
        #expect(await coordinator.add(transactionalId: "gone", producerId: producer, epoch: epoch, partitions: [TransactionVersion2Tests.p0],
                                      stillWanted: { false }) == .requesterGone)
        let offset = TransactionMetadata.PendingOffset(group: "g", topic: "t", partition: 0, offset: 1, leaderEpoch: -1, metadata: nil)
        #expect(await coordinator.addOffsets(transactionalId: "gone", producerId: producer, epoch: epoch, group: "g", offsets: [offset],
                                             addingGroup: true, stillWanted: { false }) == .requesterGone)
        #expect(coordinator.metadata(of: "gone")?.state == .empty)
        // An InitProducerId abandoned the same way fences no one.
        if case .failure(.requesterGone) = await coordinator.initProducerId(transactionalId: "gone", timeoutMs: 60_000, stillWanted: { false }) {} else {
            Issue.record("an InitProducerId from a closed connection must change nothing")
        }
        #expect(coordinator.metadata(of: "gone")?.producerEpoch == epoch)
        try await broker.close()
    }
}
