import Stele

/// The bank account of the seed: open with 100, deposit 50, withdraw 20, balance 130; an
/// overdraft is refused. Amounts are whole currency units.
public enum BankAccount {
    public struct AccountOpened: Stele.Event, Equatable {
        public var owner: String
        public var initialDeposit: Int

        public init(owner: String, initialDeposit: Int) {
            self.owner = owner
            self.initialDeposit = initialDeposit
        }
    }

    /// Schema version 2: version 1 stored the amount as `value`.
    public struct MoneyDeposited: Stele.Event, Equatable {
        public static let schemaVersion = 2
        public var amount: Int

        public init(amount: Int) {
            self.amount = amount
        }
    }

    /// The shape `MoneyDeposited` had in schema version 1, still read from old events.
    public struct MoneyDepositedV1: Decodable, Sendable {
        public var value: Int
    }

    public struct MoneyWithdrawn: Stele.Event, Equatable {
        public var amount: Int

        public init(amount: Int) {
            self.amount = amount
        }
    }

    public enum Event: Sendable, Equatable {
        case opened(AccountOpened)
        case deposited(MoneyDeposited)
        case withdrawn(MoneyWithdrawn)
    }

    public enum Command: Sendable {
        case open(owner: String, initialDeposit: Int)
        case deposit(Int)
        case withdraw(Int)
    }

    public struct State: Codable, Sendable, Equatable {
        public var owner: String?
        public var balance = 0
        public var isOpen: Bool { owner != nil }

        public init(owner: String? = nil, balance: Int = 0) {
            self.owner = owner
            self.balance = balance
        }
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case alreadyOpen
        case notOpen
        case amountNotPositive(Int)
        case insufficientFunds(balance: Int, requested: Int)

        public var description: String {
            switch self {
            case .alreadyOpen: "the account is already open"
            case .notOpen: "the account is not open"
            case let .amountNotPositive(amount): "amounts must be positive, got \(amount)"
            case let .insufficientFunds(balance, requested): "insufficient funds: balance \(balance), withdrawal \(requested)"
            }
        }
    }

    public struct Rules: Decider {
        public init() {}
        public var initialState: State { State() }

        public func decide(_ command: Command, state: State) throws -> [Event] {
            switch command {
            case let .open(owner, deposit):
                guard !state.isOpen else { throw Refusal.alreadyOpen }
                guard deposit >= 0 else { throw Refusal.amountNotPositive(deposit) }
                return [.opened(AccountOpened(owner: owner, initialDeposit: deposit))]
            case let .deposit(amount):
                guard state.isOpen else { throw Refusal.notOpen }
                guard amount > 0 else { throw Refusal.amountNotPositive(amount) }
                return [.deposited(MoneyDeposited(amount: amount))]
            case let .withdraw(amount):
                guard state.isOpen else { throw Refusal.notOpen }
                guard amount > 0 else { throw Refusal.amountNotPositive(amount) }
                guard amount <= state.balance else { throw Refusal.insufficientFunds(balance: state.balance, requested: amount) }
                return [.withdrawn(MoneyWithdrawn(amount: amount))]
            }
        }

        public func evolve(_ state: State, _ event: Event) -> State {
            var state = state
            switch event {
            case let .opened(opened):
                state.owner = opened.owner
                state.balance = opened.initialDeposit
            case let .deposited(deposit): state.balance += deposit.amount
            case let .withdrawn(withdrawal): state.balance -= withdrawal.amount
            }
            return state
        }
    }

    public static var events: EventRegistry<Event> {
        var registry = EventRegistry<Event>()
        registry.register(AccountOpened.self, embed: Event.opened) { if case let .opened(e) = $0 { e } else { nil } }
        registry.register(MoneyDeposited.self, embed: Event.deposited) { if case let .deposited(e) = $0 { e } else { nil } }
        registry.register(MoneyWithdrawn.self, embed: Event.withdrawn) { if case let .withdrawn(e) = $0 { e } else { nil } }
        registry.upcast(MoneyDepositedV1.self, named: "MoneyDeposited", schemaVersion: 1) { .deposited(MoneyDeposited(amount: $0.value)) }
        return registry
    }

    public static func repository(_ store: EventStore, snapshotEvery: Int64? = nil) -> Repository<Rules> {
        Repository(store: store, category: "accounts", decider: Rules(), events: events, snapshots: snapshotEvery.map { .every($0) })
    }
}
