import Foundation
import Testing
import Stele
import SteleExamples
import SteleNode
import SteleTestSupport
import SteleViews
import SteleWire

/// Views end to end on a real node, asserting on structured status (what `views-test.sh`
/// asserted on log wording): the seed's examples written by the demos, the example definition
/// files and a broken one; the broken one refused with file, line and reason while the others
/// fold the examples; queries over HTTP read-only with bound parameters; a rebuild under a
/// reader that never sees it fail; the node stopped and reopened.
@Suite struct ViewsEndToEndTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Examples/views").standardized.path

    @Test func exampleViewsFoldTheDemosAndABrokenDefinitionIsRefusedAlone() async throws {
        let directory = NSTemporaryDirectory() + "stele-views-e2e-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let definitions = directory + "/defs"
        try FileManager.default.createDirectory(atPath: definitions, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.examples) where file.hasSuffix(".sql") {
            try FileManager.default.copyItem(atPath: Self.examples + "/" + file, toPath: definitions + "/" + file)
        }
        try "-- @categories accounts\nCREATE TABLE x (a TEXT);\n-- @on MoneyDeposited (amount integer)\nINSERT INTO x VALUES (:data.amont);\n"
            .write(toFile: definitions + "/broken.sql", atomically: true, encoding: .utf8)

        // The demos' events, written by the library as `stele demo bank|cart|inventory` does.
        let store = try await EventStore.open(.embedded(path: directory + "/data"))
        try await Demos.bank(store: store, print: { _ in })
        try await Demos.cart(store: store, print: { _ in })
        try await Demos.inventory(store: store, print: { _ in })
        try await store.close()

        // `stele views check` reads the same directory: the mistake is named with its line.
        let checked = try ViewDirectory.load(definitions)
        #expect(checked.problems.map { "\(URL(fileURLWithPath: $0.file).lastPathComponent):\($0.line): \($0.reason)" }
                == ["broken.sql:4: unknown event field :data.amont: @on MoneyDeposited declares amount"])

        let server = try await LiveServer.start(directory: directory, configureNode: { $0.viewsDirectory = definitions })
        #expect(server.node.refusedViews.count == 1)
        #expect(server.node.refusedViews.first?.contains("broken.sql:4: unknown event field :data.amont") == true, "\(server.node.refusedViews)")
        for name in ["balances", "cart_lines", "fraud_alerts", "stock"] { try await server.views.view(named: name)!.waitUntilCaughtUp() }
        var (status, body) = try await server.call("GET", "/views")
        #expect(status == 200)
        let listed: [JSONValue] = body["views"]?.array ?? []
        let names: [String] = listed.compactMap { view -> String? in
            if case let .string(name)? = view["name"] { return name }
            return nil
        }
        #expect(names.sorted() == ["balances", "cart_lines", "fraud_alerts", "stock"])
        for view in listed {
            let state: JSONValue? = view["state"]
            let lag: JSONValue? = view["lag"]?["events"]
            #expect(state == .string("running"), "\(view)")
            #expect(lag == .integer(0), "\(view)")
        }
        let refused: JSONValue? = body["refused"]?.array.first
        #expect(refused?["file"].map { "\($0)" }?.contains("broken.sql") == true, "\(String(describing: refused))")
        #expect(refused?["line"] == .integer(4))

        func query(_ view: String, _ sql: String, params: String = "{}") async throws -> (Int, JSONValue) {
            try await server.call("POST", "/views/\(view)/query", body: #"{"sql":"\#(sql)","params":\#(params)}"#, headers: ["Content-Type": "application/json"])
        }
        (status, body) = try await query("balances", "SELECT balance, deposits, withdrawals FROM balances")
        #expect(body["rows"]?.array == [.object(["balance": .integer(130), "deposits": .integer(1), "withdrawals": .integer(1)])], "\(body)")
        (status, body) = try await query("cart_lines", "SELECT sku, quantity FROM cart_lines")
        #expect(body["rows"]?.array == [.object(["sku": .string("trousers"), "quantity": .integer(1)])], "\(body)")
        (status, body) = try await query("stock", "SELECT available FROM stock")
        #expect(body["rows"]?.array == [.object(["available": .integer(25)])], "\(body)")
        (status, body) = try await query("balances", "DELETE FROM balances")
        #expect(status == 403 && body["title"] == .string("queries are read-only"))
        (status, body) = try await query("balances", "SELECT count(*) AS n FROM balances WHERE balance > :min", params: #"{"min":100}"#)
        #expect(body["rows"]?.array == [.object(["n": .integer(1)])])

        // A rebuild while a reader queries: every answer is the same balance, old tables or new.
        // The rebuild is asked for once the reader has its first answer (so it has one on any machine).
        let (firstAnswer, answered) = AsyncStream<Void>.makeStream()
        let reader = Task { () async throws -> String? in
            defer { answered.finish() }
            var answers = 0
            while !Task.isCancelled {
                let body: JSONValue
                do { (_, body) = try await query("balances", "SELECT balance FROM balances") } catch {
                    // Cancelling the reader cancels its request in flight.
                    if Task.isCancelled { break }
                    throw error
                }
                guard body["rows"]?.array == [.object(["balance": .integer(130)])] else { return "wrong answer during the rebuild: \(body)" }
                answers += 1
                answered.finish()
            }
            return answers > 0 ? nil : "no answer during the rebuild"
        }
        for await _ in firstAnswer {}
        (status, body) = try await server.call("POST", "/views/balances/rebuild")
        #expect(status == 202 || status == 200, "\(body)")
        try await server.views.view(named: "balances")!.waitForRebuild()
        try await server.views.view(named: "balances")!.waitUntilCaughtUp()
        (status, body) = try await server.call("GET", "/views/balances")
        #expect(body["state"] == .string("running") && body["rebuild"] == nil, "\(body)")
        reader.cancel()
        let failure = try await reader.value
        #expect(failure == nil)
        #expect(FileManager.default.fileExists(atPath: directory + "/views/balances/2.sqlite"), "the rebuild made generation 2")

        // Stopped in order and opened again: the views resume from their checkpoints.
        try await server.node.stopAndWait()
        let again = try await LiveServer.start(directory: directory, configureNode: { $0.viewsDirectory = definitions })
        try await again.views.view(named: "balances")!.waitUntilCaughtUp()
        (status, body) = try await again.call("POST", "/views/balances/query", body: #"{"sql":"SELECT balance FROM balances"}"#, headers: ["Content-Type": "application/json"])
        #expect(body["rows"]?.array == [.object(["balance": .integer(130)])])
        try await again.stop()
    }
}

/// A checkpoint names a transaction id only where the store delivers in transaction order: the
/// embedded log ignores one a client sends (it would otherwise never move past it).
@Test func aTransactionInACheckpointIsIgnoredByTheEmbeddedLog() async throws {
    let server = try await LiveServer.start()
    _ = try await server.call("POST", "/streams/accounts/a", body: #"[{"type":"A","data":1},{"type":"B","data":2}]"#)
    let (status, body) = try await server.call("GET", "/categories/accounts/events?after=0:1/0")
    #expect(status == 200 && body["events"]?.array.count == 2, "\(body)")
    #expect(body["next"] == .string("0:2"))
    try await server.stop()
}
