import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import SteleCore
@testable import SteleBroker
import SteleLog
import SteleLogTesting

/// A topic's configs changed and its partitions added, crashed at every file operation and
/// reopened from what a process crash, a power cut and a power cut with torn writes leave: the
/// topic is the old one or the new one, never offline or a mix; an acknowledged change is there,
/// and so is every acknowledged record of a new partition.
@Suite("Topic changes: crash at every file operation")
struct TopicChangeCrashTests {
    static let data = "/sim/data"

    struct Outcome {
        var configsChanged = false
        var grown = false
        var recordInNewPartition = false
    }

    static func run(on fileSystem: SimulatedFileSystem) async -> Outcome {
        var outcome = Outcome()
        guard let broker = try? await Broker.open(TopicCrashTests.config(fileSystem)) else { return outcome }
        defer { Task { try? await broker.close() } }
        do { try await broker.alterTopicConfigs("orders", ["retention.ms": "60000", "max.message.bytes": "5000"]) } catch { return outcome }
        outcome.configsChanged = true
        do { try await broker.createPartitions("orders", count: 3) } catch { return outcome }
        outcome.grown = true
        do {
            let log = try await broker.partition("orders", 2, autoCreate: false)
            var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
            builder.append(key: Array("k".utf8), value: Array("in-2".utf8))
            _ = try await log.append(builder.build())
        } catch { return outcome }
        outcome.recordInNewPartition = true
        return outcome
    }

    static func prepared() async throws -> SimulatedFileSystem {
        let fileSystem = TopicCrashTests.freshFileSystem()
        let broker = try await Broker.open(TopicCrashTests.config(fileSystem))
        try await broker.createTopic("orders", partitions: 1)
        try await broker.close()
        return fileSystem
    }

