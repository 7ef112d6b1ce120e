import Foundation
import Testing
import SteleStore
import SteleViews
import StelePostgres

/// Where a test's views live: SQLite files under the test's directory, or PostgreSQL schemas
/// named for the test (when `STELE_TEST_POSTGRES_URL` is set).
struct LocationBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable (_ directory: String, _ view: String, _ id: String, _ timeout: Duration) throws -> any ViewLocation
    var testDescription: String { name }
    var isPostgres: Bool { name == "postgres" }

    func location(_ directory: String, _ view: String, _ id: String, timeout: Duration = .seconds(5)) throws -> any ViewLocation {
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

/// Polls `condition` for up to ten seconds.
func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
    for _ in 0..<1000 {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("timed out waiting for: \(what)")
}

extension MaterializedView {
    /// Waits until the view has applied everything in its categories. It fails when the view
    /// stops making progress for 30 s, not after a fixed time: on a loaded 2-core machine a
    /// debug build folds a few thousand events into PostgreSQL slowly, but it keeps going.
    func caughtUp() async throws {
        var lastLag = Int64.max
        var stalledSince = ContinuousClock.now
        while ContinuousClock.now - stalledSince < .seconds(30) {
            let status = await status()
            if case let .failed(reason) = status.state { Issue.record("view \(name) failed: \(reason)"); return }
            if status.state == .running && status.lagEvents == 0 { return }
            if status.lagEvents < lastLag {
                lastLag = status.lagEvents
                stalledSince = .now
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("view \(name) made no progress for 30 s: \(await status())")
    }
}

/// The repository's `Examples/views` directory.
let exampleViews = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Examples/views").path
