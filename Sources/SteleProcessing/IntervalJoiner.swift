/// Two keyed streams joined within an interval of event time (Flink's interval join), as a
/// state machine without I/O or clock: a row of the left side and a row of the right side pair
/// when they have the same key and `lower <= right.time - left.time <= upper`.
///
/// Rows pair as they arrive — no waiting for the watermark, so a pair is out as soon as its
/// second row is in. Each row meets the other side's rows held for its key, then is held while a
/// row of the other side that is not late could still pair with it: a left row until the
/// watermark passes `time + upper`, a right row until it passes `time - lower`. A row older than
/// the watermark is late: it pairs with nothing and comes back out for the dead letters. So
/// every pair of rows that are not late is found exactly once, whatever order they arrive in.
///
/// Bounded: past `maxRowsPerKey` held rows on one side of one key, the oldest is dropped and
/// counted in ``droppedRows`` (an interval too wide for its traffic).
public struct IntervalJoiner<Value: Sendable>: Sendable {
    /// Whether a left and a right row of the same key within the interval make a pair (the
    /// join's other conditions); true when there are none.
    public typealias Condition = @Sendable (_ left: PatternEvent<Value>, _ right: PatternEvent<Value>) -> Bool

    /// The least and greatest `right.time - left.time` of a pair, in milliseconds.
    public let lower: Int64
    public let upper: Int64
    /// The variables the pairs' rows carry (the SQL's aliases).
    public let leftName: String
    public let rightName: String
    public let maxRowsPerKey: Int
    let condition: Condition
    /// No row older than this is expected any more; `Int64.min` until it is first moved.
    public private(set) var watermark: Int64 = .min
    /// Rows dropped at the bound.
    public private(set) var droppedRows: Int64 = 0

    private struct Sides: Sendable {
        var left: [PatternEvent<Value>] = []
        var right: [PatternEvent<Value>] = []
    }

    /// When a held row can pair with nothing more.
    private struct Expiry: Comparable, Sendable {
        var at: Int64
        var sequence: UInt64
        var key: String
        static func < (a: Expiry, b: Expiry) -> Bool { (a.at, a.sequence) < (b.at, b.sequence) }
    }

    private var rows: [String: Sides] = [:]
    private var expiries = MinHeap<Expiry>()
    private var nextSequence: UInt64 = 0
    /// Held rows by sequence number, in the order given, with how many sides hold each: the
    /// oldest still held is where a replay starts.
    private var order: [UInt64] = []
    private var orderStart = 0
    private var holders: [UInt64: Int] = [:]

    public init(leftName: String, rightName: String, lower: Int64, upper: Int64, maxRowsPerKey: Int = 10_000,
                condition: @escaping Condition = { _, _ in true }) {
        precondition(lower <= upper, "an interval's lower bound is at most its upper bound")
        // With times within ±maxTime too, no sum or difference of a time and a bound overflows.
        precondition(abs(lower) <= WindowSpec.maxTime && abs(upper) <= WindowSpec.maxTime, "an interval's bounds are within ±\(WindowSpec.maxTime) ms")
        precondition(maxRowsPerKey > 0 && leftName != rightName)
        (self.leftName, self.rightName, self.lower, self.upper, self.maxRowsPerKey, self.condition) =
            (leftName, rightName, lower, upper, maxRowsPerKey, condition)
    }

    /// Rows held now, on both sides.
    public var heldRows: Int { holders.values.reduce(0, +) }

    /// The sequence number of the oldest row still held, nil when none is.
    public var oldestHeldSequence: UInt64? {
        var start = orderStart
        while start < order.count, holders[order[start]] == nil { start += 1 }
        return start < order.count ? order[start] : nil
    }

    /// The sequence number the next row given will get.
    public var sequenceOfNextEvent: UInt64 { nextSequence }

