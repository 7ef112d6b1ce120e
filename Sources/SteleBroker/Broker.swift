import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SteleLog
import SteleCompression
import SteleAsync
import SteleCore

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
    /// Consumer protocol (KIP-848): how long a member may go without a heartbeat (Kafka's
    /// `group.consumer.session.timeout.ms`) and how often members are told to send one
    /// (`group.consumer.heartbeat.interval.ms`).
    public var groupConsumerSessionTimeoutMs: Int64 = 45_000
    public var groupConsumerHeartbeatIntervalMs: Int32 = 5_000
    /// How long committed offsets of a group without members are kept (Kafka
    /// `offsets.retention.minutes`, 7 days).
    public var offsetsRetention: Duration = .seconds(7 * 24 * 3600)
    /// How long a transactional id with no transaction open is kept after its last change
    /// (Kafka `transactional.id.expiration.ms`, 7 days).
    public var transactionalIdExpiration: Duration = .seconds(7 * 24 * 3600)
    /// Where every file of the data directory is read and written: the real file system, or
    /// the simulated one the crash tests stop at every operation (then no lock is taken: a
    /// lock belongs to a real directory).
    public var fileSystem: any FileSystem = POSIXFileSystem()

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
}

/// Topics and their partition logs in a data directory, and the semantics the Kafka protocol
/// needs on top of the log: topic admin, auto-creation, and waking parked fetches.
///
/// Layout: `<data>/topics/<topic>/topic.json` and one log directory per partition,
/// `<data>/topics/<topic>/<partition>/`. A topic exists once its `topic.json` is in place.
public final class Broker: Sendable {
    public let config: BrokerConfig
    let topics = Mutex<[String: Topic]>([:])
    /// Serializes topic creation and deletion (they do file I/O and must not interleave).
    let adminLock = AsyncLock()
    public let arrivals = ArrivalNotifier()
    /// Mirror topics' lag, reported by a mirror running in this process.
    public let mirrorLag = MirrorLagBoard()
    public let producerIds: ProducerIdAllocator
    /// The coordinator of every consumer group (a single-node broker coordinates them all).
    public let groups: GroupCoordinator
    /// The coordinator of every transactional id (a single-node broker coordinates them all).
    public let transactions: TransactionCoordinator
    /// The event store's partition gates and transactional ids (see `MultiStreamAppend.swift`).
    public let storeGates = PartitionGates()
    public let storeTransactionalIds = TransactionalIdPool(prefix: "__stele_store_", count: 4)
    /// Incremental fetch sessions (KIP-227), shared by every connection: a consumer that
    /// reconnects keeps its session.
    public let fetchSessions = FetchSessions()
    private let maintenance = Mutex<Task<Void, Never>?>(nil)
    /// Set by ``close()`` under the admin lock: no topic change starts after it.
    private let isClosed = Mutex(false)
    /// Set by ``close()`` just before it closes the partition logs.
    private let topicsClosed = Mutex(false)
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

    var topicsDirectory: String { config.dataDirectory + "/topics" }
    /// The users SASL authenticates, with their SCRAM credentials.
    public let credentials: CredentialStore
    /// The ACLs the server's authorizer decides with (`--authorizer acl`).
    public let acls: AclStore
    /// The HTTP API's bearer tokens.
    public let tokens: TokenStore
    /// Client quotas (AlterClientQuotas), and the byte rates measured against them.
    public let quotas: QuotaStore
    private let quotaRates = Mutex(QuotaRates())
    /// This process's ownership of the data directory, released at ``close()``.
    private let lock: DataDirectoryLock?
    var files: any FileSystem { config.fileSystem }
    /// Topics whose files are there but cannot be served (metadata missing or damaged, a
    /// partition directory gone, a log that failed to open), by name, with the reason. Their
    /// data stays on disk; the name cannot be created again until the topic is deleted.
    private let offline = Mutex<[String: String]>([:])

