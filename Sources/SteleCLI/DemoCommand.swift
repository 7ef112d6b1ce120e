import ArgumentParser
import Foundation
import Stele
import SteleExamples

/// `stele demo …`: the seed's examples. bank, cart and inventory run against an embedded store
/// and print what they did; flights and carts start a server with their services.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run an example: bank, cart, inventory, fraud (printed), flights (a served CQRS service) or carts (microservices).",
        subcommands: [BankDemo.self, CartDemo.self, InventoryDemo.self, FraudDemo.self, FlightsDemo.self, CartsDemo.self])
}

/// The examples that run once against an embedded store and print what they did.
protocol PrintedDemo: AsyncParsableCommand {
    var dataDir: String? { get }
    static func run(store: EventStore, print: @escaping Demos.Output) async throws
}

extension PrintedDemo {
    func run() async throws {
        let directory = dataDir ?? NSTemporaryDirectory() + "stele-demo-" + UUID().uuidString
        defer { if dataDir == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let store = try await EventStore.open(.embedded(path: directory))
        do { try await Self.run(store: store) { line in Swift.print(line) } } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        if dataDir != nil { Swift.print("Events kept in \(directory)") }
    }
}

private let dataDirHelp: ArgumentHelp = "Data directory to use (default: a temporary one, removed afterwards). Use the same directory as a running `stele serve` only when it is stopped."

struct BankDemo: PrintedDemo {
    static let configuration = CommandConfiguration(commandName: "bank", abstract: "Open an account, deposit, withdraw, refuse an overdraft; the balance is a fold.")
    @Option(help: dataDirHelp) var dataDir: String?
    static func run(store: EventStore, print: @escaping Demos.Output) async throws { try await Demos.bank(store: store, print: print) }
}

struct CartDemo: PrintedDemo {
    static let configuration = CommandConfiguration(commandName: "cart", abstract: "Add three trousers, remove two, check out one; every step kept.")
    @Option(help: dataDirHelp) var dataDir: String?
    static func run(store: EventStore, print: @escaping Demos.Output) async throws { try await Demos.cart(store: store, print: print) }
}

struct InventoryDemo: PrintedDemo {
    static let configuration = CommandConfiguration(commandName: "inventory", abstract: "Shipments and returns of stock.")
    @Option(help: dataDirHelp) var dataDir: String?
    static func run(store: EventStore, print: @escaping Demos.Output) async throws { try await Demos.inventory(store: store, print: print) }
}

struct FraudDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fraud",
        abstract: "Generated account and card traffic with planted frauds; three rules (a window, a pattern across two categories, an absence) write alerts.",
        discussion: "The alerts are events of the category `alerts`; with --data-dir, `stele serve --data-dir DIR --views Examples/views` shows them in the view fraud_alerts.")
    @Option(help: dataDirHelp) var dataDir: String?
    @Option(help: "The traffic's random seed (the same seed, the same traffic and alerts).") var seed: UInt64 = 2026

    func run() async throws {
        let directory = dataDir ?? NSTemporaryDirectory() + "stele-demo-" + UUID().uuidString
        defer { if dataDir == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let store = try await EventStore.open(.embedded(path: directory))
        do { _ = try await FraudDetection.run(store: store, seed: seed) { line in Swift.print(line) } } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        if dataDir != nil { Swift.print("Events and alerts kept in \(directory)") }
    }
}
