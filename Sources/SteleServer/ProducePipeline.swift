import Synchronization
import NIOCore
import SteleKafkaProtocol

/// Lets Produce requests of one connection run at once when they name distinct partitions,
/// while every response still leaves in request order.
///
/// Why: a client such as librdkafka sends one Produce request per partition, back to back on one
/// connection. Answered one at a time, each waits for the previous one's sync (`flush=always`),
/// so a transaction's four partitions cost four syncs in a row instead of one round of four.
///
/// What stays as Kafka has it:
/// - Responses leave in request order: each request's response is written only after the
///   previous request's.
/// - Two requests naming the same partition never run at once. The later waits for every
///   request before it, so a partition's batches are appended in the order they were sent
///   (idempotent sequences, transactions).
/// - Any other request waits for every Produce request before it to be answered (``drain()``),
///   so it sees their effects, as it would on Kafka.
/// - A throttled response mutes the connection for the rest of its throttle time
///   (``Shared/throttledUntil``), and the connection is served one request at a time from
///   then on. Requests already read when the throttled one is answered (at most ``limit``)
///   still run: the one place where a pipelining client gets further than on Kafka.
/// - Transaction version 2 Produce requests (v12+ with a transactional id) run alone: each
///   may add its partition to the transaction, and the coordinator takes one change of an id
///   at a time.
///
/// At most ``limit`` requests are in flight; each holds its frame's bytes in the connection's
/// request memory until it is answered, so the pool bounds them too, and the connection ends
/// (giving back what it holds) only after they are answered.
struct ProducePipeline: ~Copyable {
    /// A partition named by a Produce request.
    struct PartitionKey: Hashable, Sendable {
        var topic: String
        var partition: Int32
    }

    /// What the requests in flight tell the connection's reader.
    final class Shared: Sendable {
        private struct State {
            var throttledUntil: ContinuousClock.Instant?
            var closeReason: String?
        }
        private let state = Mutex(State())

        /// Set by a throttled response: the reader reads nothing more before then.
        var throttledUntil: ContinuousClock.Instant? { state.withLock { $0.throttledUntil } }
        /// Set when a request's response could not be written or the request closes the
        /// connection: nothing more is written, and the reader stops.
        var closeReason: String? { state.withLock { $0.closeReason } }

        func throttle(until instant: ContinuousClock.Instant) {
            state.withLock { $0.throttledUntil = max($0.throttledUntil ?? instant, instant) }
        }

        func close(_ reason: String) {
            state.withLock { if $0.closeReason == nil { $0.closeReason = reason } }
        }
    }

    private struct InFlight {
        var partitions: Set<PartitionKey>
        /// Ends once the request is answered (and every request before it).
        var answered: Task<Void, Never>
        let finished: Finished
    }

    final class Finished: Sendable {
        let value = Atomic(false)
    }

    let limit: Int
    let shared = Shared()
    private var inFlight: [InFlight] = []

    init(limit: Int = 16) {
        precondition(limit > 0)
        self.limit = limit
    }

    /// The partitions a frame's Produce request names, or `nil` when the frame must be handled
    /// alone: not a Produce request, one that does not decode (the handler answers it with its
    /// error), one naming a partition twice, or one of transaction version 2.
    static func partitions(of frame: ByteBuffer) -> Set<PartitionKey>? {
        guard let (key, _, _) = RequestHeader.peek(frame), key == ApiKey.produce.rawValue,
              let (header, _, body) = try? RequestHeader.decode(frame) else { return nil }
        var decoder = body
        guard let request = try? ProduceRequest.decode(&decoder, version: header.apiVersion),
              header.apiVersion < 12 || request.transactionalId == nil else { return nil }
        var keys = Set<PartitionKey>()
        for topic in request.topics {
            for partition in topic.partitions {
                guard keys.insert(PartitionKey(topic: topic.name, partition: partition.index)).inserted else { return nil }
            }
        }
        return keys
    }

    /// Waits until a request naming `partitions` may start: no request in flight names one of
    /// them, and fewer than ``limit`` are in flight.
    mutating func makeRoom(for partitions: Set<PartitionKey>) async {
        forgetAnswered()
        if inFlight.contains(where: { !$0.partitions.isDisjoint(with: partitions) }) {
            await drain()
            return
        }
        while inFlight.count >= limit {
            await inFlight.removeFirst().answered.value
        }
    }

    /// Starts a request: `handle` runs at once; `answer` runs once every earlier request is
    /// answered. Call ``makeRoom(for:)`` first.
    mutating func start(_ partitions: Set<PartitionKey>, handle: @escaping @Sendable () async -> KafkaRequestHandler.Outcome,
                        answer: @escaping @Sendable (KafkaRequestHandler.Outcome) async -> Void) {
        assert(inFlight.count < limit && inFlight.allSatisfy { $0.partitions.isDisjoint(with: partitions) })
        let previous = inFlight.last?.answered
        let finished = Finished()
        let answered = Task {
            let outcome = await handle()
            await previous?.value
            await answer(outcome)
            finished.value.store(true, ordering: .releasing)
        }
        inFlight.append(InFlight(partitions: partitions, answered: answered, finished: finished))
    }

    /// Waits until every request started is answered.
    mutating func drain() async {
        // Each request is answered only after the one before it: the last answered means all are.
        await inFlight.last?.answered.value
        inFlight.removeAll()
    }

    var isEmpty: Bool { inFlight.isEmpty }

    /// Drops the requests already answered (always a prefix: answers leave in order).
    private mutating func forgetAnswered() {
        let done = inFlight.prefix { $0.finished.value.load(ordering: .acquiring) }.count
        inFlight.removeFirst(done)
    }
}
