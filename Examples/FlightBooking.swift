import Foundation
import Stele

/// The seed's CQRS example: a flight with its seat map is an event-sourced stream (the one
/// consistent place writes go), and reads — many thousands per booking — are served from views
/// that follow the log. No overbooking however many bookings race for the last seat: each
/// booking is decided against the flight's current state and appended at the version it was
/// decided on; a booking that lost the race is decided again on the newer state.
public enum FlightBooking {
    public struct FlightScheduled: Stele.Event, Equatable {
        public var flight: String
        public var origin: String
        public var destination: String
        /// The day of departure, `2026-12-01`.
        public var departs: String
        public var seats: Int

        public init(flight: String, origin: String, destination: String, departs: String, seats: Int) {
            (self.flight, self.origin, self.destination, self.departs, self.seats) = (flight, origin, destination, departs, seats)
        }
    }

    public struct SeatBooked: Stele.Event, Equatable {
        public var booking: String
        public var passenger: String
        public var seat: String

        public init(booking: String, passenger: String, seat: String) {
            (self.booking, self.passenger, self.seat) = (booking, passenger, seat)
        }
    }

    public struct BookingCancelled: Stele.Event, Equatable {
        public var booking: String
        public var passenger: String
        public var seat: String

        public init(booking: String, passenger: String, seat: String) {
            (self.booking, self.passenger, self.seat) = (booking, passenger, seat)
        }
    }

    public enum Event: Sendable, Equatable {
        case scheduled(FlightScheduled)
        case booked(SeatBooked)
        case cancelled(BookingCancelled)
    }

    public enum Command: Sendable {
        case schedule(flight: String, origin: String, destination: String, departs: String, seats: Int)
        /// Books `seat`, or the first free seat when `nil`.
        case book(booking: String, passenger: String, seat: String?)
        case cancel(booking: String)
    }

    public struct State: Codable, Sendable, Equatable {
        public var scheduled: FlightScheduled?
        /// Seat → booking.
        public var taken: [String: String] = [:]
        /// Booking → (passenger, seat).
        public var bookings: [String: [String]] = [:]

        public init() {}

        public var seatsLeft: Int { (scheduled?.seats ?? 0) - taken.count }
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case notScheduled
        case alreadyScheduled
        case invalidSeatCount(Int)
        case soldOut
        case noSuchSeat(String)
        case seatTaken(String)
        case bookingExists(String)
        case unknownBooking(String)

        public var description: String {
            switch self {
            case .notScheduled: "no such flight"
            case .alreadyScheduled: "the flight is already scheduled"
            case let .invalidSeatCount(count): "a flight has 1…600 seats, not \(count)"
            case .soldOut: "the flight is full"
            case let .noSuchSeat(seat): "the flight has no seat \(seat)"
            case let .seatTaken(seat): "seat \(seat) is taken"
            case let .bookingExists(booking): "booking \(booking) exists already"
            case let .unknownBooking(booking): "no booking \(booking) on this flight"
            }
        }
    }

    /// Seat names in seat-map order: rows of six, `1A` … `1F`, `2A` ….
    public static func seatNames(_ count: Int) -> [String] {
        let letters = ["A", "B", "C", "D", "E", "F"]
        return (0..<count).map { "\($0 / 6 + 1)\(letters[$0 % 6])" }
    }

    public struct Rules: Decider {
        public init() {}
        public var initialState: State { State() }

        public func decide(_ command: Command, state: State) throws -> [Event] {
            switch command {
            case let .schedule(flight, origin, destination, departs, seats):
                guard state.scheduled == nil else { throw Refusal.alreadyScheduled }
                guard (1...600).contains(seats) else { throw Refusal.invalidSeatCount(seats) }
                return [.scheduled(FlightScheduled(flight: flight, origin: origin, destination: destination, departs: departs, seats: seats))]
            case let .book(booking, passenger, seat):
                guard let flight = state.scheduled else { throw Refusal.notScheduled }
                guard state.bookings[booking] == nil else { throw Refusal.bookingExists(booking) }
                guard state.seatsLeft > 0 else { throw Refusal.soldOut }
                let seats = seatNames(flight.seats)
                let chosen: String
                if let seat {
                    guard seats.contains(seat) else { throw Refusal.noSuchSeat(seat) }
                    guard state.taken[seat] == nil else { throw Refusal.seatTaken(seat) }
                    chosen = seat
                } else {
                    chosen = seats.first { state.taken[$0] == nil }!
                }
                return [.booked(SeatBooked(booking: booking, passenger: passenger, seat: chosen))]
            case let .cancel(booking):
                guard let held = state.bookings[booking] else { throw Refusal.unknownBooking(booking) }
                return [.cancelled(BookingCancelled(booking: booking, passenger: held[0], seat: held[1]))]
            }
        }

        public func evolve(_ state: State, _ event: Event) -> State {
            var state = state
            switch event {
            case let .scheduled(scheduled): state.scheduled = scheduled
            case let .booked(booked):
                state.taken[booked.seat] = booked.booking
                state.bookings[booked.booking] = [booked.passenger, booked.seat]
            case let .cancelled(cancelled):
                state.taken[cancelled.seat] = nil
                state.bookings[cancelled.booking] = nil
            }
            return state
        }
    }

