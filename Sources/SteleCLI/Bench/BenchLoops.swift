import ArgumentParser
import NIOCore

/// The load loops the Kafka benchmarks share: produce from several connections for a while,
/// and read a topic back from offset 0.
enum BenchLoops {
    /// Opens `connections` connections with `open` and has each call `send` until `seconds`
    /// have passed; returns the requests completed and the seconds taken.
    static func produce(connections: Int, seconds: Double, open: @escaping @Sendable () async throws -> KafkaConnection,
                        send: @escaping @Sendable (KafkaConnection) async throws -> Void) async throws -> (requests: Int, elapsed: Double) {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let start = ContinuousClock.now
        let sent = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    let connection = try await open()
                    var requests = 0
                    while ContinuousClock.now < deadline {
                        try await send(connection)
                        requests += 1
                    }
                    await connection.close()
                    return requests
                }
            }
            return try await group.reduce(0, +)
        }
        return (sent, elapsedSeconds(since: start))
    }

    /// Reads a partition from offset 0 to its high watermark with `fetch`, which returns the
    /// bytes of one answer, the offset after it and the high watermark; returns bytes/s and
    /// records/s (offsets advanced).
    static func readAll(fetch: (Int64) async throws -> (bytes: Int, next: Int64, highWatermark: Int64)) async throws -> (bytes: Double, records: Double) {
        var offset: Int64 = 0
        var bytes = 0
        let start = ContinuousClock.now
        while true {
            let answer = try await fetch(offset)
            guard answer.bytes > 0 else { break }
            bytes += answer.bytes
            offset = answer.next
            if offset >= answer.highWatermark { break }
        }
        let elapsed = elapsedSeconds(since: start)
        return (Double(bytes) / elapsed, Double(offset) / elapsed)
    }

    /// Produce v7 of `batch` with acks=all, failing on any error code.
    static func produceBatch(_ connection: KafkaConnection, topic: String, batch: ByteBuffer) async throws {
        let error = try await connection.produce(topic: topic, partition: 0, batch: batch)
        guard error == 0 else { throw ValidationError("produce failed with error \(error)") }
    }
}
