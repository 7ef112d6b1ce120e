import Foundation
@_exported import enum SteleCore.ExpectedVersion

/// A place events are kept: the embedded log, PostgreSQL, or a remote Stele. ``EventStore``
/// builds subscriptions, temporal reads and snapshot loads on these few operations, so every
/// backend behaves the same; the conformance suite runs against each.
public protocol EventStorage: Sendable {
    /// Appends `events` to `stream` atomically, if the stream is at `expected`.
    ///
    /// Events whose ids are already the stream's events at the versions they would take are
    /// not appended again: the original outcome is returned. Throws
    /// ``EventStoreError/wrongExpectedVersion(stream:expected:actual:)`` on a conflict and
    /// ``EventStoreError/idempotencyConflict(stream:reason:)`` when only some of the ids match.
    func append(_ events: [EventData], to stream: StreamName, expected: ExpectedVersion) async throws -> AppendOutcome

    /// Appends events to several streams as one: every stream is checked against its own
    /// expected version and either all of the events are appended or none is (a conflict on
    /// any stream throws ``EventStoreError/wrongExpectedVersion(stream:expected:actual:)`` naming
    /// it). Readers never see part of an append that does not complete, and see all of it once
    /// it returns (while it completes, one stream's part may show a moment before another's). A retry of an append that succeeded gets the
    /// original outcomes; one whose ids are found for some streams only is an
    /// ``EventStoreError/idempotencyConflict(stream:reason:)``. Outcomes come in `appends`' order.
    func append(_ appends: [StreamAppend]) async throws -> [AppendOutcome]

    /// The version of the stream's last event, -1 when it has none.
    func version(of stream: StreamName) async throws -> Int64

    /// Up to `limit` events of `stream` from version `from` on, oldest first.
    func read(_ stream: StreamName, from version: Int64, limit: Int) async throws -> [RecordedEvent]

    /// Up to `limit` events of a category after `checkpoint`, in log order per partition.
    func readCategory(_ category: String, after checkpoint: CategoryCheckpoint, limit: Int) async throws -> CategoryPage

    /// The category's end: the checkpoint after its last event.
    func endCheckpoint(of category: String) async throws -> CategoryCheckpoint

    /// How many events of the category lie from `checkpoint` up to `end` (progress and lag are
    /// counted in events). The default subtracts offsets, right where a category's offsets are
    /// its own and dense; a backend with shared or sparse offsets counts.
    func countEvents(in category: String, after checkpoint: CategoryCheckpoint, upTo end: CategoryCheckpoint) async throws -> Int64

    /// A counter that changes whenever events may have been appended.
    var appendGeneration: UInt64 { get }

    /// Returns once `appendGeneration` has moved past `generation`, or at `deadline`.
    func waitForAppends(after generation: UInt64, until deadline: ContinuousClock.Instant) async

    /// Stores a snapshot durably, apart from the events.
    func saveSnapshot(_ snapshot: Snapshot) async throws

    /// The newest stored snapshot named `name` of `stream` with this schema version, at or
    /// before `version`. Finding the newest costs the same however many were taken.
    func latestSnapshot(of stream: StreamName, name: String, schemaVersion: Int, atOrBefore version: Int64) async throws -> Snapshot?

    func close() async throws
}

/// One stream's part of a multi-stream append (``EventStorage/append(_:)``).
public struct StreamAppend: Sendable, Equatable {
    public var stream: StreamName
    public var events: [EventData]
    public var expected: ExpectedVersion

    public init(_ events: [EventData], to stream: StreamName, expected: ExpectedVersion = .any) {
        (self.stream, self.events, self.expected) = (stream, events, expected)
    }

    /// The checks every backend makes on a multi-stream append before touching storage: each
    /// part as a single append, no stream twice, no event id twice.
    public static func validate(_ appends: [StreamAppend]) throws {
        guard !appends.isEmpty else { throw EventStoreError.invalidRequest("a multi-stream append needs at least one stream") }
        var streams = Set<StreamName>()
        var ids = Set<UUID>()
        for part in appends {
            try Idempotency.validate(part.events, to: part.stream)
            guard streams.insert(part.stream).inserted else {
                throw EventStoreError.invalidRequest("stream \(part.stream) appears twice in one append: put its events in one part")
            }
            for event in part.events where !ids.insert(event.id).inserted {
                throw EventStoreError.invalidRequest("event id \(event.id) appears twice in one append")
            }
        }
    }
}

/// Where a reader of a category is — its checkpoint: for each partition, the offset of the next
/// event to read (and, for backends that deliver in transaction order, the transaction it is at —
/// see ``EventPosition/transaction``). Partitions not named start at their beginning.
///
/// Not an ``EventPosition``: `0:120` as a position is the event at offset 120; as a checkpoint it
/// says the next event to read is at 120.
public struct CategoryCheckpoint: Sendable, Hashable, Codable, CustomStringConvertible {
    public var nextOffsets: [Int32: Int64]
    public var transactions: [Int32: Int64]

    public init(nextOffsets: [Int32: Int64] = [:], transactions: [Int32: Int64] = [:]) {
        self.nextOffsets = nextOffsets
        self.transactions = transactions
    }

    /// Before the first event of every partition.
    public static let start = CategoryCheckpoint()

    public func nextOffset(in partition: Int32) -> Int64 { nextOffsets[partition] ?? 0 }
    public func transaction(in partition: Int32) -> Int64 { transactions[partition] ?? 0 }

    /// The checkpoint just after the event at `position`.
    public mutating func advance(past position: EventPosition) {
        let partition = position.partition
        guard (position.transaction, position.offset + 1) > (transaction(in: partition), nextOffset(in: partition)) else { return }
        nextOffsets[partition] = position.offset + 1
        if position.transaction != 0 || transactions[partition] != nil { transactions[partition] = position.transaction }
    }

