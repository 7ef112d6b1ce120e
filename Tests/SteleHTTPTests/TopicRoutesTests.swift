import Foundation
import Testing
import SteleStore
import SteleViews

struct TopicRoutesTests {
    @Test func topicsAreCreatedListedAndDescribed() async throws {
        let server = try await LiveServer.start()
        var (status, body) = try await server.call("POST", "/topics", body: #"{"name":"orders","partitions":3,"configs":{"retention.ms":"-1"}}"#)
        #expect(status == 201 && body["partitions"]?.array.count == 3, "\(body)")
        #expect(body["configs"]?["retention.ms"] == .string("-1"))
        (status, body) = try await server.call("POST", "/topics", body: #"{"name":"orders"}"#)
        #expect(status == 409 && body["title"] == .string("topic exists"))
        (status, body) = try await server.call("POST", "/topics", body: #"{"name":"bad name!"}"#)
        #expect(status == 400, "\(body)")
        (status, body) = try await server.call("POST", "/topics", body: #"{"name":"x","partitions":0}"#)
        #expect(status == 400)
        _ = try await server.store.append([EventData(type: "A", data: Array("{}".utf8))], to: StreamName(category: "orders", id: "o-1"))
        (status, body) = try await server.call("GET", "/topics")
        #expect(body["topics"]?.array.compactMap { $0["name"] }.contains(.string("orders")) == true)
        (status, body) = try await server.call("GET", "/topics/orders")
        let ends = body["partitions"]?.array.compactMap { $0["logEndOffset"] } ?? []
        #expect(ends.reduce(Int64(0)) { if case let .integer(n) = $1 { $0 + n } else { $0 } } == 1, "one record in the topic: \(body)")
        (status, body) = try await server.call("GET", "/topics/nope")
        #expect(status == 404)
        (status, body) = try await server.call("GET", "/groups")
        #expect(status == 200 && body["groups"]?.array.isEmpty == true)
        (status, body) = try await server.call("GET", "/groups/nope")
        #expect(status == 404)
        try await server.stop()
    }
}
