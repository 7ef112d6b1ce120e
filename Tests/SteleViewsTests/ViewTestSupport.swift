import Foundation
import Testing
import SteleTestSupport
import SteleStore
import SteleViews
import StelePostgres
import StelePostgresViews

/// Where a test's views live: SQLite files under the test's directory, or PostgreSQL schemas
/// named for the test (when `STELE_TEST_POSTGRES_URL` is set).
struct LocationBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable (_ directory: String, _ view: String, _ id: String, _ timeout: Duration) throws -> any ViewLocation
    var testDescription: String { name }
    var isPostgres: Bool { name == "postgres" }

    /// Queries get a minute by default: a time-out is tested on purpose with a short limit, and
    /// a loaded machine must not turn an ordinary query into one.
    func location(_ directory: String, _ view: String, _ id: String, timeout: Duration = .seconds(60)) throws -> any ViewLocation {
        try make(directory, view, id, timeout)
    }

    static var all: [LocationBackend] {
        [LocationBackend(name: "sqlite") { directory, view, _, timeout in
            try SQLiteViewLocation(directory: directory + "/views", name: view, queryTimeout: timeout)
        }] + (ViewBackend.postgresURL == nil ? [] : [LocationBackend(name: "postgres") { _, view, id, timeout in
            try PostgresViewLocation(url: ViewBackend.postgresURL!, name: "v\(id)_\(view)".lowercased(), queryTimeout: timeout)
        }])
    }
}

/// Polls `condition` until it holds; fails when `progress` has not moved for the stall limit
/// (see `StallWatch`), never after a fixed time.
func eventually(_ what: String, progress: () async throws -> String = { "" }, _ condition: () async throws -> Bool) async throws {
    try await waitUntil(what, progress: progress, condition)
}

extension MaterializedView {
    /// Waits until the view has applied everything in its categories. It fails when the view
    /// stops making progress (its lag, its state, a rebuild's count) for the stall limit, not
    /// after a fixed time: on a loaded 2-core machine a debug build folds a few thousand events
    /// into PostgreSQL slowly, but it keeps going.
    func caughtUp() async throws {
        var watch = StallWatch("view \(name) to catch up")
        while true {
            let status = await status()
            if case let .failed(reason) = status.state { Issue.record("view \(name) failed: \(reason)"); return }
            if status.state == .running && status.lagEvents == 0 { return }
            try watch.check("\(status.state) lag \(status.lagEvents) rebuild \(status.rebuild.map { "\($0.phase) \($0.applied)" } ?? "none")")
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// The repository's `Examples/views` directory.
let exampleViews = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Examples/views").path
