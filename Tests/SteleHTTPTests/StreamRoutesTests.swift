import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Logging
import Metrics
import Prometheus
import Synchronization
import Testing
import SteleTestSupport
import SteleBroker
import SteleHTTP
import SteleStore
import SteleViews
import SteleEmbedded
import SteleWire
import SteleNode

/// A real node (``SteleNode``: broker, Kafka listener, views, HTTP API) on 127.0.0.1, free ports,
/// over an embedded store: the same start and shutdown as `stele serve`.
final class LiveServer: Sendable {
    let base: String
    let node: SteleNode
    let store: EventStore
    let directory: String

    /// The registry swift-metrics reports to in this test process (bootstrapped once).
    static let metrics: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    static func start(maxBodyBytes: Int = 1 << 20, heartbeat: Duration = .seconds(15), allowedHosts: Set<String> = [],
                      subscribers: Int = 1_000, directory: String? = nil, configure: (inout HTTPServer.Configuration) -> Void = { _ in },
                      configureNode: (inout SteleNode.Configuration) -> Void = { _ in }) async throws -> LiveServer {
        let directory = directory ?? NSTemporaryDirectory() + "stele-http-" + UUID().uuidString
        var configuration = SteleNode.Configuration.ephemeral(directory: directory)
        configureNode(&configuration)
        configuration.metrics = Self.metrics
        configuration.http.maxBodyBytes = maxBodyBytes
        configuration.http.sseHeartbeat = heartbeat
        configuration.http.allowedHosts = allowedHosts
        configure(&configuration.http)
        configuration.maxEventStreams = subscribers
        let node = try await SteleNode.start(configuration, logger: Logger(label: "test"))
        return LiveServer(base: "http://127.0.0.1:\(node.httpPort)", node: node, directory: directory)
    }

    var broker: Broker { node.broker }
    var views: ViewService { node.views }
    var eventStreams: EventStreams { node.eventStreams }

    private init(base: String, node: SteleNode, directory: String) {
        self.base = base
        self.node = node
        self.store = node.store
        self.directory = directory
    }

    /// Stops the node in its order (event streams, HTTP, Kafka, views, broker) and removes its files.
    func stop() async throws {
        try await node.stopAndWait()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Status and JSON body of a request.
    func call(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) async throws -> (Int, JSONValue) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.httpBody = body.map { Data($0.utf8) }
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, JSONValue.parse(Array(data)) ?? .string(String(decoding: data, as: UTF8.self)))
    }
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? { if case let .object(members) = self { members[key] } else { nil } }
    var array: [JSONValue] { if case let .array(elements) = self { elements } else { [] } }
}

struct StreamRoutesTests {
    @Test func appendWithExpectedVersionsAndReadPages() async throws {
        let server = try await LiveServer.start()
        let deposit = #"[{"type":"Deposited","data":{"amount":10}},{"type":"Deposited","data":{"amount":20},"correlationId":"c-1"}]"#
        var (status, body) = try await server.call("POST", "/streams/accounts/alice", body: deposit, headers: ["Stele-Expected-Version": "no-stream"])
        #expect(status == 201 && body["firstVersion"] == .integer(0) && body["lastVersion"] == .integer(1), "\(body)")

        // A stale expected version: 409 naming expected and actual, nothing written.
        (status, body) = try await server.call("POST", "/streams/accounts/alice", body: #"{"type":"Withdrawn","data":{"amount":5}}"#,
                                               headers: ["Stele-Expected-Version": "0"])
        #expect(status == 409 && body["expected"] == .integer(0) && body["actual"] == .integer(1), "\(body)")
        #expect(body["title"] == .string("wrong expected version") && body["status"] == .integer(409))
        (status, body) = try await server.call("POST", "/streams/accounts/alice", body: #"{"type":"Withdrawn","data":{"amount":5}}"#,
                                               headers: ["Stele-Expected-Version": "1"])
        #expect(status == 201 && body["firstVersion"] == .integer(2))

        // Forward in pages of two, then backward.
        (status, body) = try await server.call("GET", "/streams/accounts/alice?limit=2")
        #expect(status == 200 && body["events"]?.array.count == 2 && body["next"] == .integer(2))
        let first = body["events"]!.array[0]
        #expect(first["type"] == .string("Deposited") && first["data"] == .object(["amount": .integer(10)]))
        #expect(first["specversion"] == .string("1.0") && first["subject"] == .string("alice") && first["source"] == .string("/streams/accounts"))
        #expect(first["steleversion"] == .integer(0) && first["datacontenttype"] == .string("application/json"))
        #expect(body["events"]!.array[1]["stelecorrelationid"] == .string("c-1"))
        (status, body) = try await server.call("GET", "/streams/accounts/alice?limit=2&from=2")
        #expect(body["events"]?.array.map { $0["steleversion"] } == [.integer(2)] && body["next"] == nil)
        (status, body) = try await server.call("GET", "/streams/accounts/alice?direction=backward&limit=2")
        #expect(body["events"]?.array.map { $0["steleversion"] } == [.integer(2), .integer(1)] && body["next"] == .integer(0))
        (status, body) = try await server.call("GET", "/streams/accounts/alice?asOf=0")
        #expect(status == 200 && body["events"]?.array.isEmpty == true, "nothing was known in 1970")
        try await server.stop()
    }

