import Foundation
import Testing
@testable import SteleBroker

@Suite("Committed offsets")
struct OffsetRetentionTests {
    static func commit(group: String, topic: String, offset: Int64) -> GroupCommit {
        GroupCommit(groupId: group, memberId: "", generation: -1,
                    offsets: [.init(topic: topic, partition: 0, offset: offset, leaderEpoch: -1, metadata: "m")])
    }

    @Test func commitsSurviveAReopenAndExpireOnlyForGroupsWithoutMembers() async throws {
        let directory = NSTemporaryDirectory() + "stele-offsets-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = BrokerConfig(dataDirectory: directory)
        config.groupInitialRebalanceDelayMs = 0
        do {
            let broker = try await Broker.open(config)
            try await broker.createTopic("t")
            #expect(await broker.groups.commit(Self.commit(group: "manual", topic: "t", offset: 42)) == nil)
            #expect(await broker.groups.commit(Self.commit(group: "stale-generation", topic: "t", offset: 1).with(generation: 3)) == .illegalGeneration)
            try await broker.close()
        }
        let broker = try await Broker.open(config)
        let committed = await broker.groups.committed(group: "manual")
        #expect(committed[.init(group: "manual", topic: "t", partition: 0)]?.offset == 42)
        #expect(committed[.init(group: "manual", topic: "t", partition: 0)]?.metadata == "m")
        await broker.groups.expireOffsets(olderThan: .seconds(3600))
        #expect(await !broker.groups.committed(group: "manual").isEmpty, "recent commits stay")
        try await Task.sleep(for: .milliseconds(20))
        await broker.groups.expireOffsets(olderThan: .milliseconds(1))
        #expect(await broker.groups.committed(group: "manual").isEmpty, "an idle group's offsets expire")
        try await broker.close()
    }
}

extension GroupCommit {
    func with(generation: Int32) -> Self {
        var copy = self
        copy.generation = generation
        return copy
    }
}

@Suite("__consumer_offsets compaction")
struct OffsetCompactionTests {
    static func entry(_ group: String, _ partition: Int32, _ offset: Int64) -> (OffsetStore.Key, OffsetStore.Committed?) {
        (OffsetStore.Key(group: group, topic: "orders", partition: partition),
         OffsetStore.Committed(offset: offset, leaderEpoch: -1, metadata: nil, commitTimestamp: 0))
    }

    @Test func aGroupCommittingForeverCostsTheOpenItsLiveOffsetsAndOneSegment() async throws {
        let directory = NSTemporaryDirectory() + "stele-offsets-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let segmentBytes = 8 << 10
        do {
            let store = try await OffsetStore.open(directory: directory, flushPolicy: .os, segmentBytes: segmentBytes)
            // 4 partitions of one group committed 5,000 times each, and a group deleted.
            for round in Int64(0)..<5_000 {
                try await store.store((0..<4).map { Self.entry("g", $0, round) })
            }
            try await store.store([Self.entry("gone", 0, 7)])
            try await store.store([(OffsetStore.Key(group: "gone", topic: "orders", partition: 0), OffsetStore.Committed?.none)])
            let before = store.sizeInBytes
            let report = try await store.compact()
            #expect(report.recordsRemoved > 15_000)
            #expect(store.sizeInBytes < before / 10, "compaction left \(store.sizeInBytes) of \(before) bytes")
            try await store.close()
        }
        let reopened = try await OffsetStore.open(directory: directory, flushPolicy: .os, segmentBytes: segmentBytes)
        let committed = reopened.fetch(group: "g")
        #expect(committed.count == 4)
        #expect(committed.values.allSatisfy { $0.offset == 4_999 }, "the latest commit of each partition survives compaction")
        #expect(reopened.fetch(group: "gone").isEmpty, "a deleted offset stays deleted")
        // Live keys (5) and the records of the active segment (at most one segment of commits),
        // not the 20,000 commits made.
        let perSegment = segmentBytes / 60
        #expect(reopened.recordsLoaded <= 5 + perSegment * 2, "the open read \(reopened.recordsLoaded) records")
        try await reopened.close()
    }

    @Test func theBrokersMaintenancePassCompactsTheOffsets() async throws {
        let directory = NSTemporaryDirectory() + "stele-offsets-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = BrokerConfig(dataDirectory: directory)
        config.groupInitialRebalanceDelayMs = 0
        config.logDefaults.flushPolicy = .os
        let broker = try await Broker.open(config)
        try await broker.createTopic("t")
        // 16 MiB segments: enough commits to seal one (about 100 bytes each).
        let payload = String(repeating: "m", count: 4000)
        for offset in Int64(0)..<4_500 {
            var request = OffsetRetentionTests.commit(group: "busy", topic: "t", offset: offset)
            request.offsets[0].metadata = payload
            #expect(await broker.groups.commit(request) == nil)
        }
        let offsets = await broker.groups.offsets
        let before = offsets.sizeInBytes
        await broker.runMaintenance()
        #expect(offsets.sizeInBytes < before / 2, "\(offsets.sizeInBytes) of \(before) bytes left")
        #expect(await broker.groups.committed(group: "busy")[.init(group: "busy", topic: "t", partition: 0)]?.offset == 4_499)
        try await broker.close()
    }
}
