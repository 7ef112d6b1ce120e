import Foundation
import SteleStore

// The JSON shapes of Stele's HTTP API, one set for both ends: the server (`SteleHTTP`) builds
// its answers from them and the remote store (`SteleRemote`) decodes them. Each type is
// `Codable` for clients and has `json`, the same value as a `JSONValue` for the server's
// writer (hand-built: a page of events is on the read path); `WireTypesTests` checks that the
// two agree and that `openapi.json` names exactly these members.

/// An event in CloudEvents 1.0 JSON, with Stele's stream, version and position as extension
/// attributes. The payload is `data` (JSON) or `data_base64` (bytes, or on request).
public struct CloudEventJSON: Codable, Sendable, Equatable {
    public var specversion = "1.0"
    public var id: String
    public var type: String
    public var source: String
    public var subject: String
    public var time: String
    public var datacontenttype: String
    public var data: JSONValue?
    public var data_base64: String?
    public var stelestream: String
    public var steleversion: Int64
    public var steleposition: String
    public var steleschemaversion: Int
    public var steleoccurredat: String?
    public var stelecorrelationid: String?
    public var stelecausationid: String?

    /// The event as the server writes it; `base64` asks for the payload byte for byte.
    public init(_ event: RecordedEvent, base64: Bool = false) {
        id = event.id?.uuidString.lowercased() ?? "\(event.stream)@\(event.version)"
        // CloudEvents needs a type: a record a plain Kafka producer wrote has none of Stele's.
        type = event.type.flatMap { $0.isEmpty ? nil : $0 } ?? "kafka.record"
        source = "/streams/\(event.stream.category)"
        subject = event.stream.id
        time = ISO8601Milliseconds.format(event.appendedAt.epochMilliseconds)
        stelestream = event.stream.description
        steleversion = event.version
        steleposition = event.position.description
        steleschemaversion = event.schemaVersion
        let parsed = JSONValue.parse(event.data)
        if !base64, let parsed {
            datacontenttype = "application/json"
            data = parsed
        } else {
            datacontenttype = parsed != nil ? "application/json" : "application/octet-stream"
            data_base64 = Data(event.data).base64EncodedString()
        }
        steleoccurredat = event.metadata.occurredAt.map { ISO8601Milliseconds.format($0.epochMilliseconds) }
        stelecorrelationid = event.metadata.correlationId
        stelecausationid = event.metadata.causationId
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "specversion": .string(specversion), "id": .string(id), "type": .string(type), "source": .string(source),
            "subject": .string(subject), "time": .string(time), "datacontenttype": .string(datacontenttype),
            "stelestream": .string(stelestream), "steleversion": .integer(steleversion), "steleposition": .string(steleposition),
            "steleschemaversion": .integer(Int64(steleschemaversion)),
        ]
        if let data { members["data"] = data }
        if let data_base64 { members["data_base64"] = .string(data_base64) }
        if let steleoccurredat { members["steleoccurredat"] = .string(steleoccurredat) }
        if let stelecorrelationid { members["stelecorrelationid"] = .string(stelecorrelationid) }
        if let stelecausationid { members["stelecausationid"] = .string(stelecausationid) }
        return .object(members)
    }

    /// The event a client reads back; the payload must have come as `data_base64` (ask with
    /// `dataEncoding=base64`) to be byte for byte.
    public func recorded() throws -> RecordedEvent {
        guard let slash = stelestream.firstIndex(of: "/") else { throw EventStoreError.storage("unreadable stream \(stelestream)") }
        let stream = StreamName(category: String(stelestream[..<slash]), id: String(stelestream[stelestream.index(after: slash)...]))
        guard let position = EventPosition(parsing: steleposition) else { throw EventStoreError.storage("unreadable position \(steleposition)") }
        guard let appendedAt = ISO8601Milliseconds.parse(time) else { throw EventStoreError.storage("unreadable time \(time)") }
        guard let payload = Data(base64Encoded: data_base64 ?? "") else { throw EventStoreError.storage("event \(stream)@\(steleversion) has no data_base64") }
        return RecordedEvent(
            stream: stream, version: steleversion, position: position, id: UUID(uuidString: id), type: type.isEmpty ? nil : type,
            schemaVersion: steleschemaversion, data: Array(payload), appendedAt: appendedAt,
            metadata: EventMetadata(correlationId: stelecorrelationid, causationId: stelecausationid,
                                    occurredAt: steleoccurredat.flatMap(ISO8601Milliseconds.parse)))
    }
}