    public static var events: EventRegistry<Event> {
        var registry = EventRegistry<Event>()
        registry.register(FlightScheduled.self, embed: Event.scheduled) { if case let .scheduled(e) = $0 { e } else { nil } }
        registry.register(SeatBooked.self, embed: Event.booked) { if case let .booked(e) = $0 { e } else { nil } }
        registry.register(BookingCancelled.self, embed: Event.cancelled) { if case let .cancelled(e) = $0 { e } else { nil } }
        return registry
    }

    /// `count` flights between eight airports over a week, the same ones every time:
    /// (stream id, command).
    public static func generatedFlights(count: Int, seats: Int) -> [(id: String, command: Command)] {
        let airports = ["OSL", "CPH", "ARN", "HEL", "LHR", "CDG", "FRA", "AMS"]
        return (0..<count).map { index in
            let origin = airports[index % airports.count]
            let destination = airports[(index / airports.count + index + 1) % airports.count]
            let day = String(format: "2026-12-%02d", index % 7 + 1)
            let flight = "SK\(1000 + index)"
            return ("\(flight)-\(day)", .schedule(flight: flight, origin: origin, destination: destination == origin ? airports[(index + 3) % 8] : destination,
                                                 departs: day, seats: seats))
        }
    }

    /// The read side, as view definitions (`stele demo flights` runs them; `stele serve --views`
    /// runs them from files): seats left per flight, bookings per passenger, flights by route and day.
    public static let viewDefinitions: [(file: String, sql: String)] = [
        ("seats_left.sql", """
        -- @view seats_left
        -- @categories flights
        CREATE TABLE seats_left (
            flight      TEXT PRIMARY KEY,
            number      TEXT NOT NULL,
            origin      TEXT NOT NULL,
            destination TEXT NOT NULL,
            departs     TEXT NOT NULL,
            capacity    INTEGER NOT NULL,
            booked      INTEGER NOT NULL DEFAULT 0,
            seats_left  INTEGER NOT NULL,
            version     INTEGER NOT NULL
        );
        -- @on FlightScheduled (flight text, origin text, destination text, departs text, seats integer)
        INSERT INTO seats_left (flight, number, origin, destination, departs, capacity, seats_left, version)
        VALUES (:stream_id, :data.flight, :data.origin, :data.destination, :data.departs, :data.seats, :data.seats, :version);
        -- @on SeatBooked (booking text)
        UPDATE seats_left SET booked = booked + 1, seats_left = seats_left - 1, version = :version WHERE flight = :stream_id;
        -- @on BookingCancelled (booking text)
        UPDATE seats_left SET booked = booked - 1, seats_left = seats_left + 1, version = :version WHERE flight = :stream_id;
        """),
        ("passenger_bookings.sql", """
        -- @view passenger_bookings
        -- @categories flights
        CREATE TABLE bookings (
            booking   TEXT PRIMARY KEY,
            passenger TEXT NOT NULL,
            flight    TEXT NOT NULL,
            seat      TEXT NOT NULL,
            booked_at TEXT NOT NULL
        );
        CREATE INDEX bookings_by_passenger ON bookings (passenger);
        CREATE TABLE passengers (
            passenger TEXT PRIMARY KEY,
            bookings  INTEGER NOT NULL
        );
        -- @on SeatBooked (booking text, passenger text, seat text)
        INSERT INTO bookings VALUES (:data.booking, :data.passenger, :stream_id, :data.seat, :appended_at);
        INSERT INTO passengers VALUES (:data.passenger, 1) ON CONFLICT (passenger) DO UPDATE SET bookings = bookings + 1;
        -- @on BookingCancelled (booking text, passenger text)
        DELETE FROM bookings WHERE booking = :data.booking;
        UPDATE passengers SET bookings = bookings - 1 WHERE passenger = :data.passenger;
        """),
        ("flights_by_route.sql", """
        -- @view flights_by_route
        -- @categories flights
        CREATE TABLE flights (
            flight      TEXT PRIMARY KEY,
            number      TEXT NOT NULL,
            origin      TEXT NOT NULL,
            destination TEXT NOT NULL,
            departs     TEXT NOT NULL
        );
        CREATE INDEX flights_by_route_and_day ON flights (origin, destination, departs);
        -- @on FlightScheduled (flight text, origin text, destination text, departs text)
        INSERT INTO flights VALUES (:stream_id, :data.flight, :data.origin, :data.destination, :data.departs);
        """),
    ]

    /// Flights live in the `flights` category, one stream per flight and day (`SK1402-2026-12-01`).
    /// Racing bookings retry until they win or the flight is full: with N bookers on one
    /// flight a booking can lose N-1 rounds, so the attempts allowed are generous.
    public static func repository(_ store: EventStore) -> Repository<Rules> {
        var repository = Repository(store: store, category: "flights", decider: Rules(), events: events)
        repository.maxAttempts = 1000
        return repository
    }
}
