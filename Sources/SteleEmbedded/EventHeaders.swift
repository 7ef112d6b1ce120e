import Foundation
import SteleCore
import SteleStore

/// How an event's attributes travel as Kafka record headers, so Kafka clients can read and
/// write events too. The stream version is not a header: it is the record's rank in its stream.
enum EventHeaders {
    static let id = "stele.id"
    static let type = "stele.type"
    static let schemaVersion = "stele.schema-version"
    /// What `stele.schema-version` was called before the vocabulary was made one; records are
    /// immutable, so events written under it are read under it for ever (and it is still
    /// written beside the new name, for readers that know only it).
    static let legacySchemaVersion = "stele.schema"
    /// Milliseconds since the Unix epoch, ASCII decimal.
    static let occurredAt = "stele.occurred-at"
    static let correlationId = "stele.correlation-id"
    static let causationId = "stele.causation-id"

    static func encode(_ event: EventData) -> [RecordHeader] {
        var headers = [
            RecordHeader(key: id, value: Array(event.id.uuidString.lowercased().utf8)),
            RecordHeader(key: type, value: Array(event.type.utf8)),
        ]
        if event.schemaVersion != 1 {
            let value = Array(String(event.schemaVersion).utf8)
            headers.append(RecordHeader(key: schemaVersion, value: value))
            // Also under the earlier name, so a Stele from before the rename (after a
            // downgrade) and Kafka consumers that read it do not take the event for version 1.
            headers.append(RecordHeader(key: legacySchemaVersion, value: value))
        }
        if let time = event.metadata.occurredAt {
            headers.append(RecordHeader(key: occurredAt, value: Array(String(time.epochMilliseconds).utf8)))
        }
        if let value = event.metadata.correlationId { headers.append(RecordHeader(key: correlationId, value: Array(value.utf8))) }
        if let value = event.metadata.causationId { headers.append(RecordHeader(key: causationId, value: Array(value.utf8))) }
        return headers
    }

    /// The event a stored record holds. Unknown headers are ignored; malformed Stele headers
    /// read as absent rather than failing the read, since a Kafka producer may have written them.
    static func decode(stream: StreamName, version: Int64, position: EventPosition, timestamp: Int64,
                       value: [UInt8]?, headers: [RecordHeader]) -> RecordedEvent {
        var event = RecordedEvent(stream: stream, version: version, position: position, id: nil, type: nil, schemaVersion: 1,
                                  data: value ?? [], appendedAt: Date(epochMilliseconds: timestamp), metadata: EventMetadata())
        for header in headers {
            guard let bytes = header.value else { continue }
            var text: String { String(decoding: bytes, as: UTF8.self) }
            switch header.key {
            case id: event.id = parseUUID(bytes)
            case type: event.type = text
            case schemaVersion, legacySchemaVersion: event.schemaVersion = Int(text) ?? 1
            case occurredAt: event.metadata.occurredAt = Int64(text).map(Date.init(epochMilliseconds:))
            case correlationId: event.metadata.correlationId = text
            case causationId: event.metadata.causationId = text
            default: break
            }
        }
        return event
    }

    /// Parses the 36-character text form of a UUID. Foundation's `UUID(uuidString:)` goes
    /// through `sscanf`, which took a fifth of a stream load's time.
    static func parseUUID(_ text: [UInt8]) -> UUID? {
        guard text.count == 36 else { return nil }
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = text.withUnsafeBufferPointer { chars in
            withUnsafeMutableBytes(of: &value) { raw -> Bool in
                var byte = 0
                var index = 0
                while index < 36 {
                    if index == 8 || index == 13 || index == 18 || index == 23 {
                        guard chars[index] == UInt8(ascii: "-") else { return false }
                        index += 1
                        continue
                    }
                    guard let high = hexValue(chars[index]), let low = hexValue(chars[index + 1]) else { return false }
                    raw[byte] = high << 4 | low
                    byte += 1
                    index += 2
                }
                return true
            }
        }
        return parsed ? UUID(uuid: value) : nil
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension StreamName {
    /// The stream's record key in its category's topic: the id's UTF-8 bytes (the category is
    /// the topic), so a Kafka client's keyed record lands in the stream of that id.
    var key: [UInt8] { Array(id.utf8) }
}