    @Test func aChangedTopicIsOldOrNewAfterACrashAnywhere() async throws {
        let complete = try await Self.prepared()
        let base = complete.operationCount
        let full = await Self.run(on: complete)
        #expect(full.configsChanged && full.grown && full.recordInNewPartition)
        let operations = complete.operationCount - base
        for crashAt in 1...operations {
            let fileSystem = try await Self.prepared()
            fileSystem.crashAtOperation = fileSystem.operationCount + crashAt
            let outcome = await Self.run(on: fileSystem)
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let broker = try await Broker.open(TopicCrashTests.config(fileSystem.crashImage(kind)))
                let label = "crash at \(crashAt)/\(operations), \(kind)"
                #expect(broker.offlineTopics.isEmpty, "\(label): \(broker.offlineTopics)")
                let topic = try #require(broker.topic("orders"), "\(label)")
                let changed = topic.config.configs == ["retention.ms": "60000", "max.message.bytes": "5000"]
                #expect(changed || topic.config.configs.isEmpty, "\(label): \(topic.config.configs)")
                if outcome.configsChanged { #expect(changed, "\(label): an acknowledged config change is gone") }
                #expect(topic.partitions[0].config.maxBatchBytes == (changed ? 5000 : LogConfig().maxBatchBytes), "\(label): the log runs with its topic's configs")
                #expect([1, 3].contains(topic.partitions.count), "\(label): \(topic.partitions.count) partitions")
                if outcome.grown { #expect(topic.partitions.count == 3, "\(label): acknowledged partitions are gone") }
                if outcome.recordInNewPartition, topic.partitions.count == 3 {
                    #expect(topic.partitions[2].logEndOffset == 1, "\(label): the acknowledged record of partition 2 is gone")
                }
                if topic.partitions.count == 1 {
                    // Whatever a growth cut short left behind, the next one completes.
                    try await broker.createPartitions("orders", count: 3)
                    #expect(broker.topic("orders")?.partitions.count == 3, "\(label): growing again")
                }
                try await broker.close()
            }
        }
    }

    @Test func aConfigChangeTakesEffectAtOnceAndRefusesWhatWouldBreakTheLog() async throws {
        let fileSystem = try await Self.prepared()
        let broker = try await Broker.open(TopicCrashTests.config(fileSystem))
        let log = try await broker.partition("orders", 0, autoCreate: false)
        try await broker.alterTopicConfigs("orders", ["max.message.bytes": "100"])
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.append(key: Array("k".utf8), value: Array(repeating: 0x61, count: 200))
        await #expect(throws: LogError.self) { _ = try await log.append(builder.build()) }
        try await broker.alterTopicConfigs("orders", ["cleanup.policy": "compact"])
        #expect(log.config.cleanupPolicy == .compact)
        await #expect(throws: BrokerError.self) { try await broker.alterTopicConfigs("orders", ["cleanup.policy": "delete"]) }
        await #expect(throws: BrokerError.self) { try await broker.alterTopicConfigs("orders", ["segment.bytes": "1"]) }
        #expect(broker.topic("orders")?.config.configs == ["cleanup.policy": "compact"], "a refused change changes nothing")
        _ = try await log.append(Self.keyed("a"))
        do {
            try await broker.createPartitions("orders", count: 2)
            Issue.record("a topic holding records grew")
        } catch BrokerError.policyViolation(_) {}
        try await broker.close()
    }

    @Test func configsAreStoredOneWayAndConcurrentChangesAllApply() async throws {
        let fileSystem = try await Self.prepared()
        let broker = try await Broker.open(TopicCrashTests.config(fileSystem))
        try await broker.alterTopicConfigs("orders", ["retention.ms": "0007", "cleanup.policy": " compact ,delete "])
        #expect(broker.topic("orders")?.config.configs == ["retention.ms": "7", "cleanup.policy": "compact,delete"])
        await #expect(throws: BrokerError.self) { try await broker.alterTopicConfigs("orders", ["cleanup.policy": ""]) }
        // Eight changes at once, each adding its own key to what is there: none is lost.
        let keys = ["retention.bytes", "segment.bytes", "segment.ms", "max.message.bytes", "delete.retention.ms", "index.interval.bytes",
                    "message.timestamp.type", "retention.ms"]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for key in keys {
                group.addTask {
                    try await broker.alterTopicConfigs("orders") { current in
                        var next = current
                        next[key] = key == "message.timestamp.type" ? "LogAppendTime" : "100000"
                        return next
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(Set(broker.topic("orders")?.config.configs.keys ?? [:].keys) == Set(keys + ["cleanup.policy"]))
        try await broker.close()
        await #expect(throws: BrokerError.self) { try await broker.alterTopicConfigs("orders", [:]) }
        await #expect(throws: BrokerError.self) { try await broker.createPartitions("orders", count: 2) }
    }

    /// A full disk while a change is written: the change is refused with a storage error and
    /// nothing of it takes effect, in memory or on disk; once space is back it goes through.
    @Test func aFullDiskRefusesAChangeAndChangesNothing() async throws {
        let fileSystem = try await Self.prepared()
        let broker = try await Broker.open(TopicCrashTests.config(fileSystem))
        let log = try await broker.partition("orders", 0, autoCreate: false)
        fileSystem.failWrites = ENOSPC
        await #expect(throws: BrokerError.self) { try await broker.alterTopicConfigs("orders", ["max.message.bytes": "100"]) }
        #expect(broker.topic("orders")?.config.configs == [:] && log.config.maxBatchBytes == LogConfig().maxBatchBytes)
        await #expect(throws: BrokerError.self) { try await broker.createPartitions("orders", count: 3) }
        #expect(broker.topic("orders")?.partitions.count == 1)
        fileSystem.failWrites = nil
        _ = try await log.append(Self.keyed("a"))
        _ = try await log.append(Self.keyed("b"))
        fileSystem.failWrites = ENOSPC
        await #expect(throws: (any Error).self) { _ = try await broker.deleteRecords("orders", partition: 0, before: 1) }
        #expect(log.logStartOffset == 0, "a deletion not written is not made")
        fileSystem.failWrites = nil
        #expect(try await broker.deleteRecords("orders", partition: 0, before: 1) == 1)
        try await broker.alterTopicConfigs("orders", ["max.message.bytes": "100"])
        #expect(log.config.maxBatchBytes == 100)
        try await broker.close()
        let reopened = try await Broker.open(TopicCrashTests.config(fileSystem))
        #expect(reopened.topic("orders")?.config.configs == ["max.message.bytes": "100"])
        #expect(try await reopened.partition("orders", 0, autoCreate: false).logStartOffset == 1)
        try await reopened.close()
    }

    static func keyed(_ value: String) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.append(key: Array("k".utf8), value: Array(value.utf8))
        return builder.build()
    }
}
