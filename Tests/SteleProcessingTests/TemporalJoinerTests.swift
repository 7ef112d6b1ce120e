import Testing
import SteleCore
@testable import SteleProcessing

/// The temporal join against a brute-force oracle: each stream row that is not late meets, once
/// the watermark passes its time, the latest version of its key at or before its time among the
/// versions given by then; rows arrive out of order within the allowed disorder, versions too.
struct TemporalJoinerTests {
    struct Row: Sendable, Hashable {
        var isVersion: Bool
        var key: String
        var time: Int64
        var value: Int
    }

    static func traffic(seed: UInt64, count: Int, keys: Int, disorder: Int64) -> [Row] {
        var random = SplitMix64(seed: seed)
        var rows: [(arrival: Int64, row: Row)] = []
        var time: Int64 = 0
        for _ in 0..<count {
            time += Int64(random.next() % 100)
            let row = Row(isVersion: random.next() % 3 == 0, key: "k\(random.next() % UInt64(keys))", time: time, value: Int(random.next() % 100))
            let behind = random.next() % 40 == 0 ? disorder * 4 : Int64(random.next() % UInt64(disorder))
            rows.append((time + behind, row))
        }
        return rows.enumerated().sorted { ($0.element.arrival, $0.offset) < ($1.element.arrival, $1.offset) }.map(\.element.row)
    }

    static let condition: TemporalJoiner<Row>.Condition = { row, version in (row.value.value + version.value.value) % 5 != 0 }

    /// As a processor runs it: every row's time moves the newest time seen (a late stream row's
    /// does not), the watermark that minus the disorder. Outputs: stream row index → version index
    /// (-1: written alone).
    static func run(_ rows: [Row], outer: Bool, disorder: Int64) -> (outputs: [Int: Int], late: Set<Int>) {
        var joiner = TemporalJoiner<Row>(streamName: "S", tableName: "T", outer: outer, condition: condition)
        var outputs: [Int: Int] = [:]
        var late: Set<Int> = []
        var newest = Int64.min
        func collect(_ list: [PatternOutput<Row>], _ index: Int) {
            for output in list {
                switch output {
                case let .match(match):
                    let stream = Int(match.rows[0].event.sequence)
                    #expect(outputs[stream] == nil, "row \(stream) written twice")
                    outputs[stream] = match.rows.count > 1 ? Int(match.rows[1].event.sequence) : -1
                case .late: late.insert(index)
                }
            }
        }
        for (index, row) in rows.enumerated() {
            if row.isVersion {
                joiner.insertVersion(PatternEvent(key: row.key, time: row.time, value: row))
            } else {
                collect(joiner.insert(PatternEvent(key: row.key, time: row.time, value: row)), index)
            }
            if !late.contains(index) {
                newest = max(newest, row.time)
                collect(joiner.advance(to: newest - disorder), index)
            }
        }
        collect(joiner.advance(to: WindowSpec.maxTime), rows.count)
        return (outputs, late)
    }

    static func oracle(_ rows: [Row], outer: Bool, disorder: Int64) -> (outputs: [Int: Int], late: Set<Int>) {
        var late: Set<Int> = []
        var watermarks: [Int64] = []
        var newest = Int64.min
        for (index, row) in rows.enumerated() {
            let mark = newest == .min ? Int64.min : newest - disorder
            if !row.isVersion, newest != .min, row.time < mark { late.insert(index) } else { newest = max(newest, row.time) }
            watermarks.append(newest == .min ? .min : newest - disorder)
        }
        var outputs: [Int: Int] = [:]
        for (index, row) in rows.enumerated() where !row.isVersion && !late.contains(index) {
            // Joined after the first step from its arrival whose watermark passes its time.
            let step = (index..<rows.count).first { watermarks[$0] > row.time } ?? rows.count - 1
            let versions = (0...step).filter { rows[$0].isVersion && rows[$0].key == row.key && rows[$0].time <= row.time }
            let version = versions.max { (rows[$0].time, $0) < (rows[$1].time, $1) }
            if let version, condition(PatternEvent(key: row.key, time: row.time, value: row), PatternEvent(key: row.key, time: rows[version].time, value: rows[version])) {
                outputs[index] = version
            } else if outer {
                outputs[index] = -1
            }
        }
        return (outputs, late)
    }

    @Test(arguments: [(UInt64(1), false), (2, true), (3, false), (4, true)])
    func meetsTheVersionCurrentAtItsTime(seed: UInt64, outer: Bool) {
        let rows = Self.traffic(seed: seed, count: 3_000, keys: 5, disorder: 300)
        let found = Self.run(rows, outer: outer, disorder: 300)
        let expected = Self.oracle(rows, outer: outer, disorder: 300)
        #expect(found.late == expected.late)
        #expect(!found.late.isEmpty)
        #expect(found.outputs == expected.outputs)
        #expect(expected.outputs.values.filter { $0 >= 0 }.count > 500)
        if outer { #expect(expected.outputs.values.contains(-1)) }
    }

    /// One version per key is kept once the watermark has passed the others.
    @Test func keepsOneVersionPerKeyBehindTheWatermark() {
        var joiner = TemporalJoiner<Int>(streamName: "S", tableName: "T")
        for index in 0..<10_000 {
            joiner.insertVersion(PatternEvent(key: "k\(index % 10)", time: Int64(index), value: index))
            _ = joiner.insert(PatternEvent(key: "k\(index % 10)", time: Int64(index), value: index))
            _ = joiner.advance(to: Int64(index) - 50)
        }
        #expect(joiner.keyCount == 10)
        #expect(joiner.versionCount <= 10 + 60)
        #expect(joiner.heldRows <= 51)
    }
}
