import Foundation
import Stele

/// Stock of one item (a stream per SKU): shipments in, orders out, returns back in.
/// Availability is a fold; "as of last week" folds only what had happened by then.
public enum Inventory {
    public struct ShipmentReceived: Stele.Event, Equatable {
        public var shipment: String
        public var quantity: Int

        public init(shipment: String, quantity: Int) {
            self.shipment = shipment
            self.quantity = quantity
        }
    }

    public struct OrderShipped: Stele.Event, Equatable {
        public var order: String
        public var quantity: Int

        public init(order: String, quantity: Int) {
            self.order = order
            self.quantity = quantity
        }
    }

    public struct ItemsReturned: Stele.Event, Equatable {
        public var order: String
        public var quantity: Int

        public init(order: String, quantity: Int) {
            self.order = order
            self.quantity = quantity
        }
    }

    public enum Event: Sendable, Equatable {
        case received(ShipmentReceived)
        case shipped(OrderShipped)
        case returned(ItemsReturned)
    }

    public enum Command: Sendable {
        case receive(shipment: String, quantity: Int)
        case ship(order: String, quantity: Int)
        case acceptReturn(order: String, quantity: Int)
    }

    public struct State: Codable, Sendable, Equatable {
        public var available = 0
        /// Shipped per order, so a return cannot exceed what the order took.
        public var shippedByOrder: [String: Int] = [:]

        public init(available: Int = 0, shippedByOrder: [String: Int] = [:]) {
            self.available = available
            self.shippedByOrder = shippedByOrder
        }
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case quantityNotPositive(Int)
        case outOfStock(available: Int, requested: Int)
        case returnExceedsOrder(order: String, shipped: Int, returned: Int)

        public var description: String {
            switch self {
            case let .quantityNotPositive(quantity): "quantities must be positive, got \(quantity)"
            case let .outOfStock(available, requested): "only \(available) available, \(requested) requested"
            case let .returnExceedsOrder(order, shipped, returned): "order \(order) shipped \(shipped), cannot return \(returned)"
            }
        }
    }

    public struct Rules: Decider {
        public init() {}
        public var initialState: State { State() }

        public func decide(_ command: Command, state: State) throws -> [Event] {
            switch command {
            case let .receive(shipment, quantity):
                guard quantity > 0 else { throw Refusal.quantityNotPositive(quantity) }
                return [.received(ShipmentReceived(shipment: shipment, quantity: quantity))]
            case let .ship(order, quantity):
                guard quantity > 0 else { throw Refusal.quantityNotPositive(quantity) }
                guard quantity <= state.available else { throw Refusal.outOfStock(available: state.available, requested: quantity) }
                return [.shipped(OrderShipped(order: order, quantity: quantity))]
            case let .acceptReturn(order, quantity):
                guard quantity > 0 else { throw Refusal.quantityNotPositive(quantity) }
                let shipped = state.shippedByOrder[order] ?? 0
                guard quantity <= shipped else { throw Refusal.returnExceedsOrder(order: order, shipped: shipped, returned: quantity) }
                return [.returned(ItemsReturned(order: order, quantity: quantity))]
            }
        }

        public func evolve(_ state: State, _ event: Event) -> State {
            var state = state
            switch event {
            case let .received(shipment): state.available += shipment.quantity
            case let .shipped(order):
                state.available -= order.quantity
                state.shippedByOrder[order.order, default: 0] += order.quantity
            case let .returned(items):
                state.available += items.quantity
                state.shippedByOrder[items.order, default: 0] -= items.quantity
            }
            return state
        }
    }

    public static var events: EventRegistry<Event> {
        var registry = EventRegistry<Event>()
        registry.register(ShipmentReceived.self, embed: Event.received) { if case let .received(e) = $0 { e } else { nil } }
        registry.register(OrderShipped.self, embed: Event.shipped) { if case let .shipped(e) = $0 { e } else { nil } }
        registry.register(ItemsReturned.self, embed: Event.returned) { if case let .returned(e) = $0 { e } else { nil } }
        return registry
    }

    public static func repository(_ store: EventStore) -> Repository<Rules> {
        Repository(store: store, category: "inventory", decider: Rules(), events: events)
    }
}
