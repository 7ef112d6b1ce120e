import Foundation
import Testing
import Stele
import SteleExamples
import SteleRemote
import SteleViews

/// The flight-booking service over the HTTP API: racing bookings never overbook, and the views
/// served to readers agree with the flight's stream.
struct FlightsTests {
    @Test func twoHundredRacingBookingsForAHundredSeatsBookExactlyAHundred() async throws {
        let server = try await LiveServer.start()
        for (file, sql) in FlightBooking.viewDefinitions {
            _ = try await server.views.start(try ViewDefinition.parse(sql, file: file))
        }
        let store = EventStore(RemoteEventStorage(url: URL(string: server.base)!))
        let repository = FlightBooking.repository(store)
        let flight = "SK1402-2026-12-01"
        try await repository.handle(.schedule(flight: "SK1402", origin: "OSL", destination: "CPH", departs: "2026-12-01", seats: 100), on: flight)

        let outcomes = await withTaskGroup(of: Result<(booking: String, seat: String), any Error>.self) { group in
            for attempt in 0..<200 {
                group.addTask {
                    do {
                        let outcome = try await repository.handle(.book(booking: "b\(attempt)", passenger: "p\(attempt % 37)", seat: nil), on: flight)
                        guard case let .booked(booked)? = outcome.events.first else { return .success(("b\(attempt)", "no event")) }
                        return .success((booked.booking, booked.seat))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let booked = outcomes.compactMap { try? $0.get() }
        let seats = booked.map(\.seat)
        let refusals = outcomes.compactMap { outcome -> FlightBooking.Refusal? in
            if case let .failure(error) = outcome { error as? FlightBooking.Refusal } else { nil }
        }
        #expect(seats.count == 100 && Set(seats).count == 100, "every seat booked once: \(seats.count) bookings, \(Set(seats).count) seats")
        #expect(refusals.count == 100 && refusals.allSatisfy { $0 == .soldOut }, "the other 100 are told the flight is full")
        let (state, version) = try await repository.load(flight)
        #expect(state.seatsLeft == 0 && state.taken.count == 100 && version == 100)

        // The read side agrees with the write side.
        for view in server.views.views { try await view.waitUntilCaughtUp() }
        let (_, row) = try await server.call("GET", "/views/seats_left/tables/seats_left/rows/\(flight)")
        #expect(row["seats_left"] == .integer(0) && row["booked"] == .integer(100) && row["capacity"] == .integer(100), "\(row)")
        var (_, answer) = try await server.call("POST", "/views/passenger_bookings/query", body: #"{"sql":"SELECT count(*) AS bookings, count(DISTINCT seat) AS seats, (SELECT sum(bookings) FROM passengers) AS total FROM bookings WHERE flight = :flight","params":{"flight":"\#(flight)"}}"#)
        let counts = answer["rows"]?.array.first
        #expect(counts?["bookings"] == .integer(100) && counts?["seats"] == .integer(100) && counts?["total"] == .integer(100), "\(answer)")
        (_, answer) = try await server.call("POST", "/views/flights_by_route/query", body: #"{"sql":"SELECT flight FROM flights WHERE origin = 'OSL' AND destination = 'CPH' AND departs = '2026-12-01'"}"#)
        #expect(answer["rows"]?.array.first?["flight"] == .string(flight))

        // A cancellation frees the seat for the next booking.
        try await repository.handle(.cancel(booking: booked[0].booking), on: flight)
        let rebooked = try await repository.handle(.book(booking: "late", passenger: "p-late", seat: nil), on: flight)
        #expect(rebooked.state.seatsLeft == 0)
        await #expect(throws: FlightBooking.Refusal.soldOut) {
            try await repository.handle(.book(booking: "later", passenger: "p", seat: nil), on: flight)
        }
        try await store.close()
        try await server.stop()
    }
}