    private init(config: BrokerConfig, offsets: OffsetStore, transactions: TransactionCoordinator, lock: DataDirectoryLock?) throws {
        self.config = config
        self.lock = lock
        self.transactions = transactions
        self.producerIds = try ProducerIdAllocator(path: config.dataDirectory + "/producer-ids", fileSystem: config.fileSystem)
        self.credentials = CredentialStore(directory: config.dataDirectory, fileSystem: config.fileSystem)
        self.acls = AclStore(directory: config.dataDirectory, fileSystem: config.fileSystem)
        self.tokens = TokenStore(directory: config.dataDirectory, fileSystem: config.fileSystem)
        self.quotas = QuotaStore(directory: config.dataDirectory, fileSystem: config.fileSystem)
        self.groups = GroupCoordinator(offsets: offsets, initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
                                       consumerSessionTimeoutMs: config.groupConsumerSessionTimeoutMs,
                                       consumerHeartbeatIntervalMs: config.groupConsumerHeartbeatIntervalMs)
    }

    /// Opens every topic under the data directory, recovering each partition log. Takes the data
    /// directory's lock first: a second process on the same directory is refused with
    /// ``DataDirectoryLockError/held(path:holder:)``.
    public static func open(_ config: BrokerConfig) async throws -> Broker {
        let lock = config.fileSystem is POSIXFileSystem ? try DataDirectoryLock.acquire(config.dataDirectory) : nil
        do {
            try config.fileSystem.createDirectoryDurably(config.dataDirectory + "/topics")
            let offsets = try await OffsetStore.open(directory: config.dataDirectory + "/__consumer_offsets", flushPolicy: config.logDefaults.flushPolicy,
                                                     fileSystem: config.fileSystem)
            // The coordinator reaches the broker (its partitions, its producer ids) only once it
            // exists: the broker owns the coordinator, so the coordinator holds it weakly.
            let reference = BrokerReference()
            let transactions = try await TransactionCoordinator.open(
                directory: config.dataDirectory + "/__transaction_state", fileSystem: config.fileSystem,
                writeMarker: { partition, marker, producerId, epoch in
                    try await reference.broker?.writeMarker(marker, to: partition, producerId: producerId, epoch: epoch)
                },
                writeOffsets: { pending in try await reference.broker?.storeTransactionalOffsets(pending) },
                writeBatch: { partition, bytes, expectations in
                    guard let broker = reference.broker else { throw BrokerError.storage("the broker is closed") }
                    return try await broker.writeTransactionBatch(bytes, to: partition, expecting: expectations)
                },
                holdsOpen: { partition, producerId in
                    guard let topic = reference.broker?.topic(partition.topic), topic.partitions.indices.contains(Int(partition.partition)) else { return false }
                    return topic.partitions[Int(partition.partition)].openTransactions[producerId] != nil
                },
                nextProducerId: {
                    guard let broker = reference.broker else { throw BrokerError.storage("the broker is closed") }
                    return try broker.producerIds.next()
                })
            let broker = try Broker(config: config, offsets: offsets, transactions: transactions, lock: lock)
            reference.set(broker)
            await broker.groups.start()
            try await broker.openTopics()
            // Ids must never match batches a partition still holds, whatever the file said.
            let highest = max(broker.topics.withLock { Array($0.values) }.flatMap(\.partitions).compactMap(\.highestProducerId).max() ?? -1,
                              transactions.highestProducerId ?? -1)
            broker.producerIds.raise(atLeast: highest + 1)
            // Decided transactions complete before any client is served; then any transaction a
            // partition holds open that the coordinator does not is aborted.
            await transactions.start()
            _ = try await broker.abortStrayTransactions()
            broker.startMaintenance()
            return broker
        } catch {
            lock?.release()
            throw error
        }
    }

