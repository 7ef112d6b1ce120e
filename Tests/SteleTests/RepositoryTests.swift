import Foundation
import Testing
import Stele
import SteleExamples

/// A store in a fresh directory, closed and removed afterwards.
func withStore(_ body: (EventStore) async throws -> Void) async throws {
    let path = NSTemporaryDirectory() + "stele-lib-test-" + UUID().uuidString
    let store = try await EventStore.open(.embedded(path: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    do { try await body(store) } catch {
        try? await store.close()
        throw error
    }
    try await store.close()
}

struct RepositoryTests {
    @Test func theBankAccountOfTheSeed() async throws {
        try await withStore { store in
            let lines = LineCollector()
            let state = try await Demos.bank(store: store, account: "account-123", print: lines.add)
            #expect(state.balance == 130)
            #expect(lines.text.contains("refused: insufficient funds: balance 130, withdrawal 500"))
            let history = try await BankAccount.repository(store).history("account-123")
            #expect(history.map(\.event) == [.opened(.init(owner: "Ada", initialDeposit: 100)), .deposited(.init(amount: 50)), .withdrawn(.init(amount: 20))])
            let balance = try await store.state(of: StreamName(category: "accounts", id: "account-123"), initial: 0) { total, recorded in
                switch try BankAccount.events.decode(recorded) {
                case let .opened(e): e.initialDeposit
                case let .deposited(e): total + e.amount
                case let .withdrawn(e): total - e.amount
                }
            }
            #expect(balance == 130, "the balance is a fold of the stream")
        }
    }

    @Test func theCartKeepsEveryStep() async throws {
        try await withStore { store in
            let state = try await Demos.cart(store: store, cart: "cart-42", print: { _ in })
            #expect(state == ShoppingCart.State(items: ["trousers": 1], isCheckedOut: true))
            let journal = try await ShoppingCart.repository(store).history("cart-42").map(\.event)
            #expect(journal == [.added(.init(sku: "trousers", quantity: 3)), .removed(.init(sku: "trousers", quantity: 2)),
                                .checkedOut(.init(items: ["trousers": 1]))])
            await #expect(throws: ShoppingCart.Refusal.checkedOut) { try await ShoppingCart.repository(store).handle(.add(sku: "hat", quantity: 1), on: "cart-42") }
        }
    }

    @Test func inventoryAvailabilityNowAndAsOfLastWeek() async throws {
        try await withStore { store in
            let result = try await Demos.inventory(store: store, sku: "sku-1", print: { _ in })
            #expect(result.now == 25 && result.lastWeek == 20)
        }
    }

    @Test func oldSchemaVersionsAreUpcastWhenRead() async throws {
        try await withStore { store in
            let stream = StreamName(category: "accounts", id: "account-old")
            try await BankAccount.repository(store).handle(.open(owner: "Grace", initialDeposit: 10), on: "account-old")
            // Written years ago by version 1 of the code.
            try await store.append([EventData(type: "MoneyDeposited", schemaVersion: 1, data: Array(#"{"value":32}"#.utf8))], to: stream, expected: .exact(0))
            try await BankAccount.repository(store).handle(.deposit(8), on: "account-old")
            #expect(try await BankAccount.repository(store).load("account-old").state.balance == 50)
            try await store.append([EventData(type: "MoneyDeposited", schemaVersion: 7, data: Array("{}".utf8))], to: stream)
            await #expect(throws: EventDecodingError.noUpcaster(type: "MoneyDeposited", schemaVersion: 7, current: 2)) {
                try await BankAccount.repository(store).load("account-old")
            }
        }
    }

    @Test func racingCommandsRetryAndNeverOverdraw() async throws {
        try await withStore { store in
            let accounts = BankAccount.repository(store)
            try await accounts.handle(.open(owner: "Ada", initialDeposit: 100), on: "account-race")
            // 32 withdrawals of 10 race for a balance of 100: exactly ten succeed.
            let results = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<32 { group.addTask { (try? await accounts.handle(.withdraw(10), on: "account-race")) != nil } }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 10)
            let (state, version) = try await accounts.load("account-race")
            #expect(state.balance == 0 && version == 10)
        }
    }

    @Test func snapshotsChangeSpeedNotResults() async throws {
        try await withStore { store in
            var withSnapshots = BankAccount.repository(store, snapshotEvery: 10)
            let plain = BankAccount.repository(store)
            try await withSnapshots.handle(.open(owner: "Ada", initialDeposit: 0), on: "account-s")
            for amount in 1...95 { try await withSnapshots.handle(.deposit(amount), on: "account-s") }
            let stream = StreamName(category: "accounts", id: "account-s")
            let snapshot = try #require(try await store.latestSnapshot(of: stream, name: "State"))
            #expect(snapshot.version == 89)
            let full = try await plain.load("account-s")
            #expect(full.state.balance == 95 * 96 / 2 && full.version == 95)
            let fast = try await withSnapshots.load("account-s")
            #expect(fast.state == full.state && fast.version == full.version)
            #expect(try await withSnapshots.load("account-s", asOf: .version(50)).state == plain.load("account-s", asOf: .version(50)).state)
            // A snapshot that lies proves the load uses it; one of another schema is ignored.
            try await store.saveSnapshot(Snapshot(stream: stream, name: "State", version: 95, state: Array(#"{"owner":"Ada","balance":1}"#.utf8)))
            #expect(try await withSnapshots.load("account-s").state.balance == 1)
            withSnapshots.snapshots = .every(10, schemaVersion: 2)
            #expect(try await withSnapshots.load("account-s").state.balance == full.state.balance)
        }
    }

    @Test func commandsWithAnIdAreHandledOnce() async throws {
        try await withStore { store in
            let accounts = BankAccount.repository(store)
            try await accounts.handle(.open(owner: "Ada", initialDeposit: 100), on: "account-idem")
            let command = UUID()
            let first = try await accounts.handle(.withdraw(30), on: "account-idem", commandId: command)
            let retry = try await accounts.handle(.withdraw(30), on: "account-idem", commandId: command)
            #expect(!first.wasAlreadyHandled && retry.wasAlreadyHandled && retry.version == first.version)
            #expect(retry.events == [.withdrawn(.init(amount: 30))])
            #expect(try await accounts.load("account-idem").state.balance == 70)
        }
    }
}

final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var add: @Sendable (String) -> Void { { line in self.lock.withLock { self.lines.append(line) } } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}
