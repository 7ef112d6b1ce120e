import Foundation
import Synchronization
import NIOCore
import Testing
import SteleBroker
import SteleCore
import SteleKafkaProtocol
@testable import SteleServer

/// Incremental fetch sessions (KIP-227) and Fetch v12–13 over real sockets: a session is made,
/// incremental fetches carry only what changed, stale epochs and unknown sessions are refused,
/// forgotten partitions leave the session, and v13 names topics by id.
@Suite("Fetch sessions (KIP-227) and topic ids")
struct FetchSessionTests {
    typealias Harness = KafkaServerTests.Harness
    typealias RawConnection = KafkaServerTests.RawConnection

    struct Fetched {
        var errorCode: Int16
        var sessionId: Int32
        /// (topic name or hex id, partition) → (error, high watermark, record bytes)
        var partitions: [String: (error: Int16, highWatermark: Int64, bytes: Int)]
    }

    static func produce(_ connection: RawConnection, topic: String, partition: Int32, value: String) async throws {
        try await connection.send(RequestFrame.encode(api: .produce, version: 7, correlationId: 1, clientId: "test") { encoder in
            encoder.nullableString(nil); encoder.int16(-1); encoder.int32(10_000)
            encoder.array([topic]) { encoder, name in
                encoder.string(name)
                encoder.array([partition]) { encoder, index in
                    encoder.int32(index)
                    encoder.nullableBytes(KafkaServerTests.batch(value))
                }
            }
        })
        _ = try await connection.receive()
    }

    /// A Fetch v12 (names) or v13 (ids) with the session fields and what it adds or forgets.
    static func fetch(_ connection: RawConnection, version: Int16 = 12, session: Int32, epoch: Int32,
                      topic: (name: String, id: [UInt8]), partitions: [(Int32, Int64)], forgotten: [Int32] = []) async throws -> Fetched {
        try await connection.send(RequestFrame.encode(api: .fetch, version: version, correlationId: 7, clientId: "test") { encoder in
            encoder.int32(-1); encoder.int32(0); encoder.int32(0); encoder.int32(1 << 20); encoder.int8(0)
            encoder.int32(session); encoder.int32(epoch)
            encoder.array(partitions.isEmpty ? [] : [topic]) { encoder, topic in
                if version >= 13 { encoder.uuid(topic.id) } else { encoder.string(topic.name) }
                encoder.array(partitions) { encoder, partition in
                    encoder.int32(partition.0); encoder.int32(-1); encoder.int64(partition.1); encoder.int32(-1)
                    encoder.int64(-1); encoder.int32(1 << 20); encoder.taggedFields()
                }
                encoder.taggedFields()
            }
            encoder.array(forgotten.isEmpty ? [] : [topic]) { encoder, topic in
                if version >= 13 { encoder.uuid(topic.id) } else { encoder.string(topic.name) }
                encoder.array(forgotten) { $0.int32($1) }
                encoder.taggedFields()
            }
            encoder.string("")
            encoder.taggedFields()
        })
        let frame = try #require(try await connection.receive())
        var decoder = KafkaDecoder(frame, flexible: true)
        _ = try decoder.int32("correlation id")
        try decoder.taggedFields()
        _ = try decoder.int32("throttle")
        var fetched = Fetched(errorCode: try decoder.int16("error"), sessionId: try decoder.int32("session id"), partitions: [:])
        _ = try decoder.array("topics") { decoder in
            let name = version >= 13 ? (try decoder.uuid("id")).map { String(format: "%02x", $0) }.joined() : try decoder.string("name")
            _ = try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                let error = try decoder.int16("error")
                let highWatermark = try decoder.int64("hw")
                _ = try decoder.int64("lso"); _ = try decoder.int64("log start")
                _ = try decoder.nullableArray("aborted") { _ = try $0.int64("p"); _ = try $0.int64("o"); try $0.taggedFields() }
                _ = try decoder.int32("preferred replica")
                let bytes = try decoder.nullableBytes("records")?.readableBytes ?? 0
                try decoder.taggedFields()
                fetched.partitions["\(name)/\(partition)"] = (error, highWatermark, bytes)
            }
            try decoder.taggedFields()
        }
        try decoder.taggedFields()
        #expect(decoder.remaining == 0)
        return fetched
    }

    @Test func incrementalFetchesCarryOnlyWhatChanged() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("s", partitions: 2)
        let connection = try await RawConnection(port: harness.server.port)
        let topic = (name: "s", id: [UInt8](repeating: 0, count: 16))
        try await Self.produce(connection, topic: "s", partition: 0, value: "a")

        // A new session: the full answer carries both partitions.
        let full = try await Self.fetch(connection, session: 0, epoch: 0, topic: topic, partitions: [(0, 0), (1, 0)])
        #expect(full.errorCode == 0 && full.sessionId != 0)
        #expect(full.partitions["s/0"]?.bytes ?? 0 > 0 && full.partitions["s/1"]?.bytes == 0)
        let session = full.sessionId

        // The consumer moves past the record: nothing new anywhere, an empty answer.
        let quiet = try await Self.fetch(connection, session: session, epoch: 1, topic: topic, partitions: [(0, 1)])
        #expect(quiet.errorCode == 0 && quiet.sessionId == session && quiet.partitions.isEmpty)

        // A record on partition 1, which the consumer did not mention again: carried alone.
        try await Self.produce(connection, topic: "s", partition: 1, value: "b")
        let news = try await Self.fetch(connection, session: session, epoch: 2, topic: topic, partitions: [])
        #expect(Set(news.partitions.keys) == ["s/1"] && news.partitions["s/1"]!.bytes > 0 && news.partitions["s/1"]!.highWatermark == 1)

        // The same epoch again, and a session that does not exist: refused, nothing read.
        let stale = try await Self.fetch(connection, session: session, epoch: 2, topic: topic, partitions: [])
        #expect(stale.errorCode == KafkaErrorCode.invalidFetchSessionEpoch.rawValue && stale.partitions.isEmpty)
        let unknown = try await Self.fetch(connection, session: session &+ 1, epoch: 1, topic: topic, partitions: [])
        #expect(unknown.errorCode == KafkaErrorCode.fetchSessionIdNotFound.rawValue)

        // Partition 1 forgotten: its new records no longer come.
        _ = try await Self.fetch(connection, session: session, epoch: 3, topic: topic, partitions: [(1, 1)], forgotten: [1])
        try await Self.produce(connection, topic: "s", partition: 1, value: "c")
        let forgotten = try await Self.fetch(connection, session: session, epoch: 4, topic: topic, partitions: [])
        #expect(forgotten.partitions["s/1"] == nil)

        // Closing the session (epoch -1): a sessionless full answer.
        let closed = try await Self.fetch(connection, session: session, epoch: -1, topic: topic, partitions: [(0, 0), (1, 0)])
        #expect(closed.sessionId == 0 && closed.partitions.count == 2)
        #expect(harness.broker.fetchSessions.count == 0)
        try await harness.stop()
    }

    @Test func v13NamesTopicsById() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("ids")
        let connection = try await RawConnection(port: harness.server.port)
        try await Self.produce(connection, topic: "ids", partition: 0, value: "x")
        let id = try #require(harness.broker.topic("ids")?.config.topicId)
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let known = try await Self.fetch(connection, version: 13, session: 0, epoch: -1, topic: ("", bytes), partitions: [(0, 0)])
        #expect(known.partitions["\(hex)/0"]?.bytes ?? 0 > 0 && known.partitions["\(hex)/0"]?.error == 0)
        let stranger = [UInt8](repeating: 7, count: 16)
        let unknown = try await Self.fetch(connection, version: 13, session: 0, epoch: -1, topic: ("", stranger), partitions: [(0, 0)])
        #expect(unknown.partitions["\(String(repeating: "07", count: 16))/0"]?.error == KafkaErrorCode.unknownTopicId.rawValue)
        try await harness.stop()
    }
}

