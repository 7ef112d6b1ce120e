/// A keyed stream joined with a versioned table as of each event's time (Flink's temporal join,
/// `FOR SYSTEM_TIME AS OF`), as a state machine without I/O or clock: each stream row meets the
/// table's row for its key that was current at the row's time — the latest version at or before
/// it — or none (an inner join writes nothing then; an outer one writes the stream row alone).
///
/// A stream row waits until the watermark passes its time, since a version at or before that time
/// may still arrive; then it is joined. Versions are never late: one that arrives behind the
/// watermark is taken for the stream rows still waiting. Per key only the versions a row not yet
/// late could need are kept — the latest before the watermark and the ones after it — so the
/// table's state is one row per key plus what the disorder allows.
public struct TemporalJoiner<Value: Sendable>: Sendable {
    /// Whether a stream row and its version make an output (the join's other conditions).
    public typealias Condition = @Sendable (_ row: PatternEvent<Value>, _ version: PatternEvent<Value>) -> Bool

    /// The variables the outputs' rows carry (the SQL's aliases): the stream's, the table's.
    public let streamName: String
    public let tableName: String
    /// Whether a stream row without a version (or whose version fails the condition) is written alone.
    public let outer: Bool
    let condition: Condition
    public private(set) var watermark: Int64 = .min

    struct Held: Comparable, Sendable {
        var event: PatternEvent<Value>
        static func < (a: Held, b: Held) -> Bool { (a.event.time, a.event.sequence) < (b.event.time, b.event.sequence) }
        static func == (a: Held, b: Held) -> Bool { (a.event.time, a.event.sequence) == (b.event.time, b.event.sequence) }
    }

    private var held = MinHeap<Held>()
    /// Per key, in time order (ties in the order given).
    private var versions: [String: [PatternEvent<Value>]] = [:]
    private var nextSequence: UInt64 = 0

    public init(streamName: String, tableName: String, outer: Bool = false, condition: @escaping Condition = { _, _ in true }) {
        precondition(streamName != tableName)
        (self.streamName, self.tableName, self.outer, self.condition) = (streamName, tableName, outer, condition)
    }

    /// Stream rows waiting for the watermark.
    public var heldRows: Int { held.count }
    /// Versions kept, over every key (counted: for tests, not for every checkpoint).
    public var versionCount: Int { versions.values.reduce(0) { $0 + $1.count } }
    /// Keys of the table.
    public var keyCount: Int { versions.count }

    /// The sequence number of the oldest stream row waiting, nil when none is. Versions do not
    /// count: the table is read again from its start.
    public var oldestHeldSequence: UInt64? { held.elements.map(\.event.sequence).min() }

    /// The sequence number the next row given will get.
    public var sequenceOfNextEvent: UInt64 { nextSequence }

    /// Adds a stream row; it waits for the watermark, or comes back out if it is late.
    public mutating func insert(_ event: PatternEvent<Value>) -> [PatternOutput<Value>] {
        var event = event
        event.sequence = nextSequence
        nextSequence += 1
        if let reason = lateness(of: event.time, watermark: watermark, after: "the rows around it were joined already") { return [.late(event, reason: reason)] }
        held.insert(Held(event: event))
        return []
    }

    /// Adds a version of the table's row for `event.key`; one whose time is outside any
    /// calendar comes back out (late, with the reason), the others are never late.
    @discardableResult
    public mutating func insertVersion(_ event: PatternEvent<Value>) -> [PatternOutput<Value>] {
        var event = event
        event.sequence = nextSequence
        nextSequence += 1
        if let reason = lateness(of: event.time, watermark: .min, after: "") { return [.late(event, reason: reason)] }
        var list = versions[event.key] ?? []
        let index = list.lastIndex { $0.time <= event.time }.map { $0 + 1 } ?? 0
        list.insert(event, at: index)
        versions[event.key] = prune(list)
        return []
    }

    /// Moves the watermark to `time` if that is later: the stream rows before it are joined, in
    /// time order.
    public mutating func advance(to time: Int64) -> [PatternOutput<Value>] {
        guard time > watermark else { return [] }
        watermark = time
        var outputs: [PatternOutput<Value>] = []
        var touched: Set<String> = []
        while let next = held.min, next.event.time < watermark {
            _ = held.popMin()
            let row = next.event
            let version = versions[row.key]?.last { $0.time <= row.time }
            if let version, condition(row, version) {
                outputs.append(.match(PatternMatch(key: row.key, rows: [MatchedRow(variable: streamName, event: row), MatchedRow(variable: tableName, event: version)])))
            } else if outer {
                outputs.append(.match(PatternMatch(key: row.key, rows: [MatchedRow(variable: streamName, event: row)])))
            }
            touched.insert(row.key)
        }
        // Once every row before the watermark is joined (a row later in this loop may need a
        // version older than the one current at the watermark).
        for key in touched { if let list = versions[key] { versions[key] = prune(list) } }
        return outputs
    }

    /// Drops the versions no stream row that is not late can need: those older than the latest
    /// one before the watermark.
    private func prune(_ list: [PatternEvent<Value>]) -> [PatternEvent<Value>] {
        guard watermark != .min, let current = list.lastIndex(where: { $0.time < watermark }), current > 0 else { return list }
        return Array(list[current...])
    }
}
