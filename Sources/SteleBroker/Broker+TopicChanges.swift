import Foundation
import SteleLog
import SteleCompression

/// Changes to an existing topic: its configs (AlterConfigs, IncrementalAlterConfigs) and its
/// partition count (CreatePartitions). Each writes `topic.json` durably before it takes effect,
/// so a crash leaves the old topic or the new one, never a mix.
extension Broker {
    /// Replaces `name`'s config overrides with `configs` (keys absent fall back to the broker's
    /// defaults) and applies them to its open partitions without a restart.
    ///
    /// Refused (``BrokerError/invalidConfig(_:)``): an unknown key, a value out of Kafka's range,
    /// and dropping `compact` from a compacted topic's policy — compaction leaves gaps between
    /// batches that a log with the delete policy reads as damage.
    public func alterTopicConfigs(_ name: String, _ configs: [String: String], validateOnly: Bool = false) async throws {
        try await adminLock.withLock {
            let topic = try self.existingTopic(name)
            var updated = topic.config
            updated.configs = configs
            let logConfig = try updated.logConfig(defaults: self.config.logDefaults)
            let current = try topic.config.logConfig(defaults: self.config.logDefaults)
            if current.cleanupPolicy.contains(.compact) && !logConfig.cleanupPolicy.contains(.compact) {
                throw BrokerError.invalidConfig("cleanup.policy of \(name) cannot drop compact: a compacted log has gaps between batches that only a compacted log may have")
            }
            if validateOnly || updated == topic.config { return }
            try self.writeTopicConfig(updated, of: name)
            for log in topic.partitions { log.reconfigure(logConfig) }
            self.topics.withLock { $0[name] = Topic(name: name, config: updated, partitions: topic.partitions) }
        }
    }

    /// Grows `name` to `count` partitions (Kafka's CreatePartitions: the count only grows).
    ///
    /// A record's partition is its key's hash modulo the partition count, and a stream's
    /// versions count its records in one partition: with more partitions, a key already written
    /// would continue in another partition from version 0, and an event stream would seem to
    /// lose its events. So a topic that holds records is refused (``BrokerError/policyViolation(_:)``);
    /// an empty one grows. New partition directories are made and synced first, then
    /// `topic.json` names them: a crash between leaves empty directories the count ignores.
    public func createPartitions(_ name: String, count: Int, validateOnly: Bool = false) async throws {
        try await adminLock.withLock {
            let topic = try self.existingTopic(name)
            let current = topic.partitions.count
            guard count > current else {
                throw BrokerError.invalidPartitions(count == current ? "topic \(name) already has \(current) partitions"
                    : "topic \(name) has \(current) partitions, more than the requested \(count); partitions can only be added")
            }
            guard count <= TopicConfig.maxPartitions else {
                throw BrokerError.invalidPartitions("partitions must be between 1 and \(TopicConfig.maxPartitions), got \(count)")
            }
            if let index = topic.partitions.firstIndex(where: { $0.logEndOffset > 0 }) {
                throw BrokerError.policyViolation("topic \(name) holds records (partition \(index) ends at offset \(topic.partitions[index].logEndOffset)): "
                    + "more partitions would move keys, and the streams they name, to partitions where their versions start again; "
                    + "create a new topic with the partitions you need and copy the records")
            }
            if validateOnly { return }
            let directory = self.topicsDirectory + "/" + name
            do {
                for index in current..<count {
                    let partition = directory + "/\(index)"
                    // Left by a growth that crashed before topic.json named it: reused only when empty.
                    if self.files.isDirectory(partition) {
                        guard try self.files.contentsOfDirectory(partition).isEmpty else {
                            throw BrokerError.storage("\(partition) exists and is not empty, but \(name) has \(current) partitions; move it away first")
                        }
                    } else {
                        try self.files.createDirectory(partition)
                    }
                }
                try self.files.syncDirectory(directory)
            } catch let error as BrokerError {
                throw error
            } catch {
                throw BrokerError.storage("adding partitions to \(name): \(error)")
            }
            var updated = topic.config
            updated.partitions = count
            try self.writeTopicConfig(updated, of: name)
            let logConfig = try updated.logConfig(defaults: self.config.logDefaults)
            var added: [PartitionLog] = []
            for index in current..<count {
                added.append(try await PartitionLog.open(directory: directory + "/\(index)", config: logConfig, fileSystem: self.files,
                                                         decompressor: KafkaCodecs()))
            }
            self.topics.withLock { $0[name] = Topic(name: name, config: updated, partitions: topic.partitions + added) }
            self.arrivals.notifyAll()
        }
    }

    private func existingTopic(_ name: String) throws -> Topic {
        if let topic = topic(name) { return topic }
        if let reason = offlineReason(name) { throw BrokerError.topicOffline(name, reason) }
        throw BrokerError.unknownTopicOrPartition(name, -1)
    }

    private func writeTopicConfig(_ config: TopicConfig, of name: String) throws {
        do {
            try files.writeFileDurably(topicsDirectory + "/\(name)/topic.json", contents: Array(try JSONEncoder().encode(config)))
        } catch {
            throw BrokerError.storage("writing the configuration of \(name): \(error)")
        }
    }
}

extension Broker {
    /// Deletes the records of `topic`/`partition` below `offset` (Kafka's DeleteRecords; -1
    /// means the high watermark) and returns the new log start offset. Refused, as Kafka does,
    /// for a topic whose cleanup policy lacks delete (``BrokerError/policyViolation(_:)``).
    /// The event store stops serving a category whose records were deleted: its streams'
    /// versions would no longer count every event.
    public func deleteRecords(_ topicName: String, partition: Int32, before offset: Int64) async throws -> Int64 {
        let log = try await self.partition(topicName, partition, autoCreate: false)
        guard log.config.cleanupPolicy.contains(.delete) else {
            throw BrokerError.policyViolation("records of \(topicName)-\(partition) cannot be deleted: its cleanup.policy has no delete")
        }
        return try await log.deleteRecords(before: offset == -1 ? log.highWatermark : offset)
    }
}
