import Foundation
import Testing
import SteleStore
import SteleWire
@testable import SteleHTTP

/// The HTTP API's JSON shapes are one set of types (SteleWire) for the server and the remote
/// store: the server's hand-built `json` must say what `Codable` says, a client must read back
/// what the server writes, and `openapi.json` must name exactly their members.
struct WireTypesTests {
    static let appendedAt = Date(timeIntervalSince1970: 1_764_000_000.123)
    static func event(data: [UInt8], metadata: EventMetadata = EventMetadata()) -> RecordedEvent {
        RecordedEvent(stream: StreamName(category: "accounts", id: "acc-1"), version: 7, position: EventPosition(partition: 2, offset: 41, transaction: 3),
                      id: UUID(), type: "Deposited", schemaVersion: 2, data: data, appendedAt: appendedAt, metadata: metadata)
    }
    static let events = [
        event(data: Array(#"{"amount":10,"note":"a \"quoted\" ü","ratio":0.5,"ok":true,"none":null,"list":[1,2]}"#.utf8),
              metadata: EventMetadata(correlationId: "c-1", causationId: "e-0", occurredAt: Date(timeIntervalSince1970: 1_763_999_999.5))),
        event(data: [0, 255, 10, 13]),
        event(data: []),
    ]

    /// `json` (what the server writes) and `JSONEncoder` (what `Codable` says) give one value.
    func agree<T: Encodable>(_ value: T, _ json: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let encoded = try JSONEncoder().encode(value)
        #expect(JSONValue.parse(Array(encoded)) == json, sourceLocation: sourceLocation)
    }

    @Test func theServersJSONIsWhatTheTypesEncode() throws {
        for event in Self.events {
            for base64 in [false, true] {
                let cloudEvent = CloudEventJSON(event, base64: base64)
                try agree(cloudEvent, cloudEvent.json)
                // A client decodes what the server wrote into the same value.
                let decoded = try JSONDecoder().decode(CloudEventJSON.self, from: Data(cloudEvent.json.jsonText.utf8))
                #expect(decoded == cloudEvent)
            }
        }
        let page = EventPageJSON(events: Self.events.map { CloudEventJSON($0) }, next: 8)
        try agree(page, page.json)
        try agree(EventPageJSON(events: [], next: nil), EventPageJSON(events: [], next: nil).json)
        let categoryPage = CategoryPageJSON(events: Self.events.map { CloudEventJSON($0, base64: true) }, next: "0:5,1:9")
        try agree(categoryPage, categoryPage.json)
        let outcome = AppendOutcomeJSON(stream: StreamName(category: "accounts", id: "acc-1"),
                                        AppendOutcome(firstVersion: 3, lastVersion: 4, firstPosition: EventPosition(partition: 0, offset: 9), wasAlreadyAppended: false))
        try agree(outcome, outcome.json)
        try agree(CategoryEndJSON(category: "accounts", end: "0:5"), CategoryEndJSON(category: "accounts", end: "0:5").json)
        try agree(GenerationJSON(generation: "12"), GenerationJSON(generation: "12").json)
        let snapshot = Snapshot(stream: StreamName(category: "accounts", id: "acc-1"), name: "balance", version: 7, schemaVersion: 2,
                                state: [1, 2, 3], takenAt: Self.appendedAt)
        try agree(SnapshotJSON(snapshot), SnapshotJSON(snapshot).json)
    }

    @Test func aClientReadsBackTheEventTheServerWrote() throws {
        for event in Self.events {
            let read = try CloudEventJSON(event, base64: true).recorded()
            #expect(read == event, "byte for byte, with its metadata and times to the millisecond")
        }
        let snapshot = Snapshot(stream: StreamName(category: "accounts", id: "acc-1"), name: "balance", version: 7, state: [9], takenAt: Self.appendedAt)
        #expect(try SnapshotJSON(snapshot).snapshot(of: snapshot.stream, name: "balance") == snapshot, "the server's answer")
        #expect(try SnapshotJSON(storing: snapshot).snapshot(of: snapshot.stream, name: "balance") == snapshot, "what a client stores")
        // A problem from another server (a proxy) may leave out `type` and `status` (RFC 9457).
        let bare = try JSONDecoder().decode(ProblemJSON.self, from: Data(#"{"title":"wrong expected version","actual":4}"#.utf8))
        #expect(bare.title == "wrong expected version" && bare.actual == 4 && bare.type == nil)
    }

    @Test func theServerTakesTheEventsTheRemoteStoreSends() throws {
        let sent = [EventData(type: "Deposited", schemaVersion: 3, data: [0, 1, 2],
                              metadata: EventMetadata(correlationId: "c", causationId: "d", occurredAt: Self.appendedAt)),
                    EventData(type: "Withdrawn", data: Array(#"{"amount":5}"#.utf8))]
        let body = try JSONEncoder().encode(sent.map(EventJSONIn.init))
        guard case let .success(received) = StreamRoutes.events(from: Array(body)) else { Issue.record("refused"); return }
        #expect(received == sent)
    }

    /// Every schema of `openapi.json` that one of these types stands for lists exactly its
    /// members, and requires exactly those that are always there.
    @Test func theOpenAPIDocumentNamesExactlyTheTypesMembers() throws {
        let document = try #require(JSONValue.parse(Array(OpenAPIDocument.json.utf8)))
        func schema(_ name: String) throws -> (properties: Set<String>, required: Set<String>) {
            let schema = try #require(document.value(at: ["components", "schemas", name]), "no schema \(name)")
            guard case let .object(properties)? = schema.value(at: ["properties"]) else { throw SchemaMissing(name: name) }
            var required: Set<String> = []
            if case let .array(names)? = schema.value(at: ["required"]) {
                for case let .string(member) in names { required.insert(member) }
            }
            return (Set(properties.keys), required)
        }
        func keys<T: Encodable>(_ value: T) throws -> Set<String> {
            guard case let .object(members)? = JSONValue.parse(Array(try JSONEncoder().encode(value))) else { return [] }
            return Set(members.keys)
        }
        func check<T: Encodable>(_ name: String, full: T, minimal: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let (properties, required) = try schema(name)
            #expect(try keys(full) == properties, "\(name): the document's properties are the type's members", sourceLocation: sourceLocation)
            #expect(try keys(minimal) == required, "\(name): the document requires what is always there", sourceLocation: sourceLocation)
        }
        var full = CloudEventJSON(Self.events[0])
        full.data_base64 = "AA=="
        try check("CloudEvent", full: full, minimal: CloudEventJSON(Self.event(data: [1])).without(\.data_base64))
        var eventIn = EventJSONIn(EventData(type: "T", data: [1], metadata: EventMetadata(correlationId: "c", causationId: "d", occurredAt: Date())))
        eventIn.data = .null
        try check("EventIn", full: eventIn, minimal: EventJSONIn(type: "T"))
        let outcome = AppendOutcomeJSON(stream: StreamName(category: "a", id: "b"),
                                        AppendOutcome(firstVersion: 0, lastVersion: 0, firstPosition: EventPosition(partition: 0, offset: 0), wasAlreadyAppended: true))
        try check("AppendResult", full: outcome, minimal: outcome)
        let part = StreamAppendJSON(category: "a", id: "b", expectedVersion: "any", events: [EventJSONIn(type: "T")])
        try check("StreamAppend", full: part, minimal: StreamAppendJSON(category: "a", id: "b", expectedVersion: nil, events: []))
        try check("MultiAppendRequest", full: MultiAppendJSON(appends: [part]), minimal: MultiAppendJSON(appends: []))
        try check("MultiAppendResult", full: AppendOutcomesJSON(outcomes: [outcome]), minimal: AppendOutcomesJSON(outcomes: []))
        try check("EventPage", full: EventPageJSON(events: [], next: 1), minimal: EventPageJSON(events: [], next: nil))
        try check("CategoryPage", full: CategoryPageJSON(events: [], next: ""), minimal: CategoryPageJSON(events: [], next: ""))
        try check("CategoryEnd", full: CategoryEndJSON(category: "a", end: ""), minimal: CategoryEndJSON(category: "a", end: ""))
        try check("Appends", full: GenerationJSON(generation: "1"), minimal: GenerationJSON(generation: "1"))
        let snapshot = Snapshot(stream: StreamName(category: "a", id: "b"), name: "n", version: 0, state: [])
        try check("Snapshot", full: SnapshotJSON(snapshot), minimal: SnapshotJSON(snapshot))
        var problem = ProblemJSON(title: "t", status: 409, detail: "d")
        (problem.stream, problem.expected, problem.actual, problem.reason) = ("s", .integer(1), 2, "r")
        try check("Problem", full: problem, minimal: ProblemJSON(title: "t", status: 400))
    }

    struct SchemaMissing: Error { var name: String }
}

extension CloudEventJSON {
    func without(_ member: WritableKeyPath<Self, String?>) -> Self {
        var copy = self
        copy[keyPath: member] = nil
        return copy
    }
}
