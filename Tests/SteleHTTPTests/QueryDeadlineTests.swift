import Testing
import SteleViews
@testable import SteleHTTP

/// A view query's time limit covers writing its rows as JSON, not only running it.
struct QueryDeadlineTests {
    static let rows: [[String: SQLValue]] = (0..<10_000).map { ["id": .integer(Int64($0)), "name": .text("row \($0)")] }

    @Test func serialisingStopsOnceTheDeadlinePasses() {
        var checks = 0
        // The clock passes the deadline at the fifth check: rows 0…1023 were written, no more.
        #expect(throws: ViewError.timedOut("it ran longer than 5.0 seconds, writing its rows included")) {
            try ViewRoutes.json(rows: Self.rows, limit: .seconds(5)) {
                checks += 1
                return checks > 4
            }
        }
        #expect(checks == 5, "checked every 256 rows, stopped at the first check past the deadline")
    }

    @Test func withinTheDeadlineEveryRowIsWritten() throws {
        let json = try ViewRoutes.json(rows: Self.rows, limit: .seconds(5)) { false }
        #expect(json.count == Self.rows.count)
        #expect(json[9_999] == .object(["id": .integer(9_999), "name": .string("row 9999")]))
    }
}
