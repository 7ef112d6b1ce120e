import SteleLog

/// Where a config's value comes from, numbered as Kafka's `ConfigSource` (DescribeConfigs v1+).
public enum ConfigSource: Int8, Sendable {
    /// A topic's own override (`topic.json`).
    case topic = 1
    /// A broker setting given at start (a `stele serve` flag).
    case staticBroker = 4
    /// Stele's built-in default.
    case defaultValue = 5
}

/// The type of a config's value, numbered as Kafka's `ConfigType` (DescribeConfigs v3+).
public enum ConfigValueType: Int8, Sendable {
    case boolean = 1, string = 2, int = 3, short = 4, long = 5, double = 6, list = 7
}

/// One config as DescribeConfigs reports it.
public struct DescribedConfig: Sendable, Equatable {
    public struct Synonym: Sendable, Equatable {
        public var name: String
        public var value: String?
        public var source: ConfigSource
    }

    public var name: String
    public var value: String?
    public var source: ConfigSource
    public var readOnly: Bool
    /// The value and where it comes from, most specific first (the topic's override, then the
    /// broker setting it overrides), as Kafka lists synonyms.
    public var synonyms: [Synonym]
    public var type: ConfigValueType
    public var documentation: String
}

/// The configs Stele honours, with their Kafka names, types, broker-level synonyms and values:
/// what DescribeConfigs reports and the incremental operations need (which configs are lists).
/// Only configs that change behaviour are listed: describing one Stele ignores would be a lie.
public enum ConfigCatalog {
    struct TopicEntry {
        let name: String
        /// The broker setting a topic without an override takes its value from.
        let brokerName: String
        let type: ConfigValueType
        let documentation: String
        let value: @Sendable (LogConfig) -> String
    }

    static let topicEntries: [TopicEntry] = [
        TopicEntry(name: "cleanup.policy", brokerName: "log.cleanup.policy", type: .list,
                   documentation: "delete: old segments go by retention.ms/retention.bytes; compact: the latest record per key is kept. A policy with compact cannot drop it.") {
            switch ($0.cleanupPolicy.contains(.compact), $0.cleanupPolicy.contains(.delete)) {
            case (true, true): "compact,delete"
            case (true, false): "compact"
            default: "delete"
            }
        },
        TopicEntry(name: "retention.ms", brokerName: "log.retention.ms", type: .long,
                   documentation: "How long a segment is kept after its newest record; -1 keeps it forever (Stele's default).") {
            $0.retention.map { String($0.milliseconds) } ?? "-1"
        },
        TopicEntry(name: "retention.bytes", brokerName: "log.retention.bytes", type: .long,
                   documentation: "The size a partition is trimmed to by deleting its oldest segments; -1 means no limit.") {
            $0.retentionBytes.map { String($0) } ?? "-1"
        },
        TopicEntry(name: "segment.bytes", brokerName: "log.segment.bytes", type: .int,
                   documentation: "A new segment starts when the active one would grow past this size.") { String($0.segmentBytes) },
        TopicEntry(name: "segment.ms", brokerName: "log.roll.ms", type: .long,
                   documentation: "A new segment starts when the active one's first record is older than this.") {
            $0.segmentAge.map { String($0.milliseconds) } ?? String(Int64.max)
        },
        TopicEntry(name: "message.timestamp.type", brokerName: "log.message.timestamp.type", type: .string,
                   documentation: "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's clock.") {
            $0.timestampType == .logAppendTime ? "LogAppendTime" : "CreateTime"
        },
        TopicEntry(name: "max.message.bytes", brokerName: "message.max.bytes", type: .int,
                   documentation: "The largest record batch the topic accepts (MESSAGE_TOO_LARGE beyond it).") { String($0.maxBatchBytes) },
        TopicEntry(name: "delete.retention.ms", brokerName: "log.cleaner.delete.retention.ms", type: .long,
                   documentation: "How long compaction keeps a tombstone, so consumers can see the deletion.") {
            String($0.deleteRetention.milliseconds)
        },
        TopicEntry(name: "index.interval.bytes", brokerName: "log.index.interval.bytes", type: .int,
                   documentation: "Bytes between entries of the sparse offset and time indexes.") { String($0.indexIntervalBytes) },
    ]

