import Stele

/// The shopping cart of the seed: add three pairs of trousers, remove two, check out one —
/// and every step is kept.
public enum ShoppingCart {
    public struct ItemAdded: Stele.Event, Equatable {
        public var sku: String
        public var quantity: Int

        public init(sku: String, quantity: Int) {
            self.sku = sku
            self.quantity = quantity
        }
    }

    public struct ItemRemoved: Stele.Event, Equatable {
        public var sku: String
        public var quantity: Int

        public init(sku: String, quantity: Int) {
            self.sku = sku
            self.quantity = quantity
        }
    }

    public struct CartCheckedOut: Stele.Event, Equatable {
        public var items: [String: Int]

        public init(items: [String: Int]) {
            self.items = items
        }
    }

    public enum Event: Sendable, Equatable {
        case added(ItemAdded)
        case removed(ItemRemoved)
        case checkedOut(CartCheckedOut)
    }

    public enum Command: Sendable {
        case add(sku: String, quantity: Int)
        case remove(sku: String, quantity: Int)
        case checkOut
    }

    public struct State: Codable, Sendable, Equatable {
        public var items: [String: Int] = [:]
        public var isCheckedOut = false

        public init(items: [String: Int] = [:], isCheckedOut: Bool = false) {
            self.items = items
            self.isCheckedOut = isCheckedOut
        }
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case checkedOut
        case quantityNotPositive(Int)
        case notInCart(sku: String, inCart: Int, requested: Int)
        case empty

        public var description: String {
            switch self {
            case .checkedOut: "the cart is already checked out"
            case let .quantityNotPositive(quantity): "quantities must be positive, got \(quantity)"
            case let .notInCart(sku, inCart, requested): "cannot remove \(requested) \(sku): the cart holds \(inCart)"
            case .empty: "an empty cart cannot be checked out"
            }
        }
    }

    public struct Rules: Decider {
        public init() {}
        public var initialState: State { State() }

        public func decide(_ command: Command, state: State) throws -> [Event] {
            guard !state.isCheckedOut else { throw Refusal.checkedOut }
            switch command {
            case let .add(sku, quantity):
                guard quantity > 0 else { throw Refusal.quantityNotPositive(quantity) }
                return [.added(ItemAdded(sku: sku, quantity: quantity))]
            case let .remove(sku, quantity):
                guard quantity > 0 else { throw Refusal.quantityNotPositive(quantity) }
                let held = state.items[sku] ?? 0
                guard quantity <= held else { throw Refusal.notInCart(sku: sku, inCart: held, requested: quantity) }
                return [.removed(ItemRemoved(sku: sku, quantity: quantity))]
            case .checkOut:
                guard !state.items.isEmpty else { throw Refusal.empty }
                return [.checkedOut(CartCheckedOut(items: state.items))]
            }
        }

        public func evolve(_ state: State, _ event: Event) -> State {
            var state = state
            switch event {
            case let .added(added): state.items[added.sku, default: 0] += added.quantity
            case let .removed(removed):
                state.items[removed.sku, default: 0] -= removed.quantity
                if state.items[removed.sku] == 0 { state.items[removed.sku] = nil }
            case .checkedOut: state.isCheckedOut = true
            }
            return state
        }
    }

    public static var events: EventRegistry<Event> {
        var registry = EventRegistry<Event>()
        registry.register(ItemAdded.self, embed: Event.added) { if case let .added(e) = $0 { e } else { nil } }
        registry.register(ItemRemoved.self, embed: Event.removed) { if case let .removed(e) = $0 { e } else { nil } }
        registry.register(CartCheckedOut.self, embed: Event.checkedOut) { if case let .checkedOut(e) = $0 { e } else { nil } }
        return registry
    }

    public static func repository(_ store: EventStore) -> Repository<Rules> {
        Repository(store: store, category: "carts", decider: Rules(), events: events)
    }
}
