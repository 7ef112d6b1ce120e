import Foundation
import Testing
import SteleWire
import SteleStore
@testable import SteleHTTP

/// Times clients send (`occurredAt`, `asOf`, snapshot times, processors' time columns) are read by
/// `ISO8601Milliseconds.parseInternetTime`, by hand: Foundation's `ISO8601DateFormatter` goes
/// through ICU on Linux, which dies of a division fault on a fraction of ten or more digits (the
/// HTTP fuzz target found it with one request body).
struct InternetTimeTests {
    @Test func everyMillisecondTheServerWritesReadsBack() {
        var generator = SystemRandomNumberGenerator()
        let first: Int64 = -62_135_596_800_000, last: Int64 = 253_402_300_799_999  // 0001-01-01 … 9999-12-31
        for _ in 0..<20_000 {
            let milliseconds = Int64.random(in: first...last, using: &generator)
            let text = ISO8601Milliseconds.format(milliseconds)
            #expect(ISO8601Milliseconds.parseInternetTime(text) == milliseconds, "\(text)")
        }
        for day in ["1970-01-01", "2000-02-29", "2024-02-29", "1900-02-28", "0001-01-01", "9999-12-31"] {
            let text = day + "T00:00:00.000Z"
            #expect(ISO8601Milliseconds.parseInternetTime(text) == ISO8601Milliseconds.parse(text)?.epochMilliseconds, "\(text)")
        }
    }

    @Test(arguments: [
        ("2026-11-23T10:15:00Z", 1_795_428_900_000),
        ("2026-11-23t10:15:00z", 1_795_428_900_000),
        ("2026-11-23T10:15:00.1Z", 1_795_428_900_100),
        ("2026-11-23T10:15:00.123456789Z", 1_795_428_900_123),
        ("2026-11-23T10:15:00.99999999999999999999999999Z", 1_795_428_900_999),
        ("2026-11-23T11:15:00+01:00", 1_795_428_900_000),
        ("2026-11-23T04:45:00.5-0530", 1_795_428_900_500),
        ("2026-11-23T10:15:60Z", 1_795_428_960_000),
    ] as [(String, Int64)])
    func timesClientsWriteAreRead(text: String, milliseconds: Int64) {
        #expect(ISO8601Milliseconds.parseInternetTime(text) == milliseconds)
        // Foundation's own parser (not ICU's) agrees where it reads the text at all.
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: text.contains(".")).parse(text), !text.contains(":60") {
            #expect(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) == milliseconds || text.count > 30)
        }
    }

    @Test(arguments: [
        "", "2026-11-23", "2026-11-23T10:15:00", "2026-11-23T10:15:00.Z", "2026-11-23T10:15Z", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "0000-01-01T00:00:00Z", "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z", "2026-11-23T10:15:61Z", "2026-11-23T10:15:00+1:00", "2026-11-23T10:15:00+24:00",
        "2026-11-23T10:15:00+01:60", "2026-11-23T10:15:00Zjunk", "2026-11-23 10:15:00Z", "+2026-11-23T10:15:00Z",
        "2026-11-23T10:15:00.1234567890123456789012345678901234567890123456789012345Z", "２０２６-11-23T10:15:00Z",
    ])
    func malformedTimesAreRefused(text: String) {
        #expect(ISO8601Milliseconds.parseInternetTime(text) == nil)
        #expect(StreamRoutes.parseTime(text) == nil)
    }

    /// A Kafka producer chooses its timestamps: an event whose times are Int64's last
    /// millisecond (2^63 once it has been a `Date`) is served, not a trap in every reader.
    @Test func timesAtTheEndsOfInt64AreServed() async throws {
        let server = try await LiveServer.start()
        for (id, milliseconds) in [("late", Int64.max), ("early", Int64.min)] {
            let stream = StreamName(category: "accounts", id: id)
            try await server.store.append([EventData(type: "A", data: Array("1".utf8),
                                                     metadata: EventMetadata(occurredAt: Date(epochMilliseconds: milliseconds)))], to: stream)
            let (status, body) = try await server.call("GET", "/streams/accounts/\(id)")
            #expect(status == 200 && body["events"]?.array.count == 1, "\(body)")
            let (category, _) = try await server.call("GET", "/categories/accounts/events")
            #expect(category == 200)
        }
        #expect(Date(epochMilliseconds: .max).epochMilliseconds == .max && Date(epochMilliseconds: .min).epochMilliseconds == .min)
        try await server.stop()
    }

    /// A backward read from a version far past the stream's end starts at its end (it walked
    /// back a page at a time from 2^63 - 1: a request that never ended).
    @Test func aBackwardReadFromFarPastTheEndStartsAtTheEnd() async throws {
        let server = try await LiveServer.start()
        _ = try await server.call("POST", "/streams/accounts/b", body: #"[{"type":"A","data":1},{"type":"A","data":2}]"#)
        for path in ["/streams/accounts/b?asOf=0&direction=backward&from=9223372036854775807",
                     "/streams/accounts/nobody?asOf=0&direction=backward&from=9223372036854775807",
                     "/streams/accounts/b?direction=backward&from=9223372036854775807"] {
            let (status, body) = try await server.call("GET", path)
            #expect(status == 200, "\(path): \(body)")
        }
        let (_, body) = try await server.call("GET", "/streams/accounts/b?direction=backward&from=9223372036854775807")
        #expect(body["events"]?.array.map { $0["steleversion"] } == [.integer(1), .integer(0)])
        try await server.stop()
    }

    /// An event type cannot write SSE fields of its own: CR and LF are dropped scalar by
    /// scalar ("\r\n" is one Character, and passed a Character filter).
    @Test func anEventTypeCannotForgeServerSentEventFields() throws {
        let event = RecordedEvent(stream: StreamName(category: "c", id: "s"), version: 0, position: EventPosition(partition: 0, offset: 0, transaction: 0),
                                  id: UUID(), type: "x\r\nid: 0:999999999\r\ndata: {\"forged\":1}\r\n\r\nevent: y\rz\nw", schemaVersion: 1,
                                  data: Array("{}".utf8), appendedAt: Date(), metadata: EventMetadata())
        let message = SubscriptionRoutes.message(id: "0:1", event)
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 5 && lines[0] == "id: 0:1" && lines[1].hasPrefix("event: x") && lines[2].hasPrefix("data: ") && lines[3].isEmpty && lines[4].isEmpty, "\(lines)")
        #expect(!message.unicodeScalars.contains("\r"))
    }

    /// The body the fuzzer found, and its like: answered, and the server goes on.
    @Test func aLongFractionIsAnsweredAndTheServerGoesOn() async throws {
        let server = try await LiveServer.start()
        for digits in [9, 10, 12, 20, 40] {
            let time = "2026-11-23T10:15:00." + String(repeating: "9", count: digits) + "Z"
            let (status, body) = try await server.call("POST", "/streams/accounts/a",
                                                       body: #"{"type":"A","data":1,"occurredAt":"\#(time)"}"#)
            #expect(status == 201, "\(body)")
            let (read, _) = try await server.call("GET", "/streams/accounts/a?asOf=\(time)")
            #expect(read == 200)
        }
        let (status, body) = try await server.call("GET", "/streams/accounts/a")
        #expect(status == 200 && body["events"]?.array.count == 5)
        #expect(body["events"]?.array.first?["steleoccurredat"] == .string("2026-11-23T10:15:00.999Z"))
        try await server.stop()
    }
}
