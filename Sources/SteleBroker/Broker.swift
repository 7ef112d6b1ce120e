import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SteleLog
import SteleCompression

/// Settings of a broker process.
public struct BrokerConfig: Sendable {
    public var dataDirectory: String
    /// Partitions of a topic created without a count (auto-creation, or -1 in CreateTopics v4+).
    public var defaultPartitions = 1
    /// Create a topic on first produce or metadata request for it, as Kafka does by default.
    public var autoCreateTopics = true
    /// Log settings every topic starts from (its own configs override them).
    public var logDefaults = LogConfig()
    /// How often retention and compaction run over every partition (Kafka
    /// `log.retention.check.interval.ms`, 5 minutes).
    public var maintenanceInterval: Duration = .seconds(300)
    /// How long a new group waits for more members before its first rebalance completes
    /// (Kafka `group.initial.rebalance.delay.ms`, 3 s).
    public var groupInitialRebalanceDelayMs: Int64 = 3000
    /// How long committed offsets of a group without members are kept (Kafka
    /// `offsets.retention.minutes`, 7 days).
    public var offsetsRetention: Duration = .seconds(7 * 24 * 3600)

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
}

/// Topics and their partition logs in a data directory, and the semantics the Kafka protocol
/// needs on top of the log: topic admin, auto-creation, and waking parked fetches.
///
/// Layout: `<data>/topics/<topic>/topic.json` and one log directory per partition,
/// `<data>/topics/<topic>/<partition>/`. A topic exists once its `topic.json` is in place.
public final class Broker: Sendable {
    public let config: BrokerConfig
    private let topics = Mutex<[String: Topic]>([:])
    /// Serializes topic creation and deletion (they do file I/O and must not interleave).
    private let adminLock = AsyncLock()
    public let arrivals = ArrivalNotifier()
    public let producerIds: ProducerIdAllocator
    /// The coordinator of every consumer group (a single-node broker coordinates them all).
    public let groups: GroupCoordinator
    private let maintenance = Mutex<Task<Void, Never>?>(nil)
    /// Append and fetch counters and latencies.
    public let metrics = BrokerMetrics()

    public final class Topic: Sendable {
        public let name: String
        public let config: TopicConfig
        public let partitions: [PartitionLog]

        init(name: String, config: TopicConfig, partitions: [PartitionLog]) {
            (self.name, self.config, self.partitions) = (name, config, partitions)
        }
    }

    private var topicsDirectory: String { config.dataDirectory + "/topics" }

    private init(config: BrokerConfig, offsets: OffsetStore) throws {
        self.config = config
        self.producerIds = try ProducerIdAllocator(path: config.dataDirectory + "/producer-ids")
        self.groups = GroupCoordinator(offsets: offsets, initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs)
    }

    /// Opens every topic under the data directory, recovering each partition log.
    public static func open(_ config: BrokerConfig) async throws -> Broker {
        try FileManager.default.createDirectory(atPath: config.dataDirectory + "/topics", withIntermediateDirectories: true)
        let offsets = try await OffsetStore.open(directory: config.dataDirectory + "/__consumer_offsets", flushPolicy: config.logDefaults.flushPolicy)
        let broker = try Broker(config: config, offsets: offsets)
        await broker.groups.start()
        for name in try FileManager.default.contentsOfDirectory(atPath: broker.topicsDirectory).sorted() {
            let directory = broker.topicsDirectory + "/" + name
            // A topic half-created or half-deleted by a crash has no topic.json: finish removing it.
            guard TopicName.validate(name) == nil, let data = FileManager.default.contents(atPath: directory + "/topic.json") else {
                if TopicName.validate(name) == nil { try? FileManager.default.removeItem(atPath: directory) }
                continue
            }
            let topicConfig = try JSONDecoder().decode(TopicConfig.self, from: data)
            let topic = try await broker.openTopic(name: name, config: topicConfig)
            broker.topics.withLock { $0[name] = topic }
        }
        broker.startMaintenance()
        return broker
    }

