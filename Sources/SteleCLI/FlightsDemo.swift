import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Stele
import SteleExamples
import SteleViews
import SteleWire

/// `stele demo flights`: the flight-booking service. `serve` (the default) runs Stele with the
/// flights' views and generated flights; `book` is the writer of the load script: it books
/// through the HTTP API at a steady rate and measures booking latency and view staleness.
struct FlightsDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flights",
        abstract: "The flight-booking service: consistent writes to flight streams, reads from views.",
        subcommands: [Serve.self, Book.self],
        defaultSubcommand: Serve.self)

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve Stele with the views seats_left, passenger_bookings and flights_by_route and generated flights.")

        @OptionGroup var server: ServeCommand

        @Option(help: "Flights to schedule (the same ones every time; already scheduled ones are kept).")
        var flights = 100

        @Option(help: "Seats per flight.")
        var seats = 180

        func validate() throws {
            guard flights >= 1 else { throw ValidationError("--flights must be at least 1") }
            guard (1...600).contains(seats) else { throw ValidationError("--seats must be 1…600") }
        }

        func run() async throws {
            let (flights, seats) = (flights, seats)
            try await server.serve { store, views, logger in
                for (file, sql) in FlightBooking.viewDefinitions {
                    _ = try await views.start(try ViewDefinition.parse(sql, file: file))
                }
                let repository = FlightBooking.repository(store)
                var scheduled = 0
                for (id, command) in FlightBooking.generatedFlights(count: flights, seats: seats) {
                    do {
                        try await repository.handle(command, on: id)
                        scheduled += 1
                    } catch FlightBooking.Refusal.alreadyScheduled {}
                }
                logger.info("flights ready", metadata: [
                    "flights": "\(flights)", "newly scheduled": "\(scheduled)", "seats": "\(seats)",
                    "try": "curl 127.0.0.1:\(server.httpPort)/views/seats_left/tables/seats_left/rows/SK1000-2026-12-01",
                ])
                return []
            }
        }
    }

    struct Book: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Book seats through a running `stele demo flights` at a steady rate; print booking latency and staleness (booking → visible in seats_left).")

        @Option(help: "The server's HTTP API.")
        var url = "http://127.0.0.1:8080"

        @Option(help: "Bookings per second.")
        var rate = 3.0

        @Option(help: "Seconds to run.")
        var duration = 20.0

        @Option(help: "Flights the server generated (bookings go to random ones of them).")
        var flights = 100

        func validate() throws {
            guard rate > 0, duration > 0, flights >= 1 else { throw ValidationError("--rate, --duration and --flights must be positive") }
        }

        func run() async throws {
            guard let base = URL(string: url) else { throw ValidationError("--url \(url) is not a URL") }
            let store = try await EventStore.open(.remote(url: base))
            let repository = FlightBooking.repository(store)
            let ids = FlightBooking.generatedFlights(count: flights, seats: 1).map(\.id)
            let session = URLSession(configuration: .ephemeral)
            var latencies: [Duration] = []
            var staleness: [Duration] = []
            var refused = 0
            let start = ContinuousClock.now
            let interval = Duration.seconds(1 / rate)
            var next = start
            while ContinuousClock.now - start < .seconds(duration) {
                if next > .now { try await Task.sleep(until: next) }
                next += interval
                let flight = ids.randomElement()!
                let began = ContinuousClock.now
                let outcome: CommandOutcome<FlightBooking.Rules>
                do {
                    outcome = try await repository.handle(.book(booking: UUID().uuidString.lowercased(), passenger: "p\(Int.random(in: 0..<10_000))", seat: nil), on: flight)
                } catch let refusal as FlightBooking.Refusal {
                    refused += 1
                    Swift.print("refused on \(flight): \(refusal)")
                    continue
                }
                let acknowledged = ContinuousClock.now
                latencies.append(acknowledged - began)
                // Visible once the view's row for the flight is at the booking's version.
                let row = base.appendingPathComponent("views/seats_left/tables/seats_left/rows/\(flight)")
                while true {
                    let (data, _) = try await session.data(from: row)
                    if case let .integer(version)? = (JSONValue.parse(Array(data)).flatMap { if case let .object(m) = $0 { m["version"] } else { nil } }),
                       version >= outcome.version {
                        break
                    }
                    if ContinuousClock.now - acknowledged > .seconds(10) { throw ValidationError("booking on \(flight) not visible after 10 s") }
                }
                staleness.append(ContinuousClock.now - acknowledged)
            }
            try await store.close()
            func percentile(_ values: [Duration], _ p: Double) -> String {
                guard !values.isEmpty else { return "-" }
                let sorted = values.sorted()
                let value = sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
                return String(format: "%.2f", Double(value.components.attoseconds) / 1e15 + Double(value.components.seconds) * 1000)
            }
            Swift.print("bookings \(latencies.count) refused \(refused) over \(String(format: "%.1f", duration)) s")
            Swift.print("booking latency ms p50 \(percentile(latencies, 0.5)) p99 \(percentile(latencies, 0.99))")
            Swift.print("staleness ms p50 \(percentile(staleness, 0.5)) p99 \(percentile(staleness, 0.99))")
        }
    }
}
