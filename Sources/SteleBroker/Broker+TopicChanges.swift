import Foundation
import SteleLog
import SteleCompression

/// Changes to an existing topic: its configs (AlterConfigs, IncrementalAlterConfigs), its
/// partition count (CreatePartitions) and its start (DeleteRecords). Each runs under the admin
/// lock, against the topic as it is then, and writes `topic.json` durably before it takes
/// effect, so a crash leaves the old topic or the new one, never a mix.
extension Broker {
    /// Sets `name`'s config overrides to what `change` makes of the current ones (keys absent
    /// fall back to the broker's defaults) and applies them to its open partitions without a
    /// restart. `change` runs under the admin lock, so concurrent changes apply one after the
    /// other, each to the result of the last.
    ///
    /// Refused: an unknown key or a value out of Kafka's range (``BrokerError/invalidConfig(_:)``);
    /// a mirror topic's source changed or removed, or one added to a topic that is not a mirror;
    /// a promoted mirror topic made active again;
    /// dropping `compact` from a compacted topic's policy (compaction leaves gaps between batches
    /// that a log with the delete policy reads as damage); and, on an event category
    /// (``TopicConfig/isEventCategory``), compaction or retention, which would delete events
    /// (``BrokerError/policyViolation(_:)``).
    public func alterTopicConfigs(_ name: String, validateOnly: Bool = false,
                                  _ change: @Sendable ([String: String]) throws -> [String: String]) async throws {
        try await adminLock.withLock {
            try self.checkOpen()
            let topic = try self.existingTopic(name)
            var updated = topic.config
            updated.configs = try TopicConfig.normalized(try change(topic.config.configs), defaults: self.config.logDefaults)
            let logConfig = try updated.logConfig(defaults: self.config.logDefaults)
            let current = try topic.config.logConfig(defaults: self.config.logDefaults)
            if updated.mirrorSource != topic.config.mirrorSource {
                throw BrokerError.invalidConfig(topic.config.mirrorSource == nil
                    ? "\(name) assigns its own offsets: it cannot become a mirror topic (create one with \(TopicConfig.mirrorSourceKey))"
                    : "\(TopicConfig.mirrorSourceKey) of \(name) cannot change: its offsets are its source's, gaps included")
            }
            if topic.config.mirrorSource != nil && !topic.config.isActiveMirror && updated.isActiveMirror {
                throw BrokerError.invalidConfig("\(name) was promoted: producers have written to it, so it cannot mirror again")
            }
            if current.cleanupPolicy.contains(.compact) && !logConfig.cleanupPolicy.contains(.compact) {
                throw BrokerError.invalidConfig("cleanup.policy of \(name) cannot drop compact: a compacted log has gaps between batches that only a compacted log may have")
            }
            if topic.config.isEventCategory == true,
               logConfig.cleanupPolicy.contains(.compact) || logConfig.retention != nil || logConfig.retentionBytes != nil {
                throw BrokerError.policyViolation("topic \(name) is an event category: compaction or retention would delete its events, "
                    + "which are kept forever (cleanup.policy=delete with retention.ms=-1 and retention.bytes=-1)")
            }
            if validateOnly { return }
            if updated == topic.config {
                // Promoting again finishes what a failed promotion left: the abort below.
                if topic.config.mirrorSource != nil && !topic.config.isActiveMirror {
                    for log in topic.partitions { try await log.waitForQueuedAppends() }
                    _ = try await self.abortStrayTransactions(in: name)
                }
                return
            }
            try self.writeTopicConfig(updated, of: name)
            for log in topic.partitions { log.reconfigure(logConfig) }
            self.topics.withLock { $0[name] = Topic(name: name, config: updated, partitions: topic.partitions) }
            if topic.config.isActiveMirror && !updated.isActiveMirror {
                // Promoted: transactions the source left open will never end there, and would
                // hold read_committed consumers here forever. The logs refuse the source's
                // batches from now on (`refusesSourceBatches`, checked as each is placed); once
                // those queued before are placed, the open transactions are all known.
                for log in topic.partitions { try await log.waitForQueuedAppends() }
                _ = try await self.abortStrayTransactions(in: name)
            }
        }
    }

    /// Replaces `name`'s config overrides with `configs` (AlterConfigs).
    public func alterTopicConfigs(_ name: String, _ configs: [String: String], validateOnly: Bool = false) async throws {
        try await alterTopicConfigs(name, validateOnly: validateOnly) { _ in configs }
    }