    /// Whether the event at `position` was already read from here.
    public func hasPassed(_ position: EventPosition) -> Bool {
        (position.transaction, position.offset) < (transaction(in: position.partition), nextOffset(in: position.partition))
    }

    /// Whether every partition is at or past `other` in (transaction, offset) order — the order
    /// events are delivered in (comparing offsets alone would be wrong where transactions and
    /// offsets disagree, as in PostgreSQL).
    public func covers(_ other: CategoryCheckpoint) -> Bool {
        let partitions = Set(other.nextOffsets.keys).union(other.transactions.keys)
        return partitions.allSatisfy { partition in
            (transaction(in: partition), nextOffset(in: partition)) >= (other.transaction(in: partition), other.nextOffset(in: partition))
        }
    }

    @available(*, deprecated, renamed: "transactions")
    public var commits: [Int32: Int64] { transactions }

    @available(*, deprecated, renamed: "transaction(in:)")
    public func commit(in partition: Int32) -> Int64 { transaction(in: partition) }

    private enum CodingKeys: String, CodingKey {
        case nextOffsets, transactions
        /// The key JSON written before the rename holds the transactions under.
        case commits
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        nextOffsets = try container.decode([Int32: Int64].self, forKey: .nextOffsets)
        transactions = try container.decodeIfPresent([Int32: Int64].self, forKey: .transactions)
            ?? container.decodeIfPresent([Int32: Int64].self, forKey: .commits) ?? [:]
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(nextOffsets, forKey: .nextOffsets)
        try container.encode(transactions, forKey: .transactions)
    }

    /// `0:120,1:97` (or `0:5012/120` with a transaction): the form checkpoints are printed and
    /// parsed in.
    public var description: String {
        nextOffsets.keys.sorted().map { partition in
            let offset = nextOffsets[partition]!
            return transactions[partition].map { "\(partition):\($0)/\(offset)" } ?? "\(partition):\(offset)"
        }.joined(separator: ",")
    }

    public init?(_ text: String) {
        var offsets: [Int32: Int64] = [:]
        var transactions: [Int32: Int64] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: ":")
            guard pair.count == 2, let partition = Int32(pair[0]), partition >= 0 else { return nil }
            let sides = pair[1].split(separator: "/", omittingEmptySubsequences: false)
            guard let last = sides.last, let offset = Int64(last), offset >= 0, sides.count <= 2 else { return nil }
            if sides.count == 2 {
                guard let transaction = Int64(sides[0]), transaction >= 0 else { return nil }
                transactions[partition] = transaction
            }
            offsets[partition] = offset
        }
        self.nextOffsets = offsets
        self.transactions = transactions
    }
}

/// Events of a category read from a checkpoint, and the checkpoint after them.
public struct CategoryPage: Sendable {
    public var events: [RecordedEvent]
    public var next: CategoryCheckpoint

    public init(events: [RecordedEvent], next: CategoryCheckpoint) {
        self.events = events
        self.next = next
    }
}

/// A state folded from a stream up to `version`, stored so that a load need not fold from 0.
/// Snapshots only save time: deleting them changes no result.
public struct Snapshot: Sendable, Equatable, Codable {
    public var stream: StreamName
    /// What the state is, so different folds of one stream keep different snapshots.
    public var name: String
    /// The version of the last event folded into the state.
    public var version: Int64
    /// The version of the state's schema: a snapshot of an older schema is ignored.
    public var schemaVersion: Int
    public var state: [UInt8]
    public var takenAt: Date

    public init(stream: StreamName, name: String, version: Int64, schemaVersion: Int = 1, state: [UInt8], takenAt: Date = Date()) {
        self.stream = stream
        self.name = name
        self.version = version
        self.schemaVersion = schemaVersion
        self.state = state
        self.takenAt = takenAt
    }
}

/// Why an event-store operation failed.
public enum EventStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stream was not at the expected version; nothing was written.
    case wrongExpectedVersion(stream: StreamName, expected: ExpectedVersion, actual: Int64)
    /// Some, but not all, of the appended events' ids are already in the stream at those
    /// versions; nothing was written.
    case idempotencyConflict(stream: StreamName, reason: String)
    /// The request itself is wrong (a bad stream id, an empty append, a duplicate event id, …).
    case invalidRequest(String)
    /// The category's topic could lose or rewrite events (retention or compaction is set).
    case notAnEventCategory(String)
    /// A category checkpoint names offsets the category does not have (past its end, or before
    /// its start after retention).
    case checkpointOutOfRange(String)
    /// The backend failed; the operation may or may not have taken effect only if it says so.
    case storage(String)
    case closed

    public var description: String {
        switch self {
        case let .wrongExpectedVersion(stream, expected, actual):
            "stream \(stream): expected \(expected), but its current version is \(actual == -1 ? "none (no stream)" : String(actual))"
        case let .idempotencyConflict(stream, reason): "stream \(stream): \(reason)"
        case let .invalidRequest(reason): reason
        case let .notAnEventCategory(reason): reason
        case let .checkpointOutOfRange(reason): reason
        case let .storage(reason): "storage error: \(reason)"
        case .closed: "the event store is closed"
        }
    }
}

extension EventStorage {
    public func countEvents(in category: String, after checkpoint: CategoryCheckpoint, upTo end: CategoryCheckpoint) async throws -> Int64 {
        end.nextOffsets.reduce(0) { total, entry in total + max(0, entry.value - checkpoint.nextOffset(in: entry.key)) }
    }
}

/// The name ``CategoryCheckpoint`` had before "position" was kept for ``EventPosition`` alone.
@available(*, deprecated, renamed: "CategoryCheckpoint")
public typealias CategoryPosition = CategoryCheckpoint