    /// Opens what `topics/` holds. Nothing here deletes a topic's data: a directory that cannot be
    /// served goes offline with the reason; only the leftovers of an explicit deletion and of a
    /// creation that was never acknowledged (both named with a `~`, which no topic name has) are
    /// removed.
    private func openTopics() async throws {
        for entry in try files.contentsOfDirectory(topicsDirectory).sorted() {
            let directory = topicsDirectory + "/" + entry
            if entry.contains(Self.deletedMarker) || entry.contains(Self.creatingMarker) {
                try files.removeTree(directory)
                try files.syncDirectory(topicsDirectory)
                continue
            }
            // Not a topic's directory (a file an operator left, say): left alone.
            guard TopicName.validate(entry) == nil else { continue }
            do {
                var topicConfig = try Self.readTopicConfig(directory + "/topic.json", files)
                if topicConfig.topicId == nil {
                    // Made before topic ids: it gets one now, kept from then on. Should the write
                    // fail, it is served without one (the zero id) rather than with an id that
                    // changes at every start, which clients take for a topic deleted and made again.
                    var withId = topicConfig
                    withId.topicId = UUID()
                    if (try? files.writeFileDurably(directory + "/topic.json", contents: Array(try JSONEncoder().encode(withId)))) != nil {
                        topicConfig = withId
                    }
                }
                let topic = try await openTopic(name: entry, config: topicConfig, existing: true)
                topics.withLock { $0[entry] = topic }
            } catch {
                offline.withLock { $0[entry] = "\(error)" }
            }
        }
    }

    /// Reads a topic's metadata, naming the file and what is wrong with it.
    static func readTopicConfig(_ path: String, _ files: any FileSystem) throws -> TopicConfig {
        guard files.fileExists(path) else {
            throw BrokerError.storage("\(path) is missing: the topic's metadata is gone, its data is kept; restore the file or delete the topic")
        }
        let data: Data
        do { data = Data(try files.readFile(path)) } catch {
            throw BrokerError.storage("\(path) cannot be read (\(error)); the topic's data is kept")
        }
        let topicConfig: TopicConfig
        do { topicConfig = try JSONDecoder().decode(TopicConfig.self, from: data) } catch {
            throw BrokerError.storage("\(path) is damaged (\(error)); the topic's data is kept")
        }
        guard (1...TopicConfig.maxPartitions).contains(topicConfig.partitions) else {
            throw BrokerError.storage("\(path) says \(topicConfig.partitions) partitions, outside 1…\(TopicConfig.maxPartitions)")
        }
        return topicConfig
    }

    /// Topics present on disk that cannot be served, with the reason (for logs, HTTP and CLI).
    public var offlineTopics: [String: String] { offline.withLock { $0 } }

    /// Partitions stopped by a storage failure (a failed write or fsync), with the failure: they
    /// refuse appends until a restart recovers them from what is on disk.
    public var failedPartitions: [(topic: String, partition: Int, reason: String)] {
        topics.withLock { Array($0.values) }.sorted { $0.name < $1.name }.flatMap { topic in
            topic.partitions.enumerated().compactMap { index, log in log.storageFailure.map { (topic.name, index, $0.description) } }
        }
    }

    /// Why `name` is offline, if it is.
    public func offlineReason(_ name: String) -> String? { offline.withLock { $0[name] } }

