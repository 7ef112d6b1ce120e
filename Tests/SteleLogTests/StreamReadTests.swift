import Foundation
import Testing
import SteleCore
@testable import SteleLog
import SteleLogTesting

@Suite("Key index: stream reads and versions")
struct StreamReadTests {
    /// 300 events over 5 streams, interleaved, in batches of 1–3 records.
    static func fill(_ log: PartitionLog) async throws -> [String: [String]] {
        var expected: [String: [String]] = [:]
        var index = 0
        while index < 300 {
            var records: [(String?, String?)] = []
            for _ in 0..<(1 + index % 3) where index < 300 {
                let stream = "stream-\(index * 7 % 5)"
                records.append((stream, "event-\(index)"))
                expected[stream, default: []].append("event-\(index)")
                index += 1
            }
            records.append((nil, "unkeyed"))
            _ = try await log.append(Batches.make(records))
        }
        return expected
    }

    @Test func readsEveryRecordOfAStreamInOrderFromAnyVersion() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        let expected = try await Self.fill(log)
        #expect(log.segmentBaseOffsets.count > 4)
        for (stream, events) in expected {
            let key = Array(stream.utf8)
            let all = try await log.readStream(key: key)
            #expect(all.map { string($0.value)! } == events)
            #expect(all.map(\.version) == Array(0..<Int64(events.count)))
            #expect(all.allSatisfy { $0.key == key })
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.offset < $1.offset })
            let tail = try await log.readStream(key: key, fromVersion: 37, maxRecords: 5)
            #expect(tail.map { string($0.value)! } == Array(events[37..<42]))
            #expect(tail.first?.version == 37)
            #expect(try await log.streamCount(key: key) == Int64(events.count))
        }
        #expect(try await log.readStream(key: Array("absent".utf8)).isEmpty)
        #expect(try await log.streamCount(key: Array("absent".utf8)) == 0)
        try await log.close()
    }

    @Test func streamReadsMatchTheLogAfterReopenAndIndexLoss() async throws {
        let directory = TemporaryDirectory()
        var expected: [String: [String]] = [:]
        do {
            let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
            expected = try await Self.fill(log)
            try await log.close()
        }
        // Delete some key indexes and damage others: they are rebuilt from the log.
        let keyIndexes = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".keyindex") }.sorted()
        for (position, name) in keyIndexes.enumerated() {
            let path = directory.path + "/" + name
            if position % 3 == 0 { try FileManager.default.removeItem(atPath: path) }
            if position % 3 == 1 {
                var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                bytes[bytes.count - 1] ^= 0x5A
                try bytes.write(to: URL(fileURLWithPath: path))
            }
        }
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        for (stream, events) in expected {
            #expect(try await log.readStream(key: Array(stream.utf8)).map { string($0.value)! } == events)
            #expect(try await log.streamCount(key: Array(stream.utf8)) == Int64(events.count))
        }
        try await log.close()
    }

    @Test func versionCountsStayExactWhileAppending() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        let key = Array("acc-1".utf8)
        for index in 0..<120 {
            #expect(try await log.streamCount(key: key) == Int64(index))
            _ = try await log.append(Batches.make([("acc-1", "\(index)"), ("other-\(index % 9)", "x")]))
        }
        #expect(try await log.streamCount(key: key) == 120)
        try await log.close()
    }

    @Test func streamRecordsCarryHeadersAndTombstones() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        let headers = [RecordHeader(key: "stele.type", value: Array("Deposited".utf8)), RecordHeader(key: "n", value: nil)]
        _ = try await log.append(Batches.make([("s", "v1")], headers: headers))
        _ = try await log.append(Batches.make([("s", nil)]))
        let stream = try await log.readStream(key: Array("s".utf8))
        #expect(stream.count == 2)
        #expect(stream[0].headers == headers)
        #expect(stream[1].value == nil)
        try await log.close()
    }

    @Test func timestampLookupFindsTheFirstRecordAtOrAfter() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        let base: Int64 = 1_700_000_000_000
        // Out-of-order producer timestamps inside an overall ascent, as CreateTime allows.
        let times = (0..<150).map { base + Int64($0) * 1000 + ($0 % 4 == 0 ? -1500 : 0) }
        for (index, time) in times.enumerated() {
            _ = try await log.append(Batches.single(key: "k", value: "\(index)", timestamp: time))
        }
        func expected(_ target: Int64) -> Int64? {
            times.firstIndex { $0 >= target }.map(Int64.init)
        }
        for target in [base - 10_000, base, base + 500, base + 47_200, base + 120_000, base + 149_000, base + 200_000] {
            #expect(try await log.offset(atOrAfterTimestamp: target) == expected(target), "target \(target - base)")
        }
        try await log.close()
    }

    /// ListOffsets' max-timestamp spec: the first record with the largest timestamp, found in a
    /// sealed segment or in the active one (whose visible batches are read), never the last.
    @Test func theRecordWithTheLargestTimestampIsFoundWhereverItIs() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        #expect(try await log.recordWithMaxTimestamp() == nil, "an empty log has none")
        let base: Int64 = 1_700_000_000_000
        // The peak early (sealed by the tiny segments that follow), then lower times.
        var times = (0..<120).map { base + Int64($0) * 10 }
        times[7] = base + 1_000_000
        times[9] = base + 1_000_000
        for (index, time) in times.enumerated() {
            _ = try await log.append(Batches.single(key: "k", value: "\(index)", timestamp: time))
        }
        var found = try await log.recordWithMaxTimestamp()
        #expect(found?.offset == 7 && found?.timestamp == base + 1_000_000, "\(String(describing: found))")
        // A new peak in the active segment.
        _ = try await log.append(Batches.single(key: "k", value: "peak", timestamp: base + 2_000_000))
        _ = try await log.append(Batches.single(key: "k", value: "after", timestamp: base))
        found = try await log.recordWithMaxTimestamp()
        #expect(found?.offset == 120 && found?.timestamp == base + 2_000_000, "\(String(describing: found))")
        try await log.close()
    }
}
