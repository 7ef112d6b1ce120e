import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import SteleStore
import SteleWire

/// An ``EventStorage`` that is a running Stele, used through its HTTP API: a Swift service
/// uses `EventStore(RemoteEventStorage(url:))` exactly as it would an embedded store.
///
/// Payloads travel base64-encoded, so every byte comes back as it was appended. Waiting for
/// appends is a long poll (`GET /appends`), so a caught-up subscriber costs one open request,
/// not a stream of polls.
public final class RemoteEventStorage: EventStorage {
    let client: RemoteClient
    /// The server's append generation as last seen: never ahead of the server's, which is all
    /// ``waitForAppends(after:until:)`` needs to be exact.
    private let generation = Atomic<UInt64>(0)

    /// A store served at `url` (`http://127.0.0.1:8080`); `token` is sent as
    /// `Authorization: Bearer` with every request.
    public init(url: URL, token: String? = nil) {
        self.client = RemoteClient(base: url, token: token)
    }

    public func append(_ events: [EventData], to stream: StreamName, expected: ExpectedVersion) async throws -> AppendOutcome {
        let body = try JSONEncoder.remote.encode(events.map(EventJSONIn.init))
        let (status, data) = try await client.send("POST", client.streamPath(stream), body: body,
                                                   headers: ["Stele-Expected-Version": Self.headerValue(expected)])
        guard status == 200 || status == 201 else { throw RemoteClient.error(status: status, body: data, stream: stream, expected: expected) }
        let outcome = try client.decode(AppendOutcomeJSON.self, from: data)
        guard let position = EventPosition(parsing: outcome.position) else { throw EventStoreError.storage("the server answered an unreadable position \(outcome.position)") }
        return AppendOutcome(firstVersion: outcome.firstVersion, lastVersion: outcome.lastVersion, firstPosition: position,
                             wasAlreadyAppended: outcome.alreadyAppended)
    }

    /// `POST /streams`: one request, all or nothing on the server.
    public func append(_ appends: [StreamAppend]) async throws -> [AppendOutcome] {
        try StreamAppend.validate(appends)
        let body = try JSONEncoder.remote.encode(MultiAppendJSON(appends: appends.map { part in
            StreamAppendJSON(category: part.stream.category, id: part.stream.id, expectedVersion: Self.headerValue(part.expected),
                             events: part.events.map(EventJSONIn.init))
        }))
        let (status, data) = try await client.send("POST", "/streams", body: body, headers: [:])
        guard status == 200 || status == 201 else {
            // The problem names the stream that failed; its expectation is the caller's.
            let named = (try? JSONDecoder().decode(ProblemJSON.self, from: data))?.stream
            let part = appends.first { $0.stream.description == named }
            throw RemoteClient.error(status: status, body: data, stream: part?.stream, expected: part?.expected)
        }
        let answer = try client.decode(AppendOutcomesJSON.self, from: data)
        guard answer.outcomes.count == appends.count else { throw EventStoreError.storage("the server answered \(answer.outcomes.count) outcomes for \(appends.count) streams") }
        return try answer.outcomes.map { outcome in
            guard let position = EventPosition(parsing: outcome.position) else { throw EventStoreError.storage("the server answered an unreadable position \(outcome.position)") }
            return AppendOutcome(firstVersion: outcome.firstVersion, lastVersion: outcome.lastVersion, firstPosition: position,
                                 wasAlreadyAppended: outcome.alreadyAppended)
        }
    }

    public func version(of stream: StreamName) async throws -> Int64 {
        let page = try await client.get(EventPageJSON.self, client.streamPath(stream), query: ["direction": "backward", "limit": "1", "dataEncoding": "base64"], stream: stream)
        return page.events.first?.steleversion ?? -1
    }

    public func read(_ stream: StreamName, from version: Int64, limit: Int) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        var next = version
        // The server gives at most a page per request; ask until `limit` or the stream's end.
        while events.count < limit {
            let want = min(limit - events.count, RemoteClient.pageLimit)
            assert(want > 0, "a page request asks for at least one event")
            let page = try await client.get(EventPageJSON.self, client.streamPath(stream),
                                            query: ["from": String(next), "limit": String(want), "dataEncoding": "base64"], stream: stream)
            events += try page.events.map { try $0.recorded() }
            guard page.events.count == want, let last = events.last else { break }
            next = last.version + 1
        }
        return events
    }

    public func readCategory(_ category: String, after checkpoint: CategoryCheckpoint, limit: Int) async throws -> CategoryPage {
        let page = try await client.get(CategoryPageJSON.self, "/categories/\(RemoteClient.escape(category))/events",
                                        query: ["after": checkpoint.description, "limit": String(min(limit, RemoteClient.pageLimit)), "dataEncoding": "base64"])
        guard let next = CategoryCheckpoint(page.next) else { throw EventStoreError.storage("the server answered an unreadable checkpoint \(page.next)") }
        return CategoryPage(events: try page.events.map { try $0.recorded() }, next: next)
    }

    public func endCheckpoint(of category: String) async throws -> CategoryCheckpoint {
        let end = try await client.get(CategoryEndJSON.self, "/categories/\(RemoteClient.escape(category))", query: [:])
        guard let checkpoint = CategoryCheckpoint(end.end) else { throw EventStoreError.storage("the server answered an unreadable checkpoint \(end.end)") }
        return checkpoint
    }

    public var appendGeneration: UInt64 { generation.load(ordering: .acquiring) }

    public func waitForAppends(after generation: UInt64, until deadline: ContinuousClock.Instant) async {
        let wait = max(0, (deadline - .now) / .milliseconds(1))
        do {
            let answer = try await client.get(GenerationJSON.self, "/appends", query: ["after": String(generation), "waitMs": String(Int(wait))])
            if let current = UInt64(answer.generation) { self.generation.store(current, ordering: .releasing) }
        } catch {
            // Unreachable server: the caller polls again after its deadline, as with no appends.
            let left = deadline - .now
            if left > .zero { try? await Task.sleep(for: left) }
        }
    }

    public func saveSnapshot(_ snapshot: Snapshot) async throws {
        let body = try JSONEncoder.remote.encode(SnapshotJSON(storing: snapshot))
        let (status, data) = try await client.send("PUT", client.streamPath(snapshot.stream) + "/snapshots/" + RemoteClient.escape(snapshot.name), body: body)
        guard status == 204 || status == 200 else { throw RemoteClient.error(status: status, body: data, stream: snapshot.stream, expected: nil) }
    }

    public func latestSnapshot(of stream: StreamName, name: String, schemaVersion: Int, atOrBefore version: Int64) async throws -> Snapshot? {
        let (status, data) = try await client.send("GET", client.streamPath(stream) + "/snapshots/" + RemoteClient.escape(name),
                                                   query: ["schemaVersion": String(schemaVersion), "atOrBefore": String(version)])
        if status == 404 { return nil }
        guard status == 200 else { throw RemoteClient.error(status: status, body: data, stream: stream, expected: nil) }
        return try client.decode(SnapshotJSON.self, from: data).snapshot(of: stream, name: name)
    }

    public func close() async throws {
        client.session.finishTasksAndInvalidate()
    }

    static func headerValue(_ expected: ExpectedVersion) -> String {
        switch expected {
        case .any: "any"
        case .noStream: "no-stream"
        case .streamExists: "stream-exists"
        case let .exact(version): String(version)
        }
    }
}
