import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SteleStore

// The JSON shapes of Stele's HTTP API, as docs/openapi.json describes them.

/// An event to append: payload base64-encoded so it arrives byte for byte.
struct WireEventIn: Encodable {
    var id: String
    var type: String
    var schemaVersion: Int
    var data_base64: String
    var correlationId: String?
    var causationId: String?
    var occurredAt: String?

    init(_ event: EventData) {
        id = event.id.uuidString.lowercased()
        type = event.type
        schemaVersion = event.schemaVersion
        data_base64 = Data(event.data).base64EncodedString()
        correlationId = event.metadata.correlationId
        causationId = event.metadata.causationId
        occurredAt = event.metadata.occurredAt.map { String(Int64(($0.timeIntervalSince1970 * 1000).rounded())) }
    }
}

struct WireAppendOutcome: Decodable {
    var firstVersion: Int64
    var lastVersion: Int64
    var position: String
    var alreadyAppended: Bool
}

/// An event in CloudEvents JSON with Stele's extension attributes.
struct WireCloudEvent: Decodable {
    var id: String
    var type: String
    var time: String
    var data_base64: String?
    var stelestream: String
    var steleversion: Int64
    var steleposition: String
    var steleschemaversion: Int?
    var steleoccurredat: String?
    var stelecorrelationid: String?
    var stelecausationid: String?

    func recorded() throws -> RecordedEvent {
        guard let slash = stelestream.firstIndex(of: "/") else { throw EventStoreError.storage("unreadable stream \(stelestream)") }
        let stream = StreamID(category: String(stelestream[..<slash]), id: String(stelestream[stelestream.index(after: slash)...]))
        guard let position = EventPosition(parsing: steleposition) else { throw EventStoreError.storage("unreadable position \(steleposition)") }
        guard let appendedAt = Self.date(time) else { throw EventStoreError.storage("unreadable time \(time)") }
        guard let payload = Data(base64Encoded: data_base64 ?? "") else { throw EventStoreError.storage("event \(stream)@\(steleversion) has no data_base64") }
        return RecordedEvent(
            stream: stream, version: steleversion, position: position, id: UUID(uuidString: id), type: type.isEmpty ? nil : type,
            schemaVersion: steleschemaversion ?? 1, data: Array(payload), appendedAt: appendedAt,
            metadata: EventMetadata(correlationId: stelecorrelationid, causationId: stelecausationid, occurredAt: steleoccurredat.flatMap(Self.date)))
    }

    /// `2026-11-23T10:15:00.123Z`, the one shape the server writes times in. Read by hand: it is
    /// done for every event a remote read returns, and a date formatter per event costs more
    /// than the rest of the decoding.
    static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 24, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84, bytes[13] == 58, bytes[16] == 58,
              bytes[19] == 46, bytes[23] == 90 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19), let millisecond = number(20..<23),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        return Date(timeIntervalSince1970: Double(Int64(seconds) * 1000 + Int64(millisecond)) / 1000)
    }
}

struct WireEventPage: Decodable {
    var events: [WireCloudEvent]
}

struct WireCategoryPage: Decodable {
    var events: [WireCloudEvent]
    var next: String
}

struct WireCategoryEnd: Decodable {
    var end: String
}

struct WireGeneration: Decodable {
    var generation: String
}

struct WireSnapshot: Codable {
    var version: Int64
    var schemaVersion: Int
    var state_base64: String
    var takenAt: String

    init(_ snapshot: Snapshot) {
        version = snapshot.version
        schemaVersion = snapshot.schemaVersion
        state_base64 = Data(snapshot.state).base64EncodedString()
        takenAt = String(Int64((snapshot.takenAt.timeIntervalSince1970 * 1000).rounded()))
    }

    func snapshot(of stream: StreamID, name: String) throws -> Snapshot {
        guard let state = Data(base64Encoded: state_base64), let taken = WireCloudEvent.date(takenAt) else {
            throw EventStoreError.storage("unreadable snapshot of \(stream)")
        }
        return Snapshot(stream: stream, name: name, version: version, schemaVersion: schemaVersion, state: Array(state), takenAt: taken)
    }
}

/// RFC 9457 problem details, with the members Stele adds to conflicts.
struct WireProblem: Decodable {
    var title: String?
    var detail: String?
    var actual: Int64?
    var reason: String?
}
