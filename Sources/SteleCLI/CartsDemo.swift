import ArgumentParser
import Dispatch
import Foundation
import Logging
import Stele
import SteleExamples
import StelePostgres
import SteleViews
import StelePostgresViews

/// `stele demo carts`: the shopping-cart microservices. `serve` (the default) runs Stele with
/// the three Swift services in process; `service NAME` runs one service as its own process
/// against a running Stele (through `.remote`); `shop` plays scripted shoppers.
struct CartsDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "carts",
        abstract: "The shopping-cart microservices: one carts category, a view per service in its own store.",
        discussion: """
              shoppers ──HTTP──▶ stele (carts category) ──┬─▶ inventory  (SQLite)      stock in carts, sold
                                                          ├─▶ shipping   (PostgreSQL)  a shipment per checkout
                                                          ├─▶ analytics  (SQLite)      per-product totals
                                                          └─Kafka─▶ fraud (Python, consumer group "fraud")
            """,
        subcommands: [Serve.self, Service.self, Shop.self],
        defaultSubcommand: Serve.self)

    static func service(named name: String) throws -> CartServices.Service {
        guard let service = CartServices.all.first(where: { $0.name == name }) else {
            throw ValidationError("no service \(name): \(CartServices.all.map(\.name).joined(separator: ", "))")
        }
        return service
    }

    /// Where a service keeps its view: PostgreSQL when it prefers it and a URL is given, else SQLite in `directory`.
    static func location(for service: CartServices.Service, directory: String, postgresURL: String?) -> @Sendable (String) throws -> any ViewLocation {
        { name in
            if service.prefersPostgres, let postgresURL { return try PostgresViewLocation(url: postgresURL, name: name) }
            return try SQLiteViewLocation(directory: directory, name: name)
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve Stele with the inventory, shipping and analytics services running in process.")

        @OptionGroup var server: ServeCommand

        @Option(help: "PostgreSQL database for the shipping service (without it, shipping keeps its view in SQLite).")
        var shippingPostgresUrl: String?

        func run() async throws {
            let (dataDir, postgresURL, httpPort, kafkaPort) = (server.dataDir, shippingPostgresUrl, server.httpPort, server.kafkaPort)
            try await server.serve { store, _, logger in
                // The services' views stop with the node, after its listeners.
                var services: [ViewService] = []
                for service in CartServices.all {
                    let views = ViewService(store: store, makeLocation: CartsDemo.location(for: service, directory: dataDir + "/services/" + service.name, postgresURL: postgresURL))
                    services.append(views)
                    do {
                        _ = try await views.start(try ViewDefinition.parse(service.definition, file: service.name + ".sql"))
                    } catch {
                        // The node stops only the services it was given: stop those started so far.
                        for started in services { await started.stop() }
                        throw error
                    }
                    logger.info("service running", metadata: ["service": "\(service.name)", "store": "\(service.prefersPostgres && postgresURL != nil ? "PostgreSQL" : dataDir + "/services/" + service.name)"])
                }
                logger.info("carts ready", metadata: [
                    "shop": "stele demo carts shop --url http://127.0.0.1:\(httpPort) --carts 100",
                    "fraud": "python3 Examples/carts/fraud.py --bootstrap 127.0.0.1:\(kafkaPort) --db fraud.sqlite",
                ])
                return services
            }
        }
    }

    struct Service: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one service (inventory, shipping, analytics) as its own process, following a running Stele over HTTP.")

        @Argument(help: "inventory, shipping or analytics.")
        var name: String

        @Option(help: "The Stele server's HTTP API.")
        var url = "http://127.0.0.1:8080"

        @Option(help: "Directory for the service's SQLite view.")
        var dir: String

        @Option(help: "PostgreSQL database (used by shipping).")
        var postgresUrl: String?

        func run() async throws {
            let service = try CartsDemo.service(named: name)
            guard let base = URL(string: url) else { throw ValidationError("--url \(url) is not a URL") }
            let store = try await EventStore.open(.remote(url: base))
            let views = ViewService(store: store, makeLocation: CartsDemo.location(for: service, directory: dir, postgresURL: postgresUrl))
            let view = try await views.start(try ViewDefinition.parse(service.definition, file: service.name + ".sql"))
            print("service \(service.name) following \(url)")
            let (stop, continuation) = AsyncStream<Void>.makeStream()
            let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { continuation.yield() }
                source.resume()
                return source
            }
            for await _ in stop { break }
            sources.forEach { $0.cancel() }
            let status = await view.status()
            await views.stop()
            try await store.close()
            print("service \(service.name) stopped (lag \(status.lagEvents) events)")
        }
    }

    struct Shop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Scripted shoppers: carts filled, emptied a little and checked out, through the HTTP API.")

        @Option(help: "The Stele server's HTTP API.")
        var url = "http://127.0.0.1:8080"

        @Option(help: "Carts to shop with.")
        var carts = 100

        @Option(help: "Seed: the same seed gives the same shopping.")
        var seed: UInt64 = 1

        @Option(help: "Cart ids are PREFIX-N.")
        var prefix = "cart"

        func run() async throws {
            guard let base = URL(string: url) else { throw ValidationError("--url \(url) is not a URL") }
            let store = try await EventStore.open(.remote(url: base))
            let events = try await CartServices.shop(ShoppingCart.repository(store), carts: carts, seed: seed, prefix: prefix)
            try await store.close()
            print("shopped: \(carts) carts, \(events) events")
        }
    }
}