/// The session cache alone, with time passed in: bounded, owned, evicting only idle sessions.
@Suite("Fetch session cache")
struct FetchSessionCacheTests {
    static func request(session: Int32 = 0, epoch: Int32 = 0, partitions: [Int32] = [0]) -> FetchSessionRequest {
        FetchSessionRequest(sessionId: session, epoch: epoch,
                            partitions: partitions.map { (TopicPartition(topic: "t", partition: $0), FetchSessionEntry(fetchOffset: 0, maxBytes: 100, topicId: nil)) },
                            forgotten: [])
    }

    static func id(_ plan: FetchSessionPlan) -> Int32 {
        if case let .full(id) = plan { return id }
        return -1
    }

    @Test func theCacheIsBoundedAndEvictsOnlyIdleSessions() {
        let sessions = FetchSessions(capacity: 2, maxPartitions: 3, evictionIdleMs: 1_000, clock: { 0 })
        let a = Self.id(sessions.begin(Self.request(), owner: "User:a"))
        let b = Self.id(sessions.begin(Self.request(), owner: "User:b"))
        #expect(a > 0 && b > 0 && a != b)
        // Full, and nobody idle long enough: the third consumer fetches without a session.
        #expect(Self.id(sessions.begin(Self.request(), owner: "User:c")) == 0)
        // Too many partitions for one session: sessionless too.
        #expect(Self.id(sessions.begin(Self.request(partitions: [0, 1, 2, 3]), owner: "User:a")) == 0)
        // Another principal cannot use a's session.
        guard case .sessionNotFound = sessions.begin(Self.request(session: a, epoch: 1), owner: "User:b") else {
            Issue.record("a session answered another principal"); return
        }
        guard case .incremental = sessions.begin(Self.request(session: a, epoch: 1), owner: "User:a") else {
            Issue.record("the owner's incremental fetch was refused"); return
        }
    }

    @Test func anIdleSessionMakesRoom() {
        let now = Mutex<Int64>(0)
        let sessions = FetchSessions(capacity: 1, maxPartitions: 10, evictionIdleMs: 1_000, clock: { now.withLock { $0 } })
        let first = Self.id(sessions.begin(Self.request(), owner: "User:a"))
        now.withLock { $0 = 1_000 }
        let second = Self.id(sessions.begin(Self.request(), owner: "User:b"))
        #expect(first > 0 && second > 0 && second != first && sessions.count == 1)
        guard case .sessionNotFound = sessions.begin(Self.request(session: first, epoch: 1), owner: "User:a") else {
            Issue.record("an evicted session answered"); return
        }
    }
}