    /// Adds a row to the left side under `leftKey`, to the right side under `rightKey`, or to
    /// both (a stream joined with itself); returns the pairs it completes, or the row itself if
    /// it is late. The row's `key` is not read: each side has its own.
    public mutating func insert(_ event: PatternEvent<Value>, leftKey: String?, rightKey: String?) -> [PatternOutput<Value>] {
        var event = event
        event.sequence = nextSequence
        nextSequence += 1
        if let reason = lateness(of: event.time, watermark: watermark, after: "the rows it could join are gone") { return [.late(event, reason: reason)] }
        var outputs: [PatternOutput<Value>] = []
        if let key = leftKey {
            event.key = key
            for right in rows[key]?.right ?? [] where within(left: event.time, right: right.time) && condition(event, right) {
                outputs.append(.match(pair(key, event, right)))
            }
            hold(event, key: key, left: true)
        }
        if let key = rightKey {
            event.key = key
            for left in rows[key]?.left ?? [] where within(left: left.time, right: event.time) && condition(left, event) {
                outputs.append(.match(pair(key, left, event)))
            }
            hold(event, key: key, left: false)
        }
        return outputs
    }

    /// Moves the watermark to `time` if that is later, letting go of the rows nothing can pair
    /// with any more. An inner join has nothing to say then: the result is empty.
    public mutating func advance(to time: Int64) -> [PatternOutput<Value>] {
        guard time > watermark else { return [] }
        watermark = time
        while let next = expiries.min, next.at < watermark {
            _ = expiries.popMin()
            release(next.sequence, key: next.key)
        }
        if orderStart > 4_096, orderStart * 2 > order.count {
            order.removeFirst(orderStart)
            orderStart = 0
        }
        while orderStart < order.count, holders[order[orderStart]] == nil { orderStart += 1 }
        return []
    }

    private func within(left: Int64, right: Int64) -> Bool {
        let difference = right - left
        return difference >= lower && difference <= upper
    }

    private func pair(_ key: String, _ left: PatternEvent<Value>, _ right: PatternEvent<Value>) -> PatternMatch<Value> {
        PatternMatch(key: key, rows: [MatchedRow(variable: leftName, event: left), MatchedRow(variable: rightName, event: right)])
    }

    /// Holds a row while a row of the other side that is not late could still pair with it.
    private mutating func hold(_ event: PatternEvent<Value>, key: String, left: Bool) {
        // A left row pairs with right rows up to `time + upper`, a right row with left rows
        // down to `time - lower`: past that in the watermark, none can come.
        let at = expiry(of: event.time, left: left)
        guard watermark == .min || at >= watermark else { return }
        // In place: a copy taken out of the dictionary would copy the whole list on each append.
        var dropped: PatternEvent<Value>?
        if left {
            rows[key, default: Sides()].left.append(event)
            if rows[key]!.left.count > maxRowsPerKey { dropped = rows[key]!.left.removeFirst() }
        } else {
            rows[key, default: Sides()].right.append(event)
            if rows[key]!.right.count > maxRowsPerKey { dropped = rows[key]!.right.removeFirst() }
        }
        if let dropped {
            droppedRows += 1
            unhold(dropped.sequence)
        }
        expiries.insert(Expiry(at: at, sequence: event.sequence, key: key))
        if holders[event.sequence] == nil { order.append(event.sequence) }
        holders[event.sequence, default: 0] += 1
    }

    private mutating func release(_ sequence: UInt64, key: String) {
        guard let sides = rows[key] else { return }
        // Each side at most once: a row held on both sides has one expiry per side. Rows expire
        // about in the order they were held, so the search is short.
        if let index = sides.left.firstIndex(where: { $0.sequence == sequence && isExpired($0.time, left: true) }) {
            rows[key]!.left.remove(at: index)
            unhold(sequence)
        } else if let index = sides.right.firstIndex(where: { $0.sequence == sequence && isExpired($0.time, left: false) }) {
            rows[key]!.right.remove(at: index)
            unhold(sequence)
        }
        if let after = rows[key], after.left.isEmpty && after.right.isEmpty { rows[key] = nil }
    }

    private func expiry(of time: Int64, left: Bool) -> Int64 { left ? time + upper : time - lower }

    private func isExpired(_ time: Int64, left: Bool) -> Bool { expiry(of: time, left: left) < watermark }

    private mutating func unhold(_ sequence: UInt64) {
        guard let count = holders[sequence] else { return }
        holders[sequence] = count > 1 ? count - 1 : nil
    }
}
