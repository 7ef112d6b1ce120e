import Foundation
import Stele

/// The runnable walk-throughs behind `stele demo bank|cart|inventory`: each drives an example
/// through a store, prints what it does, and returns the final state for tests to check.
public enum Demos {
    public typealias Output = @Sendable (String) -> Void

    /// Opens with 100, deposits 50, withdraws 20 (balance 130), tries to overdraw, prints the
    /// fold and the history.
    @discardableResult
    public static func bank(store: EventStore, account: String = "account-\(shortID())", print: Output) async throws -> BankAccount.State {
        let accounts = BankAccount.repository(store)
        print("Bank account \(account) (stream accounts/\(account))")
        try await accounts.handle(.open(owner: "Ada", initialDeposit: 100), on: account)
        print("  open with 100          → balance \(try await accounts.load(account).state.balance)")
        try await accounts.handle(.deposit(50), on: account)
        print("  deposit 50             → balance \(try await accounts.load(account).state.balance)")
        try await accounts.handle(.withdraw(20), on: account)
        print("  withdraw 20            → balance \(try await accounts.load(account).state.balance)")
        do {
            try await accounts.handle(.withdraw(500), on: account)
            print("  withdraw 500           → accepted (this is a bug)")
        } catch let refusal as BankAccount.Refusal {
            print("  withdraw 500           → refused: \(refusal)")
        }
        let (state, version) = try await accounts.load(account)
        print("Balance as a fold of \(version + 1) events: \(state.balance)")
        print("History:")
        for entry in try await accounts.history(account) {
            print("  v\(entry.version)  \(timestamp(entry.appendedAt))  \(describe(entry.event))")
        }
        return state
    }

    /// Adds three pairs of trousers, removes two, checks out the one left; prints the cart and
    /// its journal, where every step is kept.
    @discardableResult
    public static func cart(store: EventStore, cart: String = "cart-\(shortID())", print: Output) async throws -> ShoppingCart.State {
        let carts = ShoppingCart.repository(store)
        print("Shopping cart \(cart) (stream carts/\(cart))")
        try await carts.handle(.add(sku: "trousers", quantity: 3), on: cart)
        print("  add 3 trousers     → \(try await carts.load(cart).state.items)")
        try await carts.handle(.remove(sku: "trousers", quantity: 2), on: cart)
        print("  remove 2 trousers  → \(try await carts.load(cart).state.items)")
        try await carts.handle(.checkOut, on: cart)
        let (state, _) = try await carts.load(cart)
        print("  check out          → checked out with \(state.items)")
        print("The cart now: \(state.items.map { "\($0.value) \($0.key)" }.joined(separator: ", ")), checked out: \(state.isCheckedOut)")
        print("Its journal (nothing is overwritten; the removed trousers are still there):")
        for entry in try await carts.history(cart) {
            print("  v\(entry.version)  \(timestamp(entry.appendedAt))  \(describe(entry.event))")
        }
        return state
    }

    /// Receives shipments, ships orders and takes returns of one item over three weeks (the
    /// events say when they occurred); prints availability now and as of last week.
    @discardableResult
    public static func inventory(store: EventStore, sku: String = "sku-\(shortID())", now: Date = Date(),
                                 print: Output) async throws -> (now: Int, lastWeek: Int) {
        let items = Inventory.repository(store)
        let day: TimeInterval = 86_400
        let steps: [(TimeInterval, Inventory.Command)] = [
            (-20, .receive(shipment: "shipment-1", quantity: 40)),
            (-15, .ship(order: "order-1", quantity: 12)),
            (-10, .ship(order: "order-2", quantity: 10)),
            (-9, .acceptReturn(order: "order-1", quantity: 2)),
            (-3, .receive(shipment: "shipment-2", quantity: 30)),
            (-2, .ship(order: "order-3", quantity: 30)),
            (-1, .acceptReturn(order: "order-3", quantity: 5)),
        ]
        print("Inventory of \(sku) (stream inventory/\(sku))")
        for (daysAgo, command) in steps {
            let occurred = now.addingTimeInterval(daysAgo * day)
            try await items.handle(command, on: sku, metadata: EventMetadata(occurredAt: occurred))
            print("  \(date(occurred))  \(describe(command))")
        }
        do {
            try await items.handle(.ship(order: "order-4", quantity: 100), on: sku)
        } catch let refusal as Inventory.Refusal {
            print("  today       ship 100 for order-4 → refused: \(refusal)")
        }
        let current = try await items.load(sku).state.available
        let lastWeek = now.addingTimeInterval(-7 * day)
        let then = try await items.load(sku, asOf: AsOf(occurredBy: lastWeek)).state.available
        print("Available now, by replaying \(try await items.history(sku).count) events: \(current)")
        print("Available as of last week (\(date(lastWeek))): \(then)")
        return (current, then)
    }

    static func describe(_ event: BankAccount.Event) -> String {
        switch event {
        case let .opened(e): "AccountOpened     owner \(e.owner), initial deposit \(e.initialDeposit)"
        case let .deposited(e): "MoneyDeposited    \(e.amount)"
        case let .withdrawn(e): "MoneyWithdrawn    \(e.amount)"
        }
    }

    static func describe(_ event: ShoppingCart.Event) -> String {
        switch event {
        case let .added(e): "ItemAdded       \(e.quantity) \(e.sku)"
        case let .removed(e): "ItemRemoved     \(e.quantity) \(e.sku)"
        case let .checkedOut(e): "CartCheckedOut  \(e.items.map { "\($0.value) \($0.key)" }.joined(separator: ", "))"
        }
    }

    static func describe(_ command: Inventory.Command) -> String {
        switch command {
        case let .receive(shipment, quantity): "receive \(quantity) (\(shipment))"
        case let .ship(order, quantity): "ship \(quantity) for \(order)"
        case let .acceptReturn(order, quantity): "return of \(quantity) from \(order)"
        }
    }

    public static func shortID() -> String { String(UUID().uuidString.prefix(8)).lowercased() }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    static func date(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: date)
    }
}
