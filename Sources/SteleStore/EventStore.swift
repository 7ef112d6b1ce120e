import Foundation

/// The event store: append events to streams with optimistic concurrency, read streams and
/// categories, follow them live, and fold them as of any point in time.
///
/// One API whatever keeps the events (``EventStorage``): the embedded log, PostgreSQL, or a
/// remote Stele. Everything here beyond the storage's few operations is built the same way for
/// every backend.
///
/// ```swift
/// let store = EventStore(try await EmbeddedEventStorage.open(path: "./stele-data"))
/// let account = StreamName(category: "accounts", id: "account-123")
/// try await store.append([opened], to: account, expected: .noStream)
/// let balance = try await store.state(of: account, initial: 0) { balance, event in ... }
/// ```
public struct EventStore: Sendable {
    public let storage: any EventStorage

    public init(_ storage: any EventStorage) { self.storage = storage }

    /// Appends `events` atomically if `stream` is at `expected`; see ``EventStorage/append(_:to:expected:)``.
    @discardableResult
    public func append(_ events: [EventData], to stream: StreamName, expected: ExpectedVersion = .any) async throws -> AppendOutcome {
        try await storage.append(events, to: stream, expected: expected)
    }

    /// Appends to several streams as one, each checked against its own expected version: all
    /// or nothing; see ``EventStorage/append(_:)``.
    ///
    /// ```swift
    /// try await store.append([
    ///     StreamAppend([withdrawn], to: from, expected: .exact(fromVersion)),
    ///     StreamAppend([deposited], to: to, expected: .exact(toVersion)),
    /// ])
    /// ```
    @discardableResult
    public func append(_ appends: [StreamAppend]) async throws -> [AppendOutcome] {
        try await storage.append(appends)
    }

    /// The version of the stream's last event, -1 when it has none.
    public func version(of stream: StreamName) async throws -> Int64 { try await storage.version(of: stream) }

    /// Events of `stream` read forward from a version (oldest first) or backward from a version
    /// (newest first), at most `limit`.
    public func read(_ stream: StreamName, from start: StreamPoint = .start, direction: ReadDirection = .forward,
                     limit: Int = .max) async throws -> [RecordedEvent] {
        guard limit >= 0 else { throw EventStoreError.invalidRequest("limit must be ≥ 0") }
        switch direction {
        case .forward:
            let from: Int64
            switch start {
            case .start: from = 0
            case let .version(version): from = version
            case .end: return []
            }
            guard from >= 0 else { throw EventStoreError.invalidRequest("a stream read starts at version ≥ 0, not \(from)") }
            return try await storage.read(stream, from: from, limit: limit)
        case .backward:
            let last: Int64
            switch start {
            case .start: last = 0
            // From the stream's last version at most: a point far past it (a client may ask
            // for version 2^63 - 1) would otherwise be walked back a page at a time.
            case let .version(version): last = min(version, try await storage.version(of: stream))
            case .end: last = try await storage.version(of: stream)
            }
            guard last >= 0, limit > 0 else { return [] }
            let first = max(0, last - Int64(min(limit, Int(Int32.max))) + 1)
            return try await storage.read(stream, from: first, limit: Int(last - first + 1)).reversed()
        }
    }

    /// Up to `limit` events of a category after `checkpoint`.
    public func readCategory(_ category: String, after checkpoint: CategoryCheckpoint = .start, limit: Int = 1000) async throws -> CategoryPage {
        try await storage.readCategory(category, after: checkpoint, limit: limit)
    }