    @Test(arguments: [
        ("POST", "/streams/accounts/a", "{\"type\":", [:], 400, "malformed events"),
        ("POST", "/streams/accounts/a", "{\"data\":1}", [:], 400, "malformed events"),
        ("POST", "/streams/accounts/a", "[]", [:], 400, "invalid request"),
        ("POST", "/streams/accounts/a", "{\"type\":\"A\",\"data_base64\":\"*\"}", [:], 400, "malformed events"),
        ("GET", "/categories/accounts/events?after=zero", nil, [:], 400, "after must be a category checkpoint"),
        ("GET", "/categories/accounts/events?after=0:/", nil, [:], 400, "after must be a category checkpoint"),
        ("GET", "/categories/accounts/events?after=0:1/", nil, [:], 400, "after must be a category checkpoint"),
        ("GET", "/categories/accounts/events?limit=5000", nil, [:], 400, "limit must be"),
        ("GET", "/appends", nil, [:], 400, "after must be an append generation"),
        ("GET", "/appends?after=0&waitMs=-1", nil, [:], 400, "waitMs must be"),
        ("PUT", "/streams/accounts/a/snapshots/balance", "{\"version\":-1,\"state_base64\":\"\"}", [:], 400, "malformed snapshot"),
        ("PUT", "/streams/accounts/a/snapshots/balance", "{\"version\":1,\"state_base64\":\"%%\"}", [:], 400, "malformed snapshot"),
        ("GET", "/streams/accounts/a/snapshots/balance", nil, [:], 404, "no snapshot"),
        ("GET", "/streams/accounts/a/snapshots/balance?atOrBefore=x", nil, [:], 400, "atOrBefore must be"),
        ("POST", "/streams/accounts/a", "{\"type\":\"A\",\"data\":1,\"id\":\"nope\"}", [:], 400, "malformed events"),
        ("POST", "/streams/accounts/a", "{\"type\":\"A\",\"data\":1}", ["Stele-Expected-Version": "soon"], 400, "Stele-Expected-Version must be"),
        ("POST", "/streams/__internal/a", "{\"type\":\"A\",\"data\":1}", [:], 400, "invalid stream"),
        ("GET", "/streams/accounts/a?limit=0", nil, [:], 400, "limit must be"),
        ("GET", "/streams/accounts/a?direction=sideways", nil, [:], 400, "direction must be"),
        ("GET", "/streams/accounts/a?asOf=yesterday", nil, [:], 400, "asOf must be"),
        ("GET", "/views/nope", nil, [:], 404, "no view named nope"),
    ] as [(String, String, String?, [String: String], Int, String)])
    func badRequestsGetProblemDetails(method: String, path: String, body: String?, headers: [String: String], status: Int, title: String) async throws {
        let server = try await LiveServer.start()
        let (code, problem) = try await server.call(method, path, body: body, headers: headers)
        #expect(code == status, "\(problem)")
        guard case let .string(text)? = problem["title"] else { Issue.record("no problem details: \(problem)"); return }
        #expect(text.hasPrefix(title), "\(problem)")
        #expect(problem["status"] == .integer(Int64(status)))
        try await server.stop()
    }

    @Test func categoriesPageAndALongPollEndsAtAnAppend() async throws {
        let server = try await LiveServer.start()
        for id in ["a", "b", "c"] {
            _ = try await server.call("POST", "/streams/carts/\(id)", body: #"{"type":"Opened","data_base64":"AAEC"}"#)
        }
        var (status, body) = try await server.call("GET", "/categories/carts/events?limit=2&dataEncoding=base64")
        #expect(status == 200 && body["events"]?.array.count == 2, "\(body)")
        #expect(body["events"]?.array.first?["data_base64"] == .string("AAEC"), "binary payloads come back byte for byte")
        guard case let .string(next)? = body["next"] else { Issue.record("no next: \(body)"); return }
        (_, body) = try await server.call("GET", "/categories/carts/events?after=\(next)")
        #expect(body["events"]?.array.count == 1)
        (_, body) = try await server.call("GET", "/categories/carts")
        #expect(body["end"] != nil && body["category"] == .string("carts"))

        (_, body) = try await server.call("GET", "/appends?after=0")
        guard case let .string(generation)? = body["generation"] else { Issue.record("no generation: \(body)"); return }
        // Held open until an append moves the generation on.
        let poll = Task { try await server.call("GET", "/appends?after=\(generation)&waitMs=30000") }
        try await Task.sleep(for: .milliseconds(200))
        _ = try await server.call("POST", "/streams/carts/d", body: #"{"type":"Opened","data":{}}"#)
        let started = ContinuousClock.now
        (status, body) = try await poll.value
        #expect(status == 200 && body["generation"] != .string(generation))
        // Well before the poll's 30 s limit (a wake-up takes milliseconds, even on a busy machine).
        #expect(ContinuousClock.now - started < .seconds(25), "the poll ended at the append, not at its time limit")
        try await server.stop()
    }

    @Test func aBodyOverTheLimitIsRefusedWith413() async throws {
        let server = try await LiveServer.start(maxBodyBytes: 1024)
        let big = #"{"type":"A","data":""# + String(repeating: "x", count: 4096) + #""}"#
        let (code, problem) = try await server.call("POST", "/streams/accounts/a", body: big)
        #expect(code == 413, "\(problem)")
        #expect(try await server.store.version(of: StreamName(category: "accounts", id: "a")) == -1, "nothing appended")
        try await server.stop()
    }
}
