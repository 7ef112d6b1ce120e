import Foundation
import Testing
import NIOCore
import NIOPosix
import SteleBroker
import SteleKafkaProtocol
import SteleTestSupport
@testable import SteleServer

/// Bytes of requests in memory are bounded over all connections (Kafka
/// `queued.max.request.bytes`): a full pool stops every socket read until requests are answered
/// or connections end, and a connection is charged for what it sent, not what it announced.
extension KafkaServerTests {
    @Test func requestBytesInMemoryAreBoundedOverAllConnections() async throws {
        let capacity = 64 << 10
        // The stalled request must stay stalled however slow the machine: no receive deadline.
        let harness = try await Harness { $0.queuedMaxRequestBytes = capacity; $0.requestReceiveTimeout = .seconds(3600) }
        let memory = harness.server.requestMemory
        // A client announces a 900 KiB request (the pool holds 64 KiB) and sends 400 KiB of it.
        let hog = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: harness.server.port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        var partial = ByteBuffer()
        partial.writeInteger(Int32(900 << 10))
        partial.writeRepeatingByte(0, count: 400 << 10)
        try await hog.outbound.write(partial)
        // Reserved whole when its size arrived, as Kafka allocates the buffer then.
        try await waitUntil("the hog's request to be reserved") { memory.used == (900 << 10) + 4 }
        // Another client's small request now waits: its socket is not read while the pool is full.
        let other = try await RawConnection(port: harness.server.port)
        try await other.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 9, clientId: "test") { _ in })
        try await waitUntil("the second connection to wait for memory") { memory.waiting >= 1 }
        #expect(memory.used == (900 << 10) + 4, "nothing of the waiting request was reserved")
        // The hog goes away: its bytes come back and the waiting read resumes.
        hog.outbound.finish()
        try await hog.channel.close()
        var response = try #require(try await withHangLimit("the waiting request to be answered") { try await other.receive() })
        #expect(response.readInteger(as: Int32.self) == 9)
        // And the connection goes on being read: its next request is answered too (found by
        // review: a read held for a reservation the answered request cancelled waited for good).
        try await other.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 10, clientId: "test") { _ in })
        var second = try #require(try await withHangLimit("the next request to be answered") { try await other.receive() })
        #expect(second.readInteger(as: Int32.self) == 10)
        try await waitUntil("every request byte to be given back") { memory.used == 0 }
        try await harness.stop()
    }

    @Test func thePoolGrantsWhileUnderCapacityAndResumesEveryoneWhenRoomComes() {
        let pool = RequestMemoryPool(capacity: 100)
        #expect(pool.admitRead { Issue.record("an admitted read never waits") })
        // Under capacity a reservation is granted even past it (a request larger than the pool
        // gets through alone); then reads and reservations wait.
        #expect(pool.reserve(150) { Issue.record("granted at once") })
        let resumed = Counter()
        #expect(!pool.admitRead { resumed.add() })
        #expect(!pool.reserve(10) { resumed.add() })
        #expect(pool.waiting == 2)
        pool.release(40)
        #expect(resumed.value == 0, "still at or over capacity")
        pool.release(20)
        #expect(resumed.value == 2 && pool.waiting == 0 && pool.used == 90)
        #expect(pool.admitRead { Issue.record("room again") })
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

extension KafkaServerTests {
    /// A client asking for 2 GiB in one fetch gets at most `fetchMaxBytes` (plus the one batch
    /// KIP-74 always lets through), however much the partition holds.
    @Test func aFetchCarriesAtMostTheBrokersCap() async throws {
        let harness = try await Harness { $0.fetchMaxBytes = 256 << 10 }
        let log = try await harness.broker.partition("big", 0, autoCreate: true)
        let value = String(repeating: "x", count: 60 << 10)
        for _ in 0..<32 { _ = try await log.append(Self.batch(value)) }   // about 2 MiB
        let connection = try await RawConnection(port: harness.server.port)
        try await connection.send(Self.fetchFrame(topic: "big", correlation: 1, offset: 0, maxWaitMs: 0, minBytes: 1, maxBytes: .max))
        let response = try #require(try await withHangLimit("the fetch to be answered") { try await connection.receive() })
        #expect(response.readableBytes > 128 << 10, "records came back")
        #expect(response.readableBytes < (256 << 10) + (64 << 10) + 1024, "\(response.readableBytes) bytes for a cap of 256 KiB")
        try await harness.stop()
    }
}

extension KafkaServerTests {
    /// A client that announces a large request and trickles it is closed once the request is
    /// late, and its reserved bytes come back: it cannot hold the pool, and every other
    /// connection's next read, for good (found by review).
    @Test func aTrickledRequestIsClosedAndItsMemoryComesBack() async throws {
        let harness = try await Harness {
            $0.queuedMaxRequestBytes = 64 << 10
            $0.requestReceiveTimeout = .milliseconds(300)
            $0.requestMinimumBytesPerSecond = 64 << 20
        }
        let memory = harness.server.requestMemory
        let hog = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: harness.server.port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        var partial = ByteBuffer()
        partial.writeInteger(Int32(900 << 10))
        partial.writeRepeatingByte(0, count: 10 << 10)
        try await hog.outbound.write(partial)
        // Seen through the running total: on a busy machine the deadline may already have
        // closed the connection and given the bytes back by the time the test looks.
        try await waitUntil("the hog's request to be reserved") { memory.reservedTotal >= (900 << 10) + 4 }
        // Nothing more comes: the server closes the connection and the bytes come back.
        let reader = RawReader(hog)
        #expect(try await withHangLimit("the hog to be closed") { try? await reader.next() } == nil)
        try await waitUntil("its reserved bytes to come back") { memory.used == 0 }
        hog.outbound.finish()
        // Other clients are served again.
        let other = try await RawConnection(port: harness.server.port)
        try await other.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 3, clientId: "test") { _ in })
        var response = try #require(try await withHangLimit("a later request to be answered") { try await other.receive() })
        #expect(response.readInteger(as: Int32.self) == 3)
        try await harness.stop()
    }
}

/// Reads raw bytes from a channel without a frame decoder.
private final class RawReader: @unchecked Sendable {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    init(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) { iterator = channel.inbound.makeAsyncIterator() }
    func next() async throws -> ByteBuffer? { try await iterator.next() }
}