    /// The configs a topic of `config` has on a broker with `broker`'s defaults; `keys` nil
    /// means all (unknown keys are left out, as Kafka does).
    public static func describe(topic config: TopicConfig, broker: BrokerConfig, keys: Set<String>? = nil) -> [DescribedConfig] {
        // A mirror topic's source and state: set on the topic, with no broker default.
        let mirror = [(TopicConfig.mirrorSourceKey, config.mirrorSource, "The Kafka-protocol cluster (HOST:PORT) this mirror topic keeps the offsets of; never changes."),
                      (TopicConfig.mirrorStateKey, config.mirrorSource.map { _ in config.isActiveMirror ? "active" : "promoted" },
                       "active: only the mirror writes, at the source's offsets; promoted: producers write (stele mirror promote).")]
            .compactMap { name, value, documentation -> DescribedConfig? in
                guard let value, keys?.contains(name) ?? true else { return nil }
                let source: ConfigSource = config.configs[name] == nil ? .defaultValue : .topic
                return DescribedConfig(name: name, value: value, source: source, readOnly: name == TopicConfig.mirrorSourceKey,
                                       synonyms: [.init(name: name, value: value, source: source)], type: .string, documentation: documentation)
            }
        return mirror + topicEntries.filter { keys?.contains($0.name) ?? true }.map { entry in
            let brokerValue = entry.value(broker.logDefaults)
            let brokerSource: ConfigSource = brokerValue == entry.value(LogConfig()) ? .defaultValue : .staticBroker
            var synonyms = [DescribedConfig.Synonym(name: entry.brokerName, value: brokerValue, source: brokerSource)]
            var (value, source) = (brokerValue, brokerSource)
            if let override = config.configs[entry.name] {
                (value, source) = (override, .topic)
                synonyms.insert(.init(name: entry.name, value: override, source: .topic), at: 0)
            }
            return DescribedConfig(name: entry.name, value: value, source: source, readOnly: false, synonyms: synonyms,
                                   type: entry.type, documentation: entry.documentation)
        }
    }

    /// Whether `name` is a list config, the only kind APPEND and SUBTRACT apply to.
    public static func isList(_ name: String) -> Bool { topicEntries.first { $0.name == name }?.type == .list }

    /// The value a topic without an override has for `name`.
    public static func brokerValue(of name: String, broker: BrokerConfig) -> String? {
        topicEntries.first { $0.name == name }?.value(broker.logDefaults)
    }

    /// The broker's own settings: all read-only, since they are `stele serve` flags (Stele has no
    /// dynamic broker configs).
    public static func describe(broker: BrokerConfig, nodeId: Int32, keys: Set<String>? = nil) -> [DescribedConfig] {
        let builtIn = BrokerConfig(dataDirectory: broker.dataDirectory)
        func entry(_ name: String, _ type: ConfigValueType, _ value: String, builtIn builtInValue: String, _ documentation: String) -> DescribedConfig {
            let source: ConfigSource = value == builtInValue ? .defaultValue : .staticBroker
            return DescribedConfig(name: name, value: value, source: source, readOnly: true,
                                   synonyms: [.init(name: name, value: value, source: source)], type: type, documentation: documentation)
        }
        var configs = topicEntries.map { topic in
            entry(topic.brokerName, topic.type, topic.value(broker.logDefaults), builtIn: topic.value(LogConfig()),
                  "The default of the topic config \(topic.name): \(topic.documentation)")
        }
        configs += [
            entry("node.id", .int, String(nodeId), builtIn: "0", "This node's id in Metadata, FindCoordinator and DescribeCluster (--node-id)."),
            entry("broker.id", .int, String(nodeId), builtIn: "0", "The same as node.id."),
            entry("log.dirs", .string, broker.dataDirectory + "/topics", builtIn: builtIn.dataDirectory + "/topics",
                  "Where topics' partition logs are kept (--data-dir)."),
            entry("num.partitions", .int, String(broker.defaultPartitions), builtIn: String(builtIn.defaultPartitions),
                  "Partitions of a topic created without a count."),
            entry("auto.create.topics.enable", .boolean, String(broker.autoCreateTopics), builtIn: String(builtIn.autoCreateTopics),
                  "Whether producing to or asking metadata for an unknown topic creates it."),
            entry("log.retention.check.interval.ms", .long, String(broker.maintenanceInterval.milliseconds),
                  builtIn: String(builtIn.maintenanceInterval.milliseconds), "How often retention and compaction run."),
            entry("group.initial.rebalance.delay.ms", .int, String(broker.groupInitialRebalanceDelayMs),
                  builtIn: String(builtIn.groupInitialRebalanceDelayMs), "How long a new group waits for more members before its first rebalance."),
            entry("group.consumer.session.timeout.ms", .int, String(broker.groupConsumerSessionTimeoutMs),
                  builtIn: String(builtIn.groupConsumerSessionTimeoutMs), "Consumer protocol: how long a member may go without a heartbeat."),
            entry("group.consumer.heartbeat.interval.ms", .int, String(broker.groupConsumerHeartbeatIntervalMs),
                  builtIn: String(builtIn.groupConsumerHeartbeatIntervalMs), "Consumer protocol: the interval between a member's heartbeats."),
            entry("offsets.retention.minutes", .int, String(broker.offsetsRetention.milliseconds / 60_000),
                  builtIn: String(builtIn.offsetsRetention.milliseconds / 60_000), "How long committed offsets of an empty group are kept."),
            entry("transactional.id.expiration.ms", .int, String(broker.transactionalIdExpiration.milliseconds),
                  builtIn: String(builtIn.transactionalIdExpiration.milliseconds), "How long a transactional id with no open transaction is kept after its last change."),
            entry("producer.id.expiration.ms", .int, String(broker.logDefaults.producerIdExpiration.milliseconds),
                  builtIn: String(LogConfig().producerIdExpiration.milliseconds), "How long an idempotent producer's state is kept after its last append."),
        ]
        return configs.filter { keys?.contains($0.name) ?? true }
    }
}
