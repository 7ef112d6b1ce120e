import Testing
import SteleCore
@testable import SteleProcessing

/// The interval join against a brute-force oracle: every pair of rows of the same key, one from
/// each side, that were not late when they arrived and lie within the interval — each exactly
/// once, whatever order rows arrive in within the allowed disorder.
struct IntervalJoinerTests {
    /// A row: its side (0 left, 1 right, 2 both — a stream joined with itself), key and time.
    struct Row: Sendable, Hashable {
        var side: Int
        var key: String
        var time: Int64
        var value: Int
    }

    static func traffic(seed: UInt64, count: Int, keys: Int, disorder: Int64, selfJoin: Bool) -> [Row] {
        var random = SplitMix64(seed: seed)
        var rows: [(arrival: Int64, row: Row)] = []
        var time: Int64 = 0
        for _ in 0..<count {
            time += Int64(random.next() % 200)
            let side = selfJoin ? 2 : Int(random.next() % 2)
            let row = Row(side: side, key: "k\(random.next() % UInt64(keys))", time: time, value: Int(random.next() % 100))
            // Now and then one far behind: late.
            let behind = random.next() % 50 == 0 ? disorder * 3 : Int64(random.next() % UInt64(disorder))
            rows.append((time + behind, row))
        }
        return rows.enumerated().sorted { ($0.element.arrival, $0.offset) < ($1.element.arrival, $1.offset) }.map(\.element.row)
    }

    static let condition: IntervalJoiner<Row>.Condition = { left, right in (left.value.value + right.value.value) % 3 != 0 }

    /// Runs the joiner as a processor does (the watermark: newest time seen minus the disorder);
    /// returns the pairs (by the rows' indexes in arrival order) and the late rows.
    static func run(_ rows: [Row], lower: Int64, upper: Int64, disorder: Int64) -> (pairs: [[Int]], late: Set<Int>) {
        var joiner = IntervalJoiner<Row>(leftName: "L", rightName: "R", lower: lower, upper: upper, condition: condition)
        var pairs: [[Int]] = []
        var late: Set<Int> = []
        var newest = Int64.min
        for (index, row) in rows.enumerated() {
            let outputs = joiner.insert(PatternEvent(key: row.key, time: row.time, value: row),
                                        leftKey: row.side != 1 ? row.key : nil, rightKey: row.side != 0 ? row.key : nil)
            for output in outputs {
                switch output {
                case let .match(match): pairs.append(match.rows.map { Int($0.event.sequence) })
                case .late: late.insert(index)
                }
            }
            if !late.contains(index) {
                newest = max(newest, row.time)
                _ = joiner.advance(to: newest - disorder)
            }
        }
        return (pairs, late)
    }

    /// The pairs by definition: late as the processor judges it (before the newest time seen
    /// minus the disorder), every other pair tried.
    static func oracle(_ rows: [Row], lower: Int64, upper: Int64, disorder: Int64) -> (pairs: [[Int]], late: Set<Int>) {
        var late: Set<Int> = []
        var newest = Int64.min
        for (index, row) in rows.enumerated() {
            if newest != .min, row.time < newest - disorder { late.insert(index); continue }
            newest = max(newest, row.time)
        }
        var pairs: [[Int]] = []
        for (l, left) in rows.enumerated() where !late.contains(l) && left.side != 1 {
            for (r, right) in rows.enumerated() where !late.contains(r) && right.side != 0 && right.key == left.key {
                let difference = right.time - left.time
                guard difference >= lower, difference <= upper,
                      condition(PatternEvent(key: left.key, time: left.time, value: left), PatternEvent(key: right.key, time: right.time, value: right)) else { continue }
                pairs.append([l, r])
            }
        }
        return (pairs, late)
    }

    @Test(arguments: [
        (UInt64(1), Int64(0), Int64(1_000), false),
        (2, -500, 500, false),
        (3, 200, 2_000, false),
        (4, -3_000, -100, false),
        (5, -1_000, 1_000, true),
        (6, -200, 3_000, true),
    ])
    func findsEveryPairOnce(seed: UInt64, lower: Int64, upper: Int64, selfJoin: Bool) {
        let rows = Self.traffic(seed: seed, count: 3_000, keys: 7, disorder: 400, selfJoin: selfJoin)
        let found = Self.run(rows, lower: lower, upper: upper, disorder: 400)
        let expected = Self.oracle(rows, lower: lower, upper: upper, disorder: 400)
        #expect(found.late == expected.late)
        #expect(!found.late.isEmpty)
        #expect(found.pairs.count == Set(found.pairs).count, "a pair found twice")
        #expect(Set(found.pairs) == Set(expected.pairs))
        #expect(expected.pairs.count > 50)
    }

    /// Rows are let go of once the watermark passes where a partner could still come: the held
    /// state stays bounded by the interval, and the replay point moves on.
    @Test func stateIsBoundedByTheInterval() {
        var joiner = IntervalJoiner<Int>(leftName: "L", rightName: "R", lower: 0, upper: 1_000)
        for index in 0..<10_000 {
            let time = Int64(index) * 100
            _ = joiner.insert(PatternEvent(key: "k\(index % 10)", time: time, value: index), leftKey: index % 2 == 0 ? "k\(index % 10)" : nil,
                              rightKey: index % 2 == 1 ? "k\(index % 10)" : nil)
            _ = joiner.advance(to: time)
        }
        #expect(joiner.heldRows <= 12)
        #expect((joiner.oldestHeldSequence ?? 0) >= 9_980)
    }

    @Test func boundsPerKeyDropTheOldest() {
        var joiner = IntervalJoiner<Int>(leftName: "L", rightName: "R", lower: 0, upper: 1_000_000, maxRowsPerKey: 5)
        for index in 0..<8 { _ = joiner.insert(PatternEvent(key: "k", time: Int64(index), value: index), leftKey: "k", rightKey: nil) }
        #expect(joiner.droppedRows == 3)
        #expect(joiner.heldRows == 5)
        let pairs = joiner.insert(PatternEvent(key: "k", time: 10, value: 99), leftKey: nil, rightKey: "k")
        #expect(pairs.count == 5)
        #expect(joiner.oldestHeldSequence == 3)
    }
}
