import Foundation
import SteleLog
import Synchronization

/// Incremental fetch sessions (KIP-227): a consumer names its partitions once, then each fetch
/// sends only what changed (new positions, partitions added or forgotten) and each answer carries
/// only partitions with something new (records, an error, a moved high watermark or log start).
/// A fetch with thousands of partitions then costs what changes, not what it follows.
///
/// The cache is bounded (``capacity`` sessions of at most ``maxPartitions`` partitions); when it
/// is full, a session idle for ``evictionIdleMs`` makes room, else the consumer fetches without a
/// session, which every client handles. A session belongs to the principal that created it.
public final class FetchSessions: Sendable {
    private let cache: Mutex<FetchSessionCache>
    private let clock: @Sendable () -> Int64

    public init(capacity: Int = 1000, maxPartitions: Int = 10_000, evictionIdleMs: Int64 = 120_000,
                clock: @escaping @Sendable () -> Int64 = wallClockMilliseconds) {
        cache = Mutex(FetchSessionCache(capacity: capacity, maxPartitions: maxPartitions, evictionIdleMs: evictionIdleMs,
                                        firstId: Int32.random(in: 1...Int32.max / 2)))
        self.clock = clock
    }

    /// Decides how to serve a fetch: which partitions to read and under which session id.
    public func begin(_ request: FetchSessionRequest, owner: String) -> FetchSessionPlan {
        let now = clock()
        return cache.withLock { $0.begin(request, owner: owner, now: now) }
    }

    /// Records what the answer carries and returns the partitions it must include (all of them
    /// for a full fetch; for an incremental one, those with something new).
    public func complete(session id: Int32, incremental: Bool, results: [TopicPartition: FetchSessionResult]) -> Set<TopicPartition> {
        cache.withLock { $0.complete(session: id, incremental: incremental, results: results) }
    }

    /// Sessions open now (tests, metrics).
    public var count: Int { cache.withLock { $0.sessions.count } }
}

/// A fetch's session fields and partitions, topics by name.
public struct FetchSessionRequest: Sendable {
    public var sessionId: Int32
    public var epoch: Int32
    /// In request order: position and byte limit, and the topic id the client named (v13+).
    public var partitions: [(TopicPartition, FetchSessionEntry)]
    public var forgotten: [TopicPartition]

    public init(sessionId: Int32, epoch: Int32, partitions: [(TopicPartition, FetchSessionEntry)], forgotten: [TopicPartition]) {
        (self.sessionId, self.epoch, self.partitions, self.forgotten) = (sessionId, epoch, partitions, forgotten)
    }
}

public struct FetchSessionEntry: Sendable, Equatable {
    public var fetchOffset: Int64
    public var maxBytes: Int32
    public var topicId: UUID?
    /// What the last answer told the consumer (nil: never sent).
    var sentHighWatermark: Int64?
    var sentLogStartOffset: Int64?

    public init(fetchOffset: Int64, maxBytes: Int32, topicId: UUID?) {
        (self.fetchOffset, self.maxBytes, self.topicId) = (fetchOffset, maxBytes, topicId)
    }
}

/// What one partition's read gave, for deciding whether an incremental answer carries it.
public struct FetchSessionResult: Sendable {
    public var highWatermark: Int64
    public var logStartOffset: Int64
    /// Records or an error: always carried.
    public var mustSend: Bool

    public init(highWatermark: Int64, logStartOffset: Int64, mustSend: Bool) {
        (self.highWatermark, self.logStartOffset, self.mustSend) = (highWatermark, logStartOffset, mustSend)
    }
}

public enum FetchSessionPlan: Sendable {
    /// Read the request's partitions; answer with this session id (0: none).
    case full(sessionId: Int32)
    /// Read every partition of the session, in this order; answer with those that changed.
    case incremental(sessionId: Int32, partitions: [(TopicPartition, FetchSessionEntry)])
    /// FETCH_SESSION_ID_NOT_FOUND: the consumer starts over with a full fetch.
    case sessionNotFound
    /// INVALID_FETCH_SESSION_EPOCH: the consumer starts over with a full fetch.
    case invalidEpoch
}

/// The sessions themselves, as a state machine without I/O (time passed in).
struct FetchSessionCache: Sendable {
    struct Session: Sendable {
        let id: Int32
        let owner: String
        /// The epoch the next incremental fetch must carry.
        var epoch: Int32 = 1
        var entries: [TopicPartition: FetchSessionEntry] = [:]
        /// Read order: partitions that just returned records go last, so a partition with much
        /// data cannot starve the others under the response size limit.
        var order: [TopicPartition] = []
        var lastUsed: Int64
    }

