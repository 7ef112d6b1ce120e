import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SteleLog
import SteleStore
import SteleWire
import SteleViews

/// `/streams/{category}/{id}`: append with an expected version, read forward or backward with
/// paging, read as of a time. Events come back in CloudEvents' JSON shape.
struct StreamRoutes: Sendable {
    let store: EventStore
    let maxBodyBytes: Int
    static let expectedVersionHeader = HTTPField.Name("Stele-Expected-Version")!
    /// Most events one read returns.
    static let pageLimit = 1000

    func register(on router: Router<SteleRequestContext>) {
        router.post("streams/:category/:id") { request, context in
            let stream = try Self.stream(context)
            if let problem = stream.problem { return JSONResponse.problem(.badRequest, "invalid stream", detail: problem) }
            let expected: ExpectedVersion
            switch Self.expectedVersion(request.headers[Self.expectedVersionHeader]) {
            case let .success(value): expected = value
            case let .failure(problem): return problem.response
            }
            let body: ByteBuffer
            switch await JSONResponse.body(of: request, limit: maxBodyBytes) {
            case let .success(bytes): body = bytes
            case let .failure(problem): return problem.response
            }
            let events: [EventData]
            switch Self.events(from: Array(body.readableBytesView)) {
            case let .success(parsed): events = parsed
            case let .failure(problem): return problem.response
            }
            do {
                let outcome = try await store.append(events, to: stream, expected: expected)
                return JSONResponse.ok(AppendOutcomeJSON(stream: stream, outcome).json, status: outcome.wasAlreadyAppended ? .ok : .created)
            } catch let error as EventStoreError {
                return Self.problem(for: error)
            }
        }
        // Several streams as one: every part checked against its own expected version, all or nothing.
        router.post("streams") { request, _ in
            let body: ByteBuffer
            switch await JSONResponse.body(of: request, limit: maxBodyBytes) {
            case let .success(bytes): body = bytes
            case let .failure(problem): return problem.response
            }
            let appends: [StreamAppend]
            switch Self.multiAppend(from: Array(body.readableBytesView)) {
            case let .success(parsed): appends = parsed
            case let .failure(problem): return problem.response
            }
            do {
                let outcomes = try await store.append(appends)
                let json = JSONValue.object(["outcomes": .array(zip(appends, outcomes).map { AppendOutcomeJSON(stream: $0.stream, $1).json })])
                return JSONResponse.ok(json, status: outcomes.allSatisfy(\.wasAlreadyAppended) ? .ok : .created)
            } catch let error as EventStoreError {
                return Self.problem(for: error)
            }
        }
        router.get("streams/:category/:id") { request, context in
            let stream = try Self.stream(context)
            if let problem = stream.problem { return JSONResponse.problem(.badRequest, "invalid stream", detail: problem) }
            let query = request.uri.queryParameters
            let base64: Bool
            switch Self.wantsBase64(request) {
            case let .success(value): base64 = value
            case let .failure(problem): return problem.response
            }
            let limit = query["limit"].map { Int(String($0)) } ?? Self.pageLimit
            guard let limit, (1...Self.pageLimit).contains(limit) else {
                return JSONResponse.problem(.badRequest, "limit must be 1…\(Self.pageLimit)")
            }
            let direction: ReadDirection
            switch query["direction"].map(String.init) {
            case nil, "forward"?: direction = .forward
            case "backward"?: direction = .backward
            case let other?: return JSONResponse.problem(.badRequest, "direction must be forward or backward, not \(other)")
            }
            do {
                if let asOf = query["asOf"] {
                    guard let time = Self.parseTime(String(asOf)) else {
                        return JSONResponse.problem(.badRequest, "asOf must be an ISO 8601 time (2026-11-23T10:15:00Z) or epoch milliseconds")
                    }
                    // As of a time the stream ends earlier; pages go either way from `from`,
                    // read a page at a time (a long stream is never loaded whole).
                    var from: StreamPoint = direction == .forward ? .start : .end
                    if let text = query["from"] {
                        guard let version = Int64(String(text)), version >= 0 else { return JSONResponse.problem(.badRequest, "from must be a version ≥ 0") }
                        from = .version(version)
                    }
                    let events = try await store.read(stream, asOf: .time(time), from: from, direction: direction, limit: limit)
                    return JSONResponse.ok(Self.page(events, limit: limit, direction: direction, base64: base64).json)
                }
                var from: StreamPoint = direction == .forward ? .start : .end
                if let text = query["from"] {
                    guard let version = Int64(String(text)), version >= 0 else { return JSONResponse.problem(.badRequest, "from must be a version ≥ 0") }
                    from = .version(version)
                }
                let events = try await store.read(stream, from: from, direction: direction, limit: limit)
                return JSONResponse.ok(Self.page(events, limit: limit, direction: direction, base64: base64).json)
            } catch let error as EventStoreError {
                return Self.problem(for: error)
            }
        }
    }