    /// Runs retention (delete policy) and compaction (compact policy) on every partition every
    /// `maintenanceInterval`, on the logs' maintenance thread, never blocking appends.
    private func startMaintenance() {
        let interval = config.maintenanceInterval
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.runMaintenance()
            }
        }
        maintenance.withLock { $0 = task }
    }

    /// One pass of retention and compaction over every partition; errors are per partition.
    public func runMaintenance() async {
        await groups.expireOffsets(olderThan: config.offsetsRetention)
        for topic in topics.withLock({ Array($0.values) }) {
            for log in topic.partitions {
                if log.config.cleanupPolicy.contains(.delete) { _ = try? await log.enforceRetention() }
                if log.config.cleanupPolicy.contains(.compact) { _ = try? await log.compact() }
            }
        }
    }

    private func openTopic(name: String, config topicConfig: TopicConfig) async throws -> Topic {
        let logConfig = try topicConfig.logConfig(defaults: config.logDefaults)
        var logs: [PartitionLog] = []
        for index in 0..<topicConfig.partitions {
            logs.append(try await PartitionLog.open(directory: topicsDirectory + "/\(name)/\(index)", config: logConfig,
                                                    decompressor: KafkaCodecs()))
        }
        return Topic(name: name, config: topicConfig, partitions: logs)
    }

    public var topicNames: [String] { topics.withLock { $0.keys.sorted() } }

    public func topic(_ name: String) -> Topic? { topics.withLock { $0[name] } }

    /// Creates a topic. `partitions` nil uses the broker default.
    @discardableResult
    public func createTopic(_ name: String, partitions: Int? = nil, configs: [String: String] = [:], validateOnly: Bool = false) async throws -> Topic? {
        if let problem = TopicName.validate(name) { throw BrokerError.invalidTopic(problem) }
        let count = partitions ?? config.defaultPartitions
        guard count >= 1, count <= 10_000 else { throw BrokerError.invalidPartitions("partitions must be between 1 and 10000, got \(count)") }
        let topicConfig = TopicConfig(partitions: count, configs: configs)
        _ = try topicConfig.logConfig(defaults: config.logDefaults)
        return try await adminLock.withLock {
            if self.topic(name) != nil { throw BrokerError.topicAlreadyExists(name) }
            if validateOnly { return nil }
            let directory = self.topicsDirectory + "/" + name
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let topic = try await self.openTopic(name: name, config: topicConfig)
            try Self.writeDurably(try JSONEncoder().encode(topicConfig), to: directory + "/topic.json")
            self.topics.withLock { $0[name] = topic }
            return topic
        }
    }

    /// Deletes a topic and all its data.
    public func deleteTopic(_ name: String) async throws {
        try await adminLock.withLock {
            guard let topic = self.topics.withLock({ $0.removeValue(forKey: name) }) else {
                throw BrokerError.unknownTopicOrPartition(name, -1)
            }
            for log in topic.partitions { try? await log.close() }
            let directory = self.topicsDirectory + "/" + name
            // Removing topic.json first makes the deletion final even if the process dies midway.
            try? FileManager.default.removeItem(atPath: directory + "/topic.json")
            try FileManager.default.removeItem(atPath: directory)
            self.arrivals.notifyAll()
        }
    }

    /// The log of `topic`/`partition`, creating the topic when auto-creation is on.
    public func partition(_ topicName: String, _ index: Int32, autoCreate: Bool) async throws -> PartitionLog {
        var topic = self.topic(topicName)
        if topic == nil, autoCreate, config.autoCreateTopics {
            do { topic = try await createTopic(topicName) } catch BrokerError.topicAlreadyExists(_) { topic = self.topic(topicName) }
        }
        guard let topic, index >= 0, Int(index) < topic.partitions.count else { throw BrokerError.unknownTopicOrPartition(topicName, index) }
        return topic.partitions[Int(index)]
    }

    /// Closes every log (flushing it).
    public func close() async throws {
        maintenance.withLock { $0?.cancel() }
        await groups.stop()
        try await groups.offsets.close()
        let all = topics.withLock { topics in
            defer { topics.removeAll() }
            return Array(topics.values)
        }
        for topic in all { for log in topic.partitions { try await log.close() } }
        arrivals.notifyAll()
    }

    /// Writes `data` to `path` so that a crash leaves either the old file or the new one.
    static func writeDurably(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BrokerError.storage("open \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        Glibc.close(fd)
        guard written == data.count, synced == 0 else { throw BrokerError.storage("write \(temporary): \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else { throw BrokerError.storage("rename \(temporary): \(String(cString: strerror(errno)))") }
        let directory = Glibc.open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            Glibc.close(directory)
        }
    }
}
