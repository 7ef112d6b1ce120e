import Foundation
import Testing
import SteleKafkaProtocol
@testable import SteleBroker

@Suite("Committed offsets")
struct OffsetRetentionTests {
    static func commit(group: String, topic: String, offset: Int64) -> OffsetCommitRequest {
        OffsetCommitRequest(groupId: group, generationId: -1, memberId: "",
                                   topics: [(topic, [.init(partition: 0, offset: offset, leaderEpoch: -1, metadata: "m")])])
    }

    @Test func commitsSurviveAReopenAndExpireOnlyForGroupsWithoutMembers() async throws {
        let directory = NSTemporaryDirectory() + "stele-offsets-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = BrokerConfig(dataDirectory: directory)
        config.groupInitialRebalanceDelayMs = 0
        do {
            let broker = try await Broker.open(config)
            try await broker.createTopic("t")
            #expect(await broker.groups.commit(Self.commit(group: "manual", topic: "t", offset: 42), version: 7) == nil)
            #expect(await broker.groups.commit(Self.commit(group: "stale-generation", topic: "t", offset: 1).with(generation: 3), version: 7) == .illegalGeneration)
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

extension OffsetCommitRequest {
    func with(generation: Int32) -> Self {
        var copy = self
        copy.generationId = generation
        return copy
    }
}