    /// Marks `name` as an event category (the event store does, when it first appends to the
    /// topic): from then on compaction, retention and DeleteRecords are refused on it.
    public func markEventCategory(_ name: String) async throws {
        try await adminLock.withLock {
            try self.checkOpen()
            let topic = try self.existingTopic(name)
            guard topic.config.isEventCategory != true else { return }
            // Checked again here, under the lock DeleteRecords takes: versions count the
            // records a partition holds, so a topic missing some cannot become a category.
            if let index = topic.partitions.firstIndex(where: { $0.logStartOffset > 0 }) {
                throw BrokerError.policyViolation("records of \(name)-\(index) were deleted: it cannot become an event category")
            }
            var updated = topic.config
            updated.isEventCategory = true
            try self.writeTopicConfig(updated, of: name)
            self.topics.withLock { $0[name] = Topic(name: name, config: updated, partitions: topic.partitions) }
        }
    }

    /// Grows `name` to `count` partitions (Kafka's CreatePartitions: the count only grows).
    ///
    /// A record's partition is its key's hash modulo the partition count, and a stream's
    /// versions count its records in one partition: with more partitions, a key already written
    /// would continue in another partition from version 0, and an event stream would seem to
    /// lose its events. So a topic that holds records is refused (``BrokerError/policyViolation(_:)``);
    /// an empty one grows, and so does an active mirror topic, whose partitions follow its
    /// source's (where the growth was decided). The new partitions are opened first (closed again if any fails), the
    /// emptiness is checked again, then `topic.json` names them: a crash before that leaves
    /// empty partition directories the count ignores and a later growth reuses.
    public func createPartitions(_ name: String, count: Int, validateOnly: Bool = false) async throws {
        try await adminLock.withLock {
            try self.checkOpen()
            let topic = try self.existingTopic(name)
            let current = topic.partitions.count
            guard count > current else {
                throw BrokerError.invalidPartitions(count == current ? "topic \(name) already has \(current) partitions"
                    : "topic \(name) has \(current) partitions, more than the requested \(count); partitions can only be added")
            }
            guard count <= TopicConfig.maxPartitions else {
                throw BrokerError.invalidPartitions("partitions must be between 1 and \(TopicConfig.maxPartitions), got \(count)")
            }
            if !topic.config.isActiveMirror { try Self.checkEmpty(topic) }
            if validateOnly { return }
            let directory = self.topicsDirectory + "/" + name
            let logConfig = try topic.config.logConfig(defaults: self.config.logDefaults)
            var added: [PartitionLog] = []
            do {
                for index in current..<count {
                    let partition = directory + "/\(index)"
                    if !self.files.isDirectory(partition) { try self.files.createDirectory(partition) }
                    let log = try await PartitionLog.open(directory: partition, config: logConfig, fileSystem: self.files, decompressor: KafkaCodecs())
                    added.append(log)
                    // Left by a growth that stopped before topic.json named it: reused only empty.
                    guard log.logEndOffset == 0 else {
                        throw BrokerError.storage("\(partition) holds records, but \(name) has \(current) partitions; move it away first")
                    }
                }
                try self.files.syncDirectory(directory)
                // Checked again: an append may have landed while the new logs were opened.
                if !topic.config.isActiveMirror { try Self.checkEmpty(topic) }
                var updated = topic.config
                updated.partitions = count
                try self.writeTopicConfig(updated, of: name)
                self.topics.withLock { $0[name] = Topic(name: name, config: updated, partitions: topic.partitions + added) }
            } catch {
                for log in added { try? await log.close() }
                if error is BrokerError { throw error }
                throw BrokerError.storage("adding partitions to \(name): \(error)")
            }
            self.arrivals.notifyAll()
        }
    }

    private static func checkEmpty(_ topic: Topic) throws {
        if let index = topic.partitions.firstIndex(where: { $0.logEndOffset > 0 }) {
            throw BrokerError.policyViolation("topic \(topic.name) holds records (partition \(index) ends at offset \(topic.partitions[index].logEndOffset)): "
                + "more partitions would move keys, and the streams they name, to partitions where their versions start again; "
                + "create a new topic with the partitions you need and copy the records")
        }
    }

    /// Deletes the records of `topic`/`partition` below `offset` (Kafka's DeleteRecords; -1
    /// means the high watermark) and returns the new log start offset. Refused
    /// (``BrokerError/policyViolation(_:)``) for a topic whose cleanup policy lacks delete, as
    /// Kafka does, and for an event category, whose events are kept forever.
    public func deleteRecords(_ topicName: String, partition: Int32, before offset: Int64) async throws -> Int64 {
        // Under the admin lock, so a topic cannot become an event category between the check
        // and the deletion (``markEventCategory(_:)`` takes it too).
        try await adminLock.withLock {
            try self.checkOpen()
            let log = try await self.partition(topicName, partition, autoCreate: false)
            guard log.config.cleanupPolicy.contains(.delete) else {
                throw BrokerError.policyViolation("records of \(topicName)-\(partition) cannot be deleted: its cleanup.policy has no delete")
            }
            if self.topic(topicName)?.config.isEventCategory == true {
                throw BrokerError.policyViolation("topic \(topicName) is an event category: its events are kept forever")
            }
            return try await log.deleteRecords(before: offset == -1 ? log.highWatermark : offset)
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
