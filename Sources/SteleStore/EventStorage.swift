import Foundation
@_exported import enum SteleCore.ExpectedVersion

/// A place events are kept: the embedded log, PostgreSQL, or a remote Stele. ``EventStore``
/// builds subscriptions, temporal reads and snapshot loads on these few operations, so every
/// backend behaves the same; the conformance suite runs against each.
public protocol EventStorage: Sendable {
    /// Appends `events` to `stream` atomically, if the stream is at `expected`.
    ///
    /// Events whose ids are already the stream's events at the positions they would take are
    /// not appended again: the original outcome is returned. Throws
    /// ``EventStoreError/wrongExpectedVersion(stream:expected:actual:)`` on a conflict and
    /// ``EventStoreError/idempotencyConflict(stream:reason:)`` when only some of the ids match.
    func append(_ events: [EventData], to stream: StreamID, expected: ExpectedVersion) async throws -> AppendOutcome

    /// The version of the stream's last event, -1 when it has none.
    func version(of stream: StreamID) async throws -> Int64

    /// Up to `limit` events of `stream` from version `from` on, oldest first.
    func read(_ stream: StreamID, from version: Int64, limit: Int) async throws -> [RecordedEvent]

    /// Up to `limit` events of a category after `position`, in log order per partition.
    func readCategory(_ category: String, after position: CategoryPosition, limit: Int) async throws -> CategoryPage

    /// The category's end: a position after its last event.
    func endPosition(of category: String) async throws -> CategoryPosition

    /// A counter that changes whenever events may have been appended.
    var appendGeneration: UInt64 { get }

    /// Returns once `appendGeneration` has moved past `generation`, or at `deadline`.
    func waitForAppends(after generation: UInt64, until deadline: ContinuousClock.Instant) async

    /// Stores a snapshot durably, apart from the events.
    func saveSnapshot(_ snapshot: Snapshot) async throws

    /// The newest stored snapshot named `name` of `stream` with this schema version, at or
    /// before `version`. Finding the newest costs the same however many were taken.
    func latestSnapshot(of stream: StreamID, name: String, schemaVersion: Int, atOrBefore version: Int64) async throws -> Snapshot?

    func close() async throws
}

/// Where a reader of a category is: for each partition, the offset of the next event to read
/// (and, for backends that order by commit, the commit order it is at — see
/// ``EventPosition/commit``). Partitions not named start at their beginning.
public struct CategoryPosition: Sendable, Hashable, Codable, CustomStringConvertible {
    public var nextOffsets: [Int32: Int64]
    public var commits: [Int32: Int64]

    public init(nextOffsets: [Int32: Int64] = [:], commits: [Int32: Int64] = [:]) {
        self.nextOffsets = nextOffsets
        self.commits = commits
    }

    /// Before the first event of every partition.
    public static let start = CategoryPosition()

    public func nextOffset(in partition: Int32) -> Int64 { nextOffsets[partition] ?? 0 }
    public func commit(in partition: Int32) -> Int64 { commits[partition] ?? 0 }

    /// The position just after `event`.
    public mutating func advance(past position: EventPosition) {
        let partition = position.partition
        guard (position.commit, position.offset + 1) > (commit(in: partition), nextOffset(in: partition)) else { return }
        nextOffsets[partition] = position.offset + 1
        if position.commit != 0 || commits[partition] != nil { commits[partition] = position.commit }
    }

    /// Whether `position` was already read from here.
    public func hasPassed(_ position: EventPosition) -> Bool {
        (position.commit, position.offset) < (commit(in: position.partition), nextOffset(in: position.partition))
    }

    /// `0:120,1:97` (or `0:5012/120` with a commit order): the form checkpoints are printed and
    /// parsed in.
    public var description: String {
        nextOffsets.keys.sorted().map { partition in
            let offset = nextOffsets[partition]!
            return commits[partition].map { "\(partition):\($0)/\(offset)" } ?? "\(partition):\(offset)"
        }.joined(separator: ",")
    }

    public init?(_ text: String) {
        var offsets: [Int32: Int64] = [:]
        var commits: [Int32: Int64] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: ":")
            guard pair.count == 2, let partition = Int32(pair[0]), partition >= 0 else { return nil }
            let sides = pair[1].split(separator: "/")
            guard let offset = Int64(sides.last!), offset >= 0, sides.count <= 2 else { return nil }
            if sides.count == 2 {
                guard let commit = Int64(sides[0]), commit >= 0 else { return nil }
                commits[partition] = commit
            }
            offsets[partition] = offset
        }
        self.nextOffsets = offsets
        self.commits = commits
    }
}

/// Events of a category read from a position, and the position after them.
public struct CategoryPage: Sendable {
    public var events: [RecordedEvent]
    public var next: CategoryPosition

    public init(events: [RecordedEvent], next: CategoryPosition) {
        self.events = events
        self.next = next
    }
}

/// A state folded from a stream up to `version`, stored so that a load need not fold from 0.
/// Snapshots only save time: deleting them changes no result.
public struct Snapshot: Sendable, Equatable, Codable {
    public var stream: StreamID
    /// What the state is, so different folds of one stream keep different snapshots.
    public var name: String
    /// The version of the last event folded into the state.
    public var version: Int64
    /// The version of the state's schema: a snapshot of an older schema is ignored.
    public var schemaVersion: Int
    public var state: [UInt8]
    public var takenAt: Date

    public init(stream: StreamID, name: String, version: Int64, schemaVersion: Int = 1, state: [UInt8], takenAt: Date = Date()) {
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
    case wrongExpectedVersion(stream: StreamID, expected: ExpectedVersion, actual: Int64)
    /// Some, but not all, of the appended events' ids are already in the stream at those
    /// positions; nothing was written.
    case idempotencyConflict(stream: StreamID, reason: String)
    /// The request itself is wrong (a bad stream id, an empty append, a duplicate event id, …).
    case invalidRequest(String)
    /// The category's topic could lose or rewrite events (retention or compaction is set).
    case notAnEventCategory(String)
    /// A category position names offsets the category does not have (past its end, or before
    /// its start after retention).
    case positionOutOfRange(String)
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
        case let .positionOutOfRange(reason): reason
        case let .storage(reason): "storage error: \(reason)"
        case .closed: "the event store is closed"
        }
    }
}