    let capacity: Int
    let maxPartitions: Int
    let evictionIdleMs: Int64
    private(set) var sessions: [Int32: Session] = [:]
    private var nextId: Int32

    init(capacity: Int, maxPartitions: Int, evictionIdleMs: Int64, firstId: Int32) {
        (self.capacity, self.maxPartitions, self.evictionIdleMs, self.nextId) = (capacity, maxPartitions, evictionIdleMs, firstId)
    }

    mutating func begin(_ request: FetchSessionRequest, owner: String, now: Int64) -> FetchSessionPlan {
        defer { assert(sessions.count <= capacity, "the fetch session cache outgrew its capacity") }
        switch (request.sessionId, request.epoch) {
        case (0, -1):
            return .full(sessionId: 0)
        case (let id, -1):
            // Closing a session: a full fetch without one.
            if sessions[id]?.owner == owner { sessions[id] = nil }
            return .full(sessionId: 0)
        case (let id, 0):
            // A new session (replacing the named one, if any).
            if id != 0, sessions[id]?.owner == owner { sessions[id] = nil }
            return .full(sessionId: create(request, owner: owner, now: now))
        case (let id, let epoch):
            guard id != 0, var session = sessions[id], session.owner == owner else { return .sessionNotFound }
            guard epoch == session.epoch else { return .invalidEpoch }
            session.epoch = epoch == Int32.max ? 1 : epoch + 1
            session.lastUsed = now
            for (partition, entry) in request.partitions {
                if var known = session.entries[partition], known.topicId == entry.topicId {
                    known.fetchOffset = entry.fetchOffset
                    known.maxBytes = entry.maxBytes
                    session.entries[partition] = known
                } else {
                    if session.entries[partition] == nil { session.order.append(partition) }
                    session.entries[partition] = entry
                }
            }
            // Forgotten after the additions, as Kafka does: a partition both sent and forgotten goes.
            let dropped = Set(request.forgotten.filter { session.entries.removeValue(forKey: $0) != nil })
            if !dropped.isEmpty { session.order.removeAll { dropped.contains($0) } }
            guard session.entries.count <= maxPartitions else {
                sessions[id] = nil
                return .sessionNotFound
            }
            sessions[id] = session
            return .incremental(sessionId: id, partitions: session.order.map { ($0, session.entries[$0]!) })
        }
    }

    private mutating func create(_ request: FetchSessionRequest, owner: String, now: Int64) -> Int32 {
        guard request.partitions.count <= maxPartitions else { return 0 }
        if sessions.count >= capacity {
            guard let idlest = sessions.values.min(by: { $0.lastUsed < $1.lastUsed }), now - idlest.lastUsed >= evictionIdleMs else { return 0 }
            sessions[idlest.id] = nil
        }
        while sessions[nextId] != nil || nextId == 0 { nextId = nextId == Int32.max ? 1 : nextId + 1 }
        var session = Session(id: nextId, owner: owner, lastUsed: now)
        for (partition, entry) in request.partitions where session.entries[partition] == nil {
            session.order.append(partition)
            session.entries[partition] = entry
        }
        sessions[session.id] = session
        nextId = nextId == Int32.max ? 1 : nextId + 1
        return session.id
    }

    mutating func complete(session id: Int32, incremental: Bool, results: [TopicPartition: FetchSessionResult]) -> Set<TopicPartition> {
        guard var session = sessions[id] else { return Set(results.keys) }
        var carried = Set<TopicPartition>()
        var busy: [TopicPartition] = []
        for (partition, result) in results {
            guard var entry = session.entries[partition] else { continue }
            let changed = result.mustSend || entry.sentHighWatermark != result.highWatermark || entry.sentLogStartOffset != result.logStartOffset
            if !incremental || changed {
                carried.insert(partition)
                entry.sentHighWatermark = result.highWatermark
                entry.sentLogStartOffset = result.logStartOffset
                session.entries[partition] = entry
            }
            if result.mustSend { busy.append(partition) }
        }
        if !busy.isEmpty {
            let moved = Set(busy)
            session.order = session.order.filter { !moved.contains($0) } + session.order.filter { moved.contains($0) }
        }
        sessions[id] = session
        return incremental ? carried : Set(results.keys)
    }
}
