import Foundation
import Testing
import SteleTestSupport
import SteleStore
import SteleViews
import SteleWire

/// `/metrics`, SSE heartbeats and a view's changes over SSE. Serialized: the tests read gauges
/// that any server's scrape sets in the process-wide registry.
@Suite(.serialized) struct MetricsAndLiveTests {
    static let view = """
        -- @view totals
        -- @categories %CATEGORY%
        CREATE TABLE totals (account TEXT PRIMARY KEY, total INTEGER NOT NULL);
        -- @on Deposited (amount integer)
        INSERT INTO totals VALUES (:stream_id, :data.amount)
        ON CONFLICT (account) DO UPDATE SET total = total + excluded.total;
        """

    /// The value of the sample `line` starts with (`name{labels}`), if the scrape has it.
    func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    func scrape(_ server: LiveServer) async throws -> String {
        let (status, body) = try await server.call("GET", "/metrics")
        guard status == 200, case let .string(text) = body else { Issue.record("no metrics: \(status) \(body)"); return "" }
        return text
    }

    @Test func metricsCountAppendsAndShowPartitionsAndViewLag() async throws {
        let server = try await LiveServer.start()
        let category = "m" + UUID().uuidString.prefix(8).lowercased()
        let definition = try ViewDefinition.parse(Self.view.replacingOccurrences(of: "%CATEGORY%", with: category), file: "totals.sql")
        let view = try await server.views.start(definition)
        for amount in [5, 7, 9] {
            let (status, _) = try await server.call("POST", "/streams/\(category)/alice", body: #"{"type":"Deposited","data":{"amount":\#(amount)}}"#)
            #expect(status == 201)
        }
        try await view.waitUntilCaughtUp()
        let text = try await scrape(server)
        #expect(sample(text, #"stele_partition_log_end_offset{topic="\#(category)",partition="0"}"#) == 3, "\(text)")
        #expect((sample(text, #"stele_partition_size_bytes{topic="\#(category)",partition="0"}"#) ?? 0) > 0)
        #expect((sample(text, #"stele_append_records_total{api="store"}"#) ?? 0) >= 3)
        #expect((sample(text, #"stele_append_duration_seconds_count{api="store"}"#) ?? 0) >= 3)
        #expect(sample(text, #"stele_view_lag_events{view="totals"}"#) == 0)
        #expect(sample(text, #"stele_view_running{view="totals"}"#) == 1)
        #expect(text.contains(#"http_server_request_duration_count{http_route="/streams/{category}/{id}",http_request_method="POST",http_response_status_code="201"}"#))
        var (_, row) = try await server.call("GET", "/views/totals/tables/totals/rows/alice")
        #expect(row["total"] == .integer(21))
        // Reads by key are cached until the next commit, which must show through at once.
        (_, row) = try await server.call("GET", "/views/totals/tables/totals/rows/alice")
        #expect(row["total"] == .integer(21))
        _ = try await server.call("POST", "/streams/\(category)/alice", body: #"{"type":"Deposited","data":{"amount":9}}"#)
        try await view.waitUntilCaughtUp()
        (_, row) = try await server.call("GET", "/views/totals/tables/totals/rows/alice")
        #expect(row["total"] == .integer(30), "a cached row outlived the commit that changed it")
        try await server.stop()
    }

    @Test func anIdleSubscriptionSendsHeartbeatsAndADisconnectedClientIsLetGo() async throws {
        let server = try await LiveServer.start(heartbeat: .milliseconds(200))
        let port = Int(server.base.split(separator: ":").last!)!
        let client = try SSEClient(port: port, path: "/categories/quiet/subscribe")
        _ = try await client.read(until: ": keep-alive")
        _ = try await client.read(until: ": keep-alive")
        #expect(sample(try await scrape(server), "stele_sse_open_subscriptions") == 1)
        client.close()
        // The next heartbeat's write fails and the response ends: no task waits for an event forever.
        // Let go within a heartbeat of the client leaving; waited for without a fixed deadline.
        try await waitUntil("the departed client's response to end", every: .milliseconds(100)) {
            sample(try await scrape(server), "stele_sse_open_subscriptions") == 0
        }
        try await server.stop()
    }

    @Test func aServerWithFollowersConnectedStillStops() async throws {
        let server = try await LiveServer.start()
        let port = Int(server.base.split(separator: ":").last!)!
        let followers = [try SSEClient(port: port, path: "/categories/busy/subscribe"), try SSEClient(port: port, path: "/streams/busy/x/subscribe")]
        for follower in followers { _ = try await follower.read(until: ": stele") }
        // Open event streams used to hold the shutdown for as long as their clients stayed.
        try await withHangLimit("the server to stop with followers connected") { try await server.stop() }
        for follower in followers {
            #expect(try await follower.read(until: "the server is stopping").contains("event: error"))
            follower.close()
        }
    }

    @Test func aViewsChangesArePushedOverSSE() async throws {
        let server = try await LiveServer.start(heartbeat: .milliseconds(500))
        let port = Int(server.base.split(separator: ":").last!)!
        let category = "c" + UUID().uuidString.prefix(8).lowercased()
        let definition = try ViewDefinition.parse(Self.view.replacingOccurrences(of: "%CATEGORY%", with: category), file: "totals.sql")
        _ = try await server.views.start(definition)
        let client = try SSEClient(port: port, path: "/views/totals/changes")
        _ = try await client.read(until: ": stele")
        _ = try await server.call("POST", "/streams/\(category)/bob", body: #"{"type":"Deposited","data":{"amount":3}}"#)
        _ = try await client.read(until: "event: change")
        let data = try await client.read(until: "\n\n")
        guard let json = JSONValue.parse(Array(data.drop { $0 != "{" }.utf8.dropLast(2))) else { Issue.record("unreadable change: \(data)"); return }
        #expect(json["view"] == .string("totals"))
        #expect(json["events"]?.array.first?["stream"] == .string("\(category)/bob"), "\(json)")
        #expect(json["events"]?.array.first?["version"] == .integer(0))
        let (status, problem) = try await server.call("GET", "/views/nope/changes")
        #expect(status == 404 && problem["title"] == .string("no view named nope"))
        client.close()
        try await server.stop()
    }
}
