import Foundation
import Testing
import SteleCore
import SteleLog

/// The writer takes at most `maxAppendGroupBytes` of batches into one group write; appends
/// beyond it wait for the next group, in order, and none is lost or reordered.
@Suite("Append groups are bounded")
struct AppendGroupBoundTests {
    @Test func aBurstLargerThanTheBoundIsWrittenInBoundedGroupsAndAllOfItLands() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.segmentBytes = 64 << 20
        config.maxAppendGroupBytes = 4096
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        let value = String(repeating: "v", count: 900)
        // 300 appenders at once: about 290 KB against a 4 KiB bound.
        let offsets = try await withThrowingTaskGroup(of: (Int, Int64).self) { group in
            for index in 0..<300 {
                group.addTask { (index, try await log.append(Batches.single(key: "k\(index)", value: value + "\(index)")).baseOffset) }
            }
            var offsets: [Int: Int64] = [:]
            for try await (index, offset) in group { offsets[index] = offset }
            return offsets
        }
        #expect(Set(offsets.values) == Set(0..<300), "every append got its own offset, none skipped")
        // What each append was told is what the log holds at that offset.
        var read: [Int64: String] = [:]
        var next: Int64 = 0
        while next < 300 {
            let result = try await log.read(from: next, maxBytes: 1 << 20)
            for (offset, record) in try Batches.decode(result.batches) where offset >= next {
                read[offset] = String(decoding: record.key ?? [], as: UTF8.self)
                next = offset + 1
            }
        }
        for (index, offset) in offsets { #expect(read[offset] == "k\(index)") }
        try await log.close()
    }

    @Test func aBatchLargerThanTheBoundIsWrittenAlone() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig.tiny
        config.segmentBytes = 64 << 20
        config.maxAppendGroupBytes = 1024
        let log = try await PartitionLog.open(directory: directory.path, config: config)
        let big = String(repeating: "b", count: 8000)
        async let first = log.append(Batches.single(key: "big", value: big))
        async let second = log.append(Batches.single(key: "small", value: "s"))
        let offsets = try await [first.baseOffset, second.baseOffset]
        #expect(Set(offsets) == [0, 1])
        let result = try await log.read(from: 0, maxBytes: 1 << 20)
        #expect(try Batches.decode(result.batches).count == 2)
        try await log.close()
    }
}