    /// The events of `stream` up to a point in time, version or offset (see ``AsOf``), oldest first.
    public func read(_ stream: StreamName, asOf point: AsOf) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        var next: Int64 = 0
        let page = 1000
        while true {
            let batch = try await storage.read(stream, from: next, limit: page)
            for event in batch {
                // Versions, offsets and append times only grow along a stream: the first event
                // past the point ends the read.
                if !point.includesByTransaction(event) { return events }
                if point.includesByValidTime(event) { events.append(event) }
            }
            if batch.count < page { return events }
            next = batch.last!.version + 1
        }
    }

    /// A page of `stream` as of `point`: at most `limit` events, read forward from `start` (oldest
    /// first) or backward from it (newest first). Memory holds the page and one read of the
    /// storage, whatever the stream's length, so an HTTP client can page through a stream of
    /// millions of events as it was on any date.
    public func read(_ stream: StreamName, asOf point: AsOf, from start: StreamPoint, direction: ReadDirection,
                     limit: Int) async throws -> [RecordedEvent] {
        guard limit >= 0 else { throw EventStoreError.invalidRequest("limit must be ≥ 0") }
        let page = 1000
        var events: [RecordedEvent] = []
        guard limit > 0 else { return events }
        switch direction {
        case .forward:
            var next: Int64
            switch start {
            case .start: next = 0
            case let .version(version): next = version
            case .end: return []
            }
            guard next >= 0 else { throw EventStoreError.invalidRequest("a stream read starts at version ≥ 0, not \(next)") }
            while true {
                let batch = try await storage.read(stream, from: next, limit: page)
                for event in batch {
                    if !point.includesByTransaction(event) { return events }
                    if point.includesByValidTime(event) {
                        events.append(event)
                        if events.count == limit { return events }
                    }
                }
                guard batch.count == page, let last = batch.last else { return events }
                next = last.version + 1
            }
        case .backward:
            var last: Int64
            switch start {
            case .start: last = 0
            // From the stream's last version at most: a point far past it (a client may ask
            // for version 2^63 - 1) would otherwise be walked back a page at a time.
            case let .version(version): last = min(version, try await storage.version(of: stream))
            case .end: last = try await storage.version(of: stream)
            }
            // Events past the point's transaction time are newer than every included one:
            // skipped going back until the first included event.
            while last >= 0 {
                let first = max(0, last - Int64(page) + 1)
                let batch = try await storage.read(stream, from: first, limit: Int(last - first + 1))
                for event in batch.reversed() where point.includesByTransaction(event) && point.includesByValidTime(event) {
                    events.append(event)
                    if events.count == limit { return events }
                }
                last = first - 1
            }
            return events
        }
    }

    /// Folds the events of `stream` (up to `point`, if given) into a state, a page at a time:
    /// memory holds the state and one page, not the stream.
    public func state<State>(of stream: StreamName, asOf point: AsOf = .now, initial: State,
                             evolve: (State, RecordedEvent) throws -> State) async throws -> State {
        var state = initial
        var next: Int64 = 0
        let page = 1000
        while true {
            let batch = try await storage.read(stream, from: next, limit: page)
            for event in batch {
                if !point.includesByTransaction(event) { return state }
                if point.includesByValidTime(event) { state = try evolve(state, event) }
            }
            guard batch.count == page, let last = batch.last else { return state }
            next = last.version + 1
        }
    }

    /// Follows `stream` from version `from` (0: its start): its events so far, then new ones as
    /// they are appended, with no gap and no duplicate between the two.
    public func subscribe(to stream: StreamName, from version: Int64 = 0, bufferSize: Int = 256) -> StreamSubscription {
        StreamSubscription(storage: storage, stream: stream, from: version, bufferSize: bufferSize)
    }

    /// Follows a category from a checkpoint: its events so far, then new ones.
    public func subscribe(toCategory category: String, after checkpoint: CategoryCheckpoint = .start, bufferSize: Int = 256) -> CategorySubscription {
        CategorySubscription(storage: storage, category: category, after: checkpoint, bufferSize: bufferSize)
    }

    /// The checkpoint after the category's last event (to follow only what comes next).
    public func endCheckpoint(of category: String) async throws -> CategoryCheckpoint {
        try await storage.endCheckpoint(of: category)
    }

    /// How many events of the category lie from `checkpoint` up to `end`.
    public func countEvents(in category: String, after checkpoint: CategoryCheckpoint, upTo end: CategoryCheckpoint) async throws -> Int64 {
        try await storage.countEvents(in: category, after: checkpoint, upTo: end)
    }

    @available(*, deprecated, renamed: "endCheckpoint(of:)")
    public func endPosition(of category: String) async throws -> CategoryCheckpoint {
        try await endCheckpoint(of: category)
    }

    public func saveSnapshot(_ snapshot: Snapshot) async throws { try await storage.saveSnapshot(snapshot) }

    /// The newest snapshot named `name` of `stream` at or before `version` with the given
    /// schema version.
    public func latestSnapshot(of stream: StreamName, name: String, schemaVersion: Int = 1, atOrBefore version: Int64 = .max) async throws -> Snapshot? {
        try await storage.latestSnapshot(of: stream, name: name, schemaVersion: schemaVersion, atOrBefore: version)
    }

    public func close() async throws { try await storage.close() }
}

public enum ReadDirection: String, Sendable, Codable {
    case forward, backward
}

/// Where a stream read starts.
public enum StreamPoint: Sendable, Equatable {
    case start
    case end
    case version(Int64)
}

/// A point in a stream's history: which events a temporal read includes.
///
/// Transaction-time limits (version, offset, `recordedBy`) say what the store knew; the
/// valid-time limit (`occurredBy`) says what had happened in the world by then. Both together
/// answer "what did we know on Tuesday about Monday": `.known(at: tuesday, about: monday)`.
public struct AsOf: Sendable, Equatable {
    /// Events up to and including this version.
    public var version: Int64?
    /// Events at or before this offset of the stream's partition.
    public var offset: Int64?
    /// Events appended at or before this time.
    public var recordedBy: Date?
    /// Events that occurred at or before this time (an event without an occurred-at time
    /// occurred when it was appended).
    public var occurredBy: Date?

    public init(version: Int64? = nil, offset: Int64? = nil, recordedBy: Date? = nil, occurredBy: Date? = nil) {
        self.version = version
        self.offset = offset
        self.recordedBy = recordedBy
        self.occurredBy = occurredBy
    }

    /// Every event.
    public static let now = AsOf()
    public static func version(_ version: Int64) -> AsOf { AsOf(version: version) }
    public static func offset(_ offset: Int64) -> AsOf { AsOf(offset: offset) }
    /// What the store held at `time`.
    public static func time(_ time: Date) -> AsOf { AsOf(recordedBy: time) }
    /// What the store held at `knownAt` about what had happened by `validAt`.
    public static func known(at knownAt: Date, about validAt: Date) -> AsOf { AsOf(recordedBy: knownAt, occurredBy: validAt) }

    package func includesByTransaction(_ event: RecordedEvent) -> Bool {
        if let version, event.version > version { return false }
        if let offset, event.position.offset > offset { return false }
        if let recordedBy, event.appendedAt > recordedBy { return false }
        return true
    }

    package func includesByValidTime(_ event: RecordedEvent) -> Bool {
        if let occurredBy, event.occurredAt > occurredBy { return false }
        return true
    }
}
