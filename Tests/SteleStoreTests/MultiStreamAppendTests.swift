import Foundation
import Synchronization
import Testing
import SteleTestSupport
import SteleStore

/// Appends across streams as one (`EventStore.append(_: [StreamAppend])`), on every backend:
/// all or nothing, each stream's own expectation, idempotent retries — and, with writers racing
/// single-stream appends on the same streams, never a partial append and versions contiguous.
struct MultiStreamAppendTests {
    let checking = StreamName(category: "accounts", id: "alice")
    let savings = StreamName(category: "savings", id: "alice")
    let ledger = StreamName(category: "ledger", id: "day-1")

    @Test(arguments: StoreBackend.all)
    func allOrNothingWithEachStreamsExpectation(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            try await store.append([event("Opened")], to: checking, expected: .noStream)
            let transfer = [
                StreamAppend([event("Withdrawn", #"{"amount":30}"#)], to: checking, expected: .exact(0)),
                StreamAppend([event("Deposited", #"{"amount":30}"#), event("InterestStarted")], to: savings, expected: .noStream),
                StreamAppend([event("Transferred")], to: ledger, expected: .any),
            ]
            let outcomes = try await store.append(transfer)
            #expect(outcomes.map(\.firstVersion) == [1, 0, 0] && outcomes.map(\.lastVersion) == [1, 1, 0])
            #expect(outcomes.allSatisfy { !$0.wasAlreadyAppended })
            #expect(try await store.read(savings).map(\.type) == ["Deposited", "InterestStarted"])
            // A retry of the same append: the original outcomes, nothing written.
            let again = try await store.append(transfer)
            #expect(again.allSatisfy(\.wasAlreadyAppended) && again.map(\.firstVersion) == [1, 0, 0])
            // One stream off its expectation: nothing anywhere, the failing stream named.
            await #expect(throws: EventStoreError.wrongExpectedVersion(stream: savings, expected: .exact(0), actual: 1)) {
                try await store.append([
                    StreamAppend([event("Withdrawn")], to: checking, expected: .exact(1)),
                    StreamAppend([event("Deposited")], to: savings, expected: .exact(0)),
                ])
            }
            #expect(try await store.version(of: checking) == 1, "the refused append wrote nothing to the other stream")
            // Some parts already there, others not: refused whole.
            await #expect(throws: EventStoreError.self) {
                try await store.append([transfer[0], StreamAppend([event("Other")], to: StreamName(category: "ledger", id: "day-2"))])
            }
            #expect(try await store.version(of: StreamName(category: "ledger", id: "day-2")) == -1)
            await #expect(throws: EventStoreError.self) {
                try await store.append([StreamAppend([event("A")], to: ledger), StreamAppend([event("B")], to: ledger)])
            }
            await #expect(throws: EventStoreError.self) { try await store.append([StreamAppend]()) }
        }
    }

    /// Transfers between accounts of two categories (two partitions: a transaction on the
    /// embedded log) race with single-stream deposits on the same streams. Each transfer's
    /// events share a correlation id: either both streams hold it or neither does.
    @Test(arguments: StoreBackend.all)
    func racingWritersNeverSeePartialAppendsAndVersionsStayContiguous(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            let accounts = (0..<4).map { StreamName(category: "accounts", id: "acc-\($0)") }
            let mirrors = (0..<4).map { StreamName(category: "mirrors", id: "acc-\($0)") }
            let committed = Committed()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for round in 0..<15 {
                            let index = (writer + round) % 4
                            let correlation = "w\(writer)-r\(round)"
                            var metadata = EventMetadata()
                            metadata.correlationId = correlation
                            while true {
                                let versions = (try await store.version(of: accounts[index]), try await store.version(of: mirrors[index]))
                                do {
                                    try await store.append([
                                        StreamAppend([EventData(type: "Transfer", data: [], metadata: metadata)], to: accounts[index],
                                                     expected: versions.0 == -1 ? .noStream : .exact(versions.0)),
                                        StreamAppend([EventData(type: "Transfer", data: [], metadata: metadata)], to: mirrors[index],
                                                     expected: versions.1 == -1 ? .noStream : .exact(versions.1)),
                                    ])
                                    committed.list.withLock { $0.append(correlation) }
                                    break
                                } catch EventStoreError.wrongExpectedVersion {
                                    continue
                                }
                            }
                        }
                    }
                    group.addTask {
                        for round in 0..<15 {
                            let stream = (round % 2 == 0 ? accounts : mirrors)[(writer + round) % 4]
                            try await store.append([event("Deposit")], to: stream, expected: .any)
                        }
                    }
                }
                try await group.waitForAll()
            }
            var seen: [String: Int] = [:]
            for stream in accounts + mirrors {
                let events = try await store.read(stream)
                #expect(events.map(\.version) == Array(0..<Int64(events.count)), "\(stream): versions contiguous")
                for event in events where event.type == "Transfer" { seen[event.metadata.correlationId ?? "", default: 0] += 1 }
            }
            #expect(seen.count == 60 && seen.values.allSatisfy { $0 == 2 }, "every transfer is in both streams, none in one only")
            #expect(Set(seen.keys) == Set(committed.list.withLock { $0 }))
            // Category reads see the same. (PostgreSQL delivers a category below the oldest
            // transaction still running anywhere in the cluster: other tests' transactions may
            // hold it back a while, so read on until all are there.)
            for category in ["accounts", "mirrors"] {
                var checkpoint = CategoryCheckpoint.start
                var transfers = 0
                try await waitUntil("\(category): 60 transfers in category reads", progress: { "\(transfers)" }) {
                    let page = try await store.readCategory(category, after: checkpoint, limit: 1000)
                    checkpoint = page.next
                    transfers += page.events.filter { $0.type == "Transfer" }.count
                    return transfers >= 60
                }
                #expect(transfers == 60)
            }
        }
    }
}

final class Committed: Sendable {
    let list = Mutex<[String]>([])
}