/// An event to append (`POST /streams/{category}/{id}`). The payload is `data` (JSON) or
/// `data_base64` (bytes); `occurredAt` is ISO 8601 or epoch milliseconds.
public struct EventJSONIn: Codable, Sendable, Equatable {
    public var id: String?
    public var type: String
    public var schemaVersion: Int?
    public var data: JSONValue?
    public var data_base64: String?
    public var correlationId: String?
    public var causationId: String?
    public var occurredAt: String?

    /// An event of `type` with no payload; set the other members as needed.
    public init(type: String) { self.type = type }

    /// The event byte for byte (its payload base64-encoded), as the remote store sends it.
    public init(_ event: EventData) {
        id = event.id.uuidString.lowercased()
        type = event.type
        schemaVersion = event.schemaVersion
        data_base64 = Data(event.data).base64EncodedString()
        correlationId = event.metadata.correlationId
        causationId = event.metadata.causationId
        occurredAt = event.metadata.occurredAt.map { String($0.epochMilliseconds) }
    }
}

/// One stream's part of `POST /streams` (a multi-stream append).
public struct StreamAppendJSON: Codable, Sendable, Equatable {
    public var category: String
    public var id: String
    /// `any`, `no-stream`, `stream-exists` or a version, as the `Stele-Expected-Version` header
    /// (absent: `any`).
    public var expectedVersion: String?
    public var events: [EventJSONIn]

    public init(category: String, id: String, expectedVersion: String?, events: [EventJSONIn]) {
        (self.category, self.id, self.expectedVersion, self.events) = (category, id, expectedVersion, events)
    }
}

/// The body of `POST /streams`.
public struct MultiAppendJSON: Codable, Sendable, Equatable {
    public var appends: [StreamAppendJSON]
    public init(appends: [StreamAppendJSON]) { self.appends = appends }
}

/// What `POST /streams` answers: one outcome per part, in the request's order.
public struct AppendOutcomesJSON: Codable, Sendable, Equatable {
    public var outcomes: [AppendOutcomeJSON]
    public init(outcomes: [AppendOutcomeJSON]) { self.outcomes = outcomes }
}

/// What an append answers: the versions the events got and where the first one is.
public struct AppendOutcomeJSON: Codable, Sendable, Equatable {
    public var stream: String
    public var firstVersion: Int64
    public var lastVersion: Int64
    public var position: String
    public var alreadyAppended: Bool

    public init(stream: StreamName, _ outcome: AppendOutcome) {
        self.stream = stream.description
        firstVersion = outcome.firstVersion
        lastVersion = outcome.lastVersion
        position = outcome.firstPosition.description
        alreadyAppended = outcome.wasAlreadyAppended
    }

    public var json: JSONValue {
        .object(["stream": .string(stream), "firstVersion": .integer(firstVersion), "lastVersion": .integer(lastVersion),
                 "position": .string(position), "alreadyAppended": .bool(alreadyAppended)])
    }
}

/// A page of a stream; `next` is the version to continue from, absent on the last page.
public struct EventPageJSON: Codable, Sendable, Equatable {
    public var events: [CloudEventJSON]
    public var next: Int64?

    public init(events: [CloudEventJSON], next: Int64?) { (self.events, self.next) = (events, next) }

    public var json: JSONValue {
        var members: [String: JSONValue] = ["events": .array(events.map(\.json))]
        if let next { members["next"] = .integer(next) }
        return .object(members)
    }
}