    /// A directory being created (`name~creating-…`) or deleted (`name~deleted-…`).
    static let creatingMarker = "~creating-"
    static let deletedMarker = "~deleted-"

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
        _ = try? await groups.offsets.compact()
        await transactions.expireIdle(olderThan: config.transactionalIdExpiration)
        try? await transactions.compact()
        for topic in topics.withLock({ Array($0.values) }) {
            for log in topic.partitions {
                if log.config.cleanupPolicy.contains(.delete) { _ = try? await log.enforceRetention() }
                if log.config.cleanupPolicy.contains(.compact) { _ = try? await log.compact() }
            }
        }
    }

    /// Opens a topic's partition logs. An existing topic must have every partition directory:
    /// one that vanished is not recreated empty (that would hand out its offsets again).
    func openTopic(name: String, config topicConfig: TopicConfig, existing: Bool) async throws -> Topic {
        let logConfig = try topicConfig.logConfig(defaults: config.logDefaults)
        var logs: [PartitionLog] = []
        do {
            for index in 0..<topicConfig.partitions {
                let directory = topicsDirectory + "/\(name)/\(index)"
                if existing, !files.isDirectory(directory) {
                    throw BrokerError.storage("\(directory) is missing: partition \(index) of \(name) lost its directory")
                }
                logs.append(try await PartitionLog.open(directory: directory, config: logConfig, fileSystem: files, decompressor: KafkaCodecs()))
            }
        } catch {
            for log in logs { try? await log.close() }
            throw error
        }
        return Topic(name: name, config: topicConfig, partitions: logs)
    }

    public var topicNames: [String] { topics.withLock { $0.keys.sorted() } }

    /// Every open topic's number of partitions.
    public var partitionCounts: [String: Int32] { topics.withLock { $0.mapValues { Int32($0.partitions.count) } } }

    public func topic(_ name: String) -> Topic? { topics.withLock { $0[name] } }

    /// The topic with Kafka topic id `id`, if one is open.
    public func topic(id: UUID) -> Topic? { topics.withLock { $0.values.first { $0.config.topicId == id } } }

    /// Creates a topic. `partitions` nil uses the broker default.
    @discardableResult
    public func createTopic(_ name: String, partitions: Int? = nil, configs: [String: String] = [:], validateOnly: Bool = false,
                            eventCategory: Bool = false) async throws -> Topic? {
        if let problem = TopicName.validate(name) { throw BrokerError.invalidTopic(problem) }
        let count = partitions ?? config.defaultPartitions
        guard (1...TopicConfig.maxPartitions).contains(count) else {
            throw BrokerError.invalidPartitions("partitions must be between 1 and \(TopicConfig.maxPartitions), got \(count)")
        }
        let topicConfig = TopicConfig(partitions: count, configs: try TopicConfig.normalized(configs, defaults: config.logDefaults), topicId: UUID(),
                                      isEventCategory: eventCategory ? true : nil)
        return try await adminLock.withLock {
            try self.checkOpen()
            if self.topic(name) != nil { throw BrokerError.topicAlreadyExists(name) }
            if let reason = self.offlineReason(name) { throw BrokerError.topicOffline(name, reason) }
            if validateOnly { return nil }
            let directory = self.topicsDirectory + "/" + name
            guard !self.files.fileExists(directory) else {
                throw BrokerError.storage("\(directory) exists but is not a topic Stele knows; move it away first")
            }
            // Built aside and renamed into place: a crash leaves either no topic or a whole one,
            // and a directory without topic.json always means damage, never a half-made topic.
            let staging = self.topicsDirectory + "/" + name + Self.creatingMarker + UUID().uuidString
            do {
                try self.files.createDirectory(staging)
                for index in 0..<count { try self.files.createDirectory(staging + "/\(index)") }
                // Syncs the staging directory too: its partition entries are durable with topic.json.
                try self.files.writeFileDurably(staging + "/topic.json", contents: Array(try JSONEncoder().encode(topicConfig)))
                try self.files.rename(staging, to: directory)
                try self.files.syncDirectory(self.topicsDirectory)
            } catch {
                try? self.files.removeTree(staging)
                throw BrokerError.storage("creating topic \(name): \(error)")
            }
            let topic = try await self.openTopic(name: name, config: topicConfig, existing: true)
            self.topics.withLock { $0[name] = topic }
            return topic
        }
    }

    /// Deletes a topic and all its data (an offline one too: the operator's way to be rid of it).
    /// The directory is renamed aside first, as Kafka does: once the rename is durable the
    /// deletion is final, and a crash midway leaves a `~deleted-` directory the next start removes.
    public func deleteTopic(_ name: String) async throws {
        try await adminLock.withLock {
            try self.checkOpen()
            let topic = self.topics.withLock { $0.removeValue(forKey: name) }
            let wasOffline = self.offline.withLock { $0.removeValue(forKey: name) } != nil
            guard topic != nil || wasOffline else { throw BrokerError.unknownTopicOrPartition(name, -1) }
            for log in topic?.partitions ?? [] { try? await log.close() }
            let directory = self.topicsDirectory + "/" + name
            let aside = directory + Self.deletedMarker + UUID().uuidString
            do {
                try self.files.rename(directory, to: aside)
                try self.files.syncDirectory(self.topicsDirectory)
            } catch {
                throw BrokerError.storage("deleting topic \(name): \(error)")
            }
            // Final from here: a crash leaves the `~deleted-` directory, which the next start removes.
            try? self.files.removeTree(aside)
            try? self.files.syncDirectory(self.topicsDirectory)
            self.arrivals.notifyAll()
        }
    }

    /// The log of `topic`/`partition`, creating the topic when auto-creation is on.
    public func partition(_ topicName: String, _ index: Int32, autoCreate: Bool) async throws -> PartitionLog {
        var topic = self.topic(topicName)
        if topic == nil, autoCreate, config.autoCreateTopics {
            do { topic = try await createTopic(topicName) } catch BrokerError.topicAlreadyExists(_) { topic = self.topic(topicName) }
        }
        if topic == nil, let reason = offlineReason(topicName) { throw BrokerError.topicOffline(topicName, reason) }
        guard let topic, index >= 0, Int(index) < topic.partitions.count else { throw BrokerError.unknownTopicOrPartition(topicName, index) }
        return topic.partitions[Int(index)]
    }

    /// Records `bytes` of `quota` traffic by `user`'s client `clientId` and returns how long
    /// the client must now wait (0 within its quota, or with no quota), with the entity whose
    /// traffic was counted (to take the bytes back with ``unrecordQuotaBytes(_:_:entity:now:)``).
    /// The clock is monotonic: a wall clock stepped back would keep old samples in the window.
    public func recordQuotaBytes(_ bytes: Int, _ quota: QuotaKey, user: String, clientId: String,
                                 now: Int64 = Broker.monotonicMilliseconds()) -> (throttleMs: Int64, entity: QuotaEntity?) {
        guard let (entity, bound) = quotas.quotas.quota(quota, user: user, clientId: clientId) else { return (0, nil) }
        let throttle = quotaRates.withLock { $0.record(bytes, quota, entity: entity, bytesPerSecond: bound, now: now) }
        return (throttle, entity)
    }

    /// Takes back bytes recorded for a response that was not sent whole (a throttled fetch).
    public func unrecordQuotaBytes(_ bytes: Int, _ quota: QuotaKey, entity: QuotaEntity, now: Int64 = Broker.monotonicMilliseconds()) {
        quotaRates.withLock { $0.unrecord(bytes, quota, entity: entity, now: now) }
    }

    /// Milliseconds since boot: the clock quota windows are measured on.
    public static func monotonicMilliseconds() -> Int64 { Int64(ProcessInfo.processInfo.systemUptime * 1000) }

    /// Throws once ``close()`` has removed the topics (the transaction coordinator must not take
    /// a topic missing then for a deleted one).
    func checkTopicsOpen() throws {
        if topicsClosed.withLock({ $0 }) { throw BrokerError.storage("the broker is closed") }
    }

    /// Throws once ``close()`` has begun.
    func checkOpen() throws {
        if isClosed.withLock({ $0 }) { throw BrokerError.storage("the broker is closed") }
    }

    /// Closes every log (flushing it). A topic change in progress finishes first (the admin
    /// lock); none starts after.
    public func close() async throws {
        await adminLock.withLock { self.isClosed.withLock { $0 = true } }
        maintenance.withLock { $0?.cancel() }
        try? await transactions.stop()
        await groups.stop()
        try await groups.offsets.close()
        topicsClosed.withLock { $0 = true }
        let all = topics.withLock { topics in
            defer { topics.removeAll() }
            return Array(topics.values)
        }
        // Every log is closed even when one fails (its data is synced on its own); the first
        // failure is reported after the rest.
        var failure: (any Error)?
        for topic in all {
            for log in topic.partitions {
                do { try await log.close() } catch { failure = failure ?? error }
            }
        }
        arrivals.notifyAll()
        lock?.release()
        if let failure { throw failure }
    }
}

extension Broker {
    /// A producer id now in a partition's log (a mirrored batch carries its source's ids): the
    /// broker never hands it out, so a producer after a failover cannot be taken for the
    /// source's (fenced, out of sequence, or answered as a duplicate and not written). A restart
    /// finds it in the log again.
    public func noteProducerIdInUse(_ producerId: Int64) {
        guard producerId >= 0, producerId < Int64.max else { return }
        producerIds.raise(atLeast: producerId + 1)
    }
}
