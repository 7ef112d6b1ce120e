import ArgumentParser
import Foundation
import Stele
import SteleExamples

/// `stele demo bank|cart|inventory`: the seed's examples, run against an embedded store.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run an example (bank, cart, inventory) against an embedded event store and print what it did.")

    enum Example: String, ExpressibleByArgument, CaseIterable {
        case bank, cart, inventory
    }

    @Argument(help: "The example: \(Example.allCases.map(\.rawValue).joined(separator: ", ")).")
    var example: Example

    @Option(help: "Data directory to use (default: a temporary one, removed afterwards). Use the same directory as a running `stele serve` only when it is stopped.")
    var dataDir: String?

    func run() async throws {
        let directory = dataDir ?? NSTemporaryDirectory() + "stele-demo-" + UUID().uuidString
        defer { if dataDir == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let store = try await EventStore.open(.embedded(path: directory))
        let output: Demos.Output = { line in Swift.print(line) }
        do {
            switch example {
            case .bank: try await Demos.bank(store: store, print: output)
            case .cart: try await Demos.cart(store: store, print: output)
            case .inventory: try await Demos.inventory(store: store, print: output)
            }
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        if dataDir != nil { Swift.print("Events kept in \(directory)") }
    }
}