/// A page of a category; `next` is the position to continue from (`after=`).
public struct CategoryPageJSON: Codable, Sendable, Equatable {
    public var events: [CloudEventJSON]
    public var next: String

    public init(events: [CloudEventJSON], next: String) { (self.events, self.next) = (events, next) }

    public var json: JSONValue { .object(["events": .array(events.map(\.json)), "next": .string(next)]) }
}

/// A category's end: the position after its last event.
public struct CategoryEndJSON: Codable, Sendable, Equatable {
    public var category: String
    public var end: String
    public init(category: String, end: String) { (self.category, self.end) = (category, end) }
    public var json: JSONValue { .object(["category": .string(category), "end": .string(end)]) }
}

/// The store's generation: changes when the data behind it was replaced (positions restart).
public struct GenerationJSON: Codable, Sendable, Equatable {
    public var generation: String
    public init(generation: String) { self.generation = generation }
    public var json: JSONValue { .object(["generation": .string(generation)]) }
}

/// A snapshot of a stream's state. The server answers with `stream`, `name` and `takenAt` in
/// ISO 8601; a client storing one sends `takenAt` as epoch milliseconds or ISO 8601.
public struct SnapshotJSON: Codable, Sendable, Equatable {
    public var stream: String?
    public var name: String?
    public var version: Int64
    public var schemaVersion: Int
    public var state_base64: String
    public var takenAt: String

    /// What a client sends to store `snapshot`.
    public init(storing snapshot: Snapshot) {
        version = snapshot.version
        schemaVersion = snapshot.schemaVersion
        state_base64 = Data(snapshot.state).base64EncodedString()
        takenAt = String(snapshot.takenAt.epochMilliseconds)
    }

    /// What the server answers for `snapshot`.
    public init(_ snapshot: Snapshot) {
        stream = snapshot.stream.description
        name = snapshot.name
        version = snapshot.version
        schemaVersion = snapshot.schemaVersion
        state_base64 = Data(snapshot.state).base64EncodedString()
        takenAt = ISO8601Milliseconds.format(snapshot.takenAt.epochMilliseconds)
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = ["version": .integer(version), "schemaVersion": .integer(Int64(schemaVersion)),
                                            "state_base64": .string(state_base64), "takenAt": .string(takenAt)]
        if let stream { members["stream"] = .string(stream) }
        if let name { members["name"] = .string(name) }
        return .object(members)
    }

    public func snapshot(of stream: StreamName, name: String) throws -> Snapshot {
        let taken = ISO8601Milliseconds.parse(takenAt) ?? Int64(takenAt).map { Date(timeIntervalSince1970: Double($0) / 1000) }
        guard let state = Data(base64Encoded: state_base64), let taken else {
            throw EventStoreError.storage("unreadable snapshot of \(stream)")
        }
        return Snapshot(stream: stream, name: name, version: version, schemaVersion: schemaVersion, state: Array(state), takenAt: taken)
    }
}

/// An RFC 9457 problem, with the members Stele adds to conflicts (`stream`, `expected`,
/// `actual`, `reason`).
public struct ProblemJSON: Codable, Sendable, Equatable {
    /// Stele always writes `type` and `status`; RFC 9457 lets other servers (a proxy) leave
    /// them out, and a client must still read their title and detail.
    public var type: String?
    public var title: String
    public var status: Int?
    public var detail: String?
    public var stream: String?
    public var expected: JSONValue?
    public var actual: Int64?
    public var reason: String?

    public init(title: String, status: Int, detail: String? = nil) {
        (self.type, self.title, self.status, self.detail) = ("about:blank", title, status, detail)
    }
}

extension EventPosition {
    /// `partition:offset` or `partition:transaction/offset`, as ``description`` prints it (the
    /// same grammar as one partition of a checkpoint, whose number means "next to read").
    public init?(parsing text: String) {
        guard let parsed = CategoryCheckpoint(text), let (partition, offset) = parsed.nextOffsets.first, parsed.nextOffsets.count == 1 else { return nil }
        self.init(partition: partition, offset: offset, transaction: parsed.transaction(in: partition))
    }
}