    static func stream(_ context: SteleRequestContext) throws -> StreamName {
        StreamName(category: try pathParameter(context, "category"), id: try pathParameter(context, "id"))
    }

    /// A path parameter, percent-decoded: a stream id may hold any character.
    static func pathParameter(_ context: SteleRequestContext, _ name: String) throws -> String {
        let raw = try context.parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }

    /// Whether the client asked for every payload as `data_base64`, byte for byte (the Swift
    /// remote store does; JSON payloads are otherwise re-serialised).
    static func wantsBase64(_ request: Request) -> Result<Bool, ProblemResponse> {
        switch request.uri.queryParameters["dataEncoding"] {
        case nil: .success(false)
        case "base64"?: .success(true)
        case let other?: .failure(ProblemResponse(JSONResponse.problem(.badRequest, "dataEncoding must be base64", detail: "not \(other)")))
        }
    }

    /// `any` (or absent), `no-stream`, `stream-exists`, or a version.
    static func expectedVersion(_ header: String?) -> Result<ExpectedVersion, ProblemResponse> {
        switch header {
        case nil, "any"?: .success(.any)
        case "no-stream"?: .success(.noStream)
        case "stream-exists"?: .success(.streamExists)
        case let text?:
            if let version = Int64(text), version >= -1 { .success(version == -1 ? .noStream : .exact(version)) } else {
                .failure(ProblemResponse(JSONResponse.problem(.badRequest, "Stele-Expected-Version must be any, no-stream, stream-exists or a version, not '\(text)'")))
            }
        }
    }

    /// One event object or an array of them: `{"type": "…", "data": … (or "data_base64"), "id"?: uuid,
    /// "schemaVersion"?: n, "correlationId"?, "causationId"?, "occurredAt"?: time}`.
    static func events(from body: [UInt8]) -> Result<[EventData], ProblemResponse> {
        guard let json = JSONValue.parse(body) else {
            return .failure(ProblemResponse(JSONResponse.problem(.badRequest, "malformed events", detail: "the body is not JSON")))
        }
        return events(from: json)
    }

    /// `{"appends": [{"category": "…", "id": "…", "expectedVersion"?: "any" | "no-stream" |
    /// "stream-exists" | n, "events": [event, …]}, …]}`.
    static func multiAppend(from body: [UInt8]) -> Result<[StreamAppend], ProblemResponse> {
        func bad(_ detail: String) -> Result<[StreamAppend], ProblemResponse> {
            .failure(ProblemResponse(JSONResponse.problem(.badRequest, "malformed append", detail: detail)))
        }
        guard case let .object(root)? = JSONValue.parse(body), case let .array(parts)? = root["appends"], !parts.isEmpty else {
            return bad("expected {\"appends\": [{\"category\", \"id\", \"expectedVersion\", \"events\"}, …]}")
        }
        var appends: [StreamAppend] = []
        for (index, part) in parts.enumerated() {
            guard case let .object(members) = part, case let .string(category)? = members["category"], case let .string(id)? = members["id"] else {
                return bad("append \(index) needs \"category\" and \"id\" strings")
            }
            let stream = StreamName(category: category, id: id)
            if let problem = stream.problem { return bad("append \(index): \(problem)") }
            let expected: ExpectedVersion
            let text: String? = switch members["expectedVersion"] {
            case nil: nil
            case let .string(value)?: value
            case let value?: value.integer.map(String.init) ?? "?"
            }
            switch Self.expectedVersion(text) {
            case let .success(value): expected = value
            case .failure: return bad("append \(index): expectedVersion must be any, no-stream, stream-exists or a version")
            }
            guard let eventsJSON = members["events"] else { return bad("append \(index) has no \"events\"") }
            switch events(from: eventsJSON) {
            case let .success(events): appends.append(StreamAppend(events, to: stream, expected: expected))
            case let .failure(problem): return .failure(problem)
            }
        }
        return .success(appends)
    }

    /// The categories a multi-stream append's body names (for authorization; empty if it does
    /// not parse — the route then refuses it).
    static func categories(inMultiAppend body: [UInt8]) -> Set<String> {
        guard case let .object(root)? = JSONValue.parse(body), case let .array(parts)? = root["appends"] else { return [] }
        return Set(parts.compactMap { part in
            guard case let .object(members) = part, case let .string(category)? = members["category"] else { return nil }
            return category
        })
    }

