import Foundation
import Testing
import Stele
import SteleExamples

struct ReactorTests {
    /// Every checked-out cart reserves its items in inventory. The reactor is stopped after its
    /// reactions but before its checkpoint, then run again: nothing is reserved twice, and the
    /// correlation id flows from the cart to the inventory events.
    @Test func reactionsAreIdempotentAndTraced() async throws {
        try await withStore { store in
            let carts = ShoppingCart.repository(store)
            let inventory = Inventory.repository(store)
            try await inventory.handle(.receive(shipment: "s1", quantity: 100), on: "trousers")
            for cart in 0..<5 {
                try await carts.handle(.add(sku: "trousers", quantity: cart + 1), on: "cart-\(cart)", metadata: EventMetadata(correlationId: "session-\(cart)"))
                try await carts.handle(.checkOut, on: "cart-\(cart)", metadata: EventMetadata(correlationId: "session-\(cart)"))
            }
            let checkpoints = InMemoryCheckpointStore()
            func run(until target: Int) async throws {
                var reactor = Reactor(name: "reserve-stock", category: "carts", store: store, checkpoints: checkpoints)
                reactor.checkpointEvery = 1_000_000 // never during the run: every event comes again
                let seen = Counter()
                try await reactor.run { reaction in
                    if let type = reaction.event.type, type == "CartCheckedOut",
                       case let .checkedOut(checkout) = try ShoppingCart.events.decode(reaction.event) {
                        for (sku, quantity) in checkout.items {
                            try await inventory.handle(.ship(order: reaction.event.stream.id, quantity: quantity), on: sku,
                                                       commandId: reaction.commandId, metadata: reaction.metadata)
                        }
                    }
                    if seen.increment() == target { throw CancellationError() }
                }
            }
            // The subscription follows forever; the test ends each run after the ten cart events.
            await #expect(throws: CancellationError.self) { try await run(until: 10) }
            await #expect(throws: CancellationError.self) { try await run(until: 10) }
            let stock = try await inventory.load("trousers").state
            #expect(stock.available == 100 - (1 + 2 + 3 + 4 + 5), "each checkout reserved once, though delivered twice")
            let history = try await inventory.history("trousers")
            #expect(history.count == 6)
            #expect(Set(history.dropFirst().compactMap(\.metadata.correlationId)) == Set((0..<5).map { "session-\($0)" }))
        }
    }

    @Test func checkpointsSurviveInFiles() async throws {
        let directory = NSTemporaryDirectory() + "stele-checkpoints-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try FileCheckpointStore(directory: directory)
        #expect(try await files.load("r/1") == nil)
        try await files.save(CategoryCheckpoint(nextOffsets: [0: 12, 3: 7]), for: "r/1")
        #expect(try await FileCheckpointStore(directory: directory).load("r/1") == CategoryCheckpoint(nextOffsets: [0: 12, 3: 7]))
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int { lock.withLock { value += 1; return value } }
}