    static func events(from json: JSONValue) -> Result<[EventData], ProblemResponse> {
        func bad(_ detail: String) -> Result<[EventData], ProblemResponse> {
            .failure(ProblemResponse(JSONResponse.problem(.badRequest, "malformed events", detail: detail)))
        }
        let objects: [JSONValue]
        switch json {
        case let .array(elements): objects = elements
        case .object: objects = [json]
        default: return bad("expected an event object or an array of them")
        }
        var events: [EventData] = []
        for (index, object) in objects.enumerated() {
            guard case let .object(members) = object else { return bad("event \(index) is not an object") }
            guard case let .string(type)? = members["type"], !type.isEmpty else { return bad("event \(index) has no \"type\" string") }
            // CloudEvents' rule: `data_base64` is the payload byte for byte when present, else
            // `data` as JSON; an event may have neither (an empty payload).
            var payload: [UInt8] = []
            if let encoded = members["data_base64"] {
                guard case let .string(text) = encoded, let bytes = Data(base64Encoded: text) else { return bad("event \(index): \"data_base64\" is not base64") }
                payload = Array(bytes)
            } else if let data = members["data"] {
                payload = Array(data.jsonText.utf8)
            }
            var event = EventData(type: type, data: payload)
            if let id = members["id"] {
                guard case let .string(text) = id, let uuid = UUID(uuidString: text) else { return bad("event \(index): \"id\" is not a UUID") }
                event.id = uuid
            }
            if let version = members["schemaVersion"] {
                guard let number = version.integer, number >= 1, number <= Int64(Int32.max) else { return bad("event \(index): \"schemaVersion\" is not a positive integer") }
                event.schemaVersion = Int(number)
            }
            for (key, path) in [("correlationId", \EventMetadata.correlationId), ("causationId", \EventMetadata.causationId)] {
                guard let value = members[key] else { continue }
                guard case let .string(text) = value else { return bad("event \(index): \"\(key)\" is not a string") }
                event.metadata[keyPath: path] = text
            }
            if let occurred = members["occurredAt"] {
                guard case let .string(text) = occurred, let time = parseTime(text) else { return bad("event \(index): \"occurredAt\" is not an ISO 8601 time") }
                event.metadata.occurredAt = time
            }
            events.append(event)
        }
        return .success(events)
    }

    /// A page of a stream. The next page starts after the last event given; there is none when
    /// this page was short.
    static func page(_ events: [RecordedEvent], limit: Int, direction: ReadDirection, base64: Bool) -> EventPageJSON {
        var next: Int64?
        if events.count == limit, let last = events.last {
            let version = direction == .forward ? last.version + 1 : last.version - 1
            if version >= 0 { next = version }
        }
        return EventPageJSON(events: events.map { CloudEventJSON($0, base64: base64) }, next: next)
    }

    /// CloudEvents 1.0 JSON, with Stele's stream, version and position as extension attributes.
    static func cloudEvent(_ event: RecordedEvent, base64: Bool = false) -> JSONValue {
        CloudEventJSON(event, base64: base64).json
    }

    static func problem(for error: EventStoreError) -> Response {
        switch error {
        case let .wrongExpectedVersion(stream, expected, actual):
            JSONResponse.problem(.conflict, "wrong expected version", detail: error.description, extra: [
                "stream": .string(stream.description), "expected": headerValue(expected), "actual": .integer(actual),
            ])
        case let .idempotencyConflict(stream, reason):
            JSONResponse.problem(.conflict, "idempotency conflict", detail: error.description, extra: ["stream": .string(stream.description), "reason": .string(reason)])
        case let .invalidRequest(reason): JSONResponse.problem(.badRequest, "invalid request", detail: reason)
        case let .notAnEventCategory(reason): JSONResponse.problem(.badRequest, "not an event category", detail: reason)
        case let .checkpointOutOfRange(reason): JSONResponse.problem(.notFound, "no such checkpoint", detail: reason)
        case .storage, .closed: JSONResponse.problem(.serviceUnavailable, "the store failed", detail: error.description)
        }
    }

    /// The expectation as the header spells it: a version, or `no-stream`, `stream-exists`, `any`.
    static func headerValue(_ expected: ExpectedVersion) -> JSONValue {
        switch expected {
        case .any: .string("any")
        case .noStream: .string("no-stream")
        case .streamExists: .string("stream-exists")
        case let .exact(version): .integer(version)
        }
    }

    static func parseTime(_ text: String) -> Date? {
        if !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }) {
            // At most 14 digits: up to the year 5138, so every time written back is ISO 8601's four-digit year.
            guard text.count <= 14, let milliseconds = Int64(text) else { return nil }
            return Date(epochMilliseconds: milliseconds)
        }
        // Years 0001…9999 only, so every time is written back with ISO 8601's four-digit year.
        guard let milliseconds = ISO8601Milliseconds.parseInternetTime(text) else { return nil }
        let date = Date(epochMilliseconds: milliseconds)
        return Self.writable(date) ? date : nil
    }

    /// Years 0001…9999: other times have no four-digit ISO 8601 year to be written back with.
    static func writable(_ date: Date) -> Bool {
        date >= Date(timeIntervalSince1970: -62_135_596_800) && date < Date(timeIntervalSince1970: 253_402_300_800)
    }
}
