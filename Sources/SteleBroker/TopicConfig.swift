import Foundation
import SteleLog

/// A topic's partition count, its Kafka-named configs and its id, stored as `topic.json` in
/// the topic's directory (written to a temporary file, synced, renamed).
public struct TopicConfig: Codable, Sendable, Equatable {
    public var partitions: Int
    public var configs: [String: String]
    /// Kafka's topic id (KIP-516): random at creation, so a topic deleted and created again
    /// under the same name is told apart. Topics made before ids existed get one when opened.
    public var topicId: UUID?
    /// Set once the event store has appended to the topic as a category: its events are kept
    /// forever, so compaction, retention and DeleteRecords are refused on it.
    public var isEventCategory: Bool?

    public init(partitions: Int, configs: [String: String] = [:], topicId: UUID? = nil, isEventCategory: Bool? = nil) {
        self.partitions = partitions
        self.configs = configs
        self.topicId = topicId
        self.isEventCategory = isEventCategory
    }

    /// The most partitions a topic may have.
    public static let maxPartitions = 10_000

    /// Configs Stele understands; others are refused so a typo is not silently ignored.
    public static let knownKeys: Set<String> = [
        "cleanup.policy", "retention.ms", "retention.bytes", "segment.bytes", "segment.ms",
        "message.timestamp.type", "max.message.bytes", "delete.retention.ms", "index.interval.bytes",
        mirrorSourceKey, mirrorStateKey,
    ]

    /// A mirror topic's source, `HOST:PORT` of a Kafka-protocol cluster: set when the topic is
    /// created, never changed or removed. Its partitions keep the source's offsets
    /// (``SteleLog/LogConfig/keepsSourceOffsets``), gaps included, for good.
    public static let mirrorSourceKey = "stele.mirror.source"
    /// `active` (the default for a mirror topic: only its mirror writes, at the source's
    /// offsets) or `promoted` (failover done: producers write, offsets continue from the end).
    /// Only `active` → `promoted` is a change.
    public static let mirrorStateKey = "stele.mirror.state"

    /// The source this topic mirrors, if it is a mirror topic.
    public var mirrorSource: String? { configs[Self.mirrorSourceKey] }
    /// A mirror topic not promoted yet: read-only for producers, written by its mirror.
    public var isActiveMirror: Bool { mirrorSource != nil && configs[Self.mirrorStateKey] != "promoted" }

    /// `configs` checked (``logConfig(defaults:)``) and written one way: numbers in decimal
    /// without leading zeros or sign, `cleanup.policy` as `delete`, `compact` or
    /// `compact,delete`. What is stored and described is then what was meant, whatever the
    /// spelling sent (`0007`, ` compact ,delete`), and never longer than a number needs.
    public static func normalized(_ configs: [String: String], defaults: LogConfig) throws -> [String: String] {
        _ = try TopicConfig(partitions: 1, configs: configs).logConfig(defaults: defaults)
        var normalized = configs
        for (key, value) in configs {
            switch key {
            case "cleanup.policy":
                let parts = Set(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                normalized[key] = ["compact", "delete"].filter(parts.contains).joined(separator: ",")
            case "message.timestamp.type", mirrorSourceKey, mirrorStateKey:
                break
            default:
                if let number = Int64(value) { normalized[key] = String(number) }
            }
        }
        return normalized
    }

    /// The log configuration these topic configs describe, on top of the broker's defaults.
    public func logConfig(defaults: LogConfig) throws -> LogConfig {
        var config = defaults
        for (key, value) in configs {
            // Ranges as Kafka's ConfigDef declares them (INT configs stop at Int32.max), so that
            // no value from outside reaches arithmetic that could trap.
            func integer(in range: ClosedRange<Int64>) throws -> Int64 {
                guard let number = Int64(value) else { throw BrokerError.invalidConfig("\(key)=\(value) is not an integer") }
                guard range.contains(number) else {
                    let upper = range.upperBound == Int64.max ? "" : range.upperBound == Int64(Int32.max) ? " and at most 2147483647" : " and at most \(range.upperBound)"
                    throw BrokerError.invalidConfig("\(key)=\(value) is out of range: it must be at least \(range.lowerBound)\(upper)")
                }
                return number
            }
            let intMax = Int64(Int32.max)
            switch key {
            case "cleanup.policy":
                var policy: CleanupPolicy = []
                for part in value.split(separator: ",") {
                    switch part.trimmingCharacters(in: .whitespaces) {
                    case "delete": policy.insert(.delete)
                    case "compact": policy.insert(.compact)
                    default: throw BrokerError.invalidConfig("cleanup.policy=\(value): expected delete, compact or both")
                    }
                }
                // An empty policy would neither retain by time nor compact, and would refuse
                // DeleteRecords: a state no one asks for on purpose.
                guard !policy.isEmpty else { throw BrokerError.invalidConfig("cleanup.policy must name delete, compact or both") }
                config.cleanupPolicy = policy
            case "retention.ms":
                let ms = try integer(in: -1...Int64.max)
                config.retention = ms < 0 ? nil : .milliseconds(ms)
            case "retention.bytes":
                let bytes = try integer(in: -1...Int64.max)
                config.retentionBytes = bytes < 0 ? nil : bytes
            case "segment.bytes":
                config.segmentBytes = Int(try integer(in: 14...intMax))
            case "segment.ms":
                config.segmentAge = .milliseconds(try integer(in: 1...Int64.max))
            case "message.timestamp.type":
                switch value {
                case "CreateTime": config.timestampType = .createTime
                case "LogAppendTime": config.timestampType = .logAppendTime
                default: throw BrokerError.invalidConfig("message.timestamp.type=\(value): expected CreateTime or LogAppendTime")
                }
            case "max.message.bytes":
                config.maxBatchBytes = Int(try integer(in: 0...intMax))
            case "delete.retention.ms":
                config.deleteRetention = .milliseconds(try integer(in: 0...Int64.max))
            case "index.interval.bytes":
                config.indexIntervalBytes = Int(try integer(in: 0...intMax))
            case Self.mirrorSourceKey:
                guard let colon = value.lastIndex(of: ":"), !value[..<colon].isEmpty,
                      let port = Int(value[value.index(after: colon)...]), (1...65_535).contains(port) else {
                    throw BrokerError.invalidConfig("\(key)=\(value): expected HOST:PORT of the source cluster")
                }
                config.keepsSourceOffsets = true
            case Self.mirrorStateKey:
                guard value == "active" || value == "promoted" else {
                    throw BrokerError.invalidConfig("\(key)=\(value): expected active or promoted")
                }
                guard configs[Self.mirrorSourceKey] != nil else {
                    throw BrokerError.invalidConfig("\(key) applies to mirror topics only (\(Self.mirrorSourceKey))")
                }
                config.refusesSourceBatches = value == "promoted"
            default:
                throw BrokerError.invalidConfig("unknown topic config \(key)")
            }
        }
        return config
    }
}

public enum BrokerError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownTopicOrPartition(String, Int32)
    case topicAlreadyExists(String)
    case invalidTopic(String)
    case invalidPartitions(String)
    case invalidConfig(String)
    /// A request Stele refuses by policy, with the reason (Kafka's POLICY_VIOLATION).
    case policyViolation(String)
    case storage(String)
    /// The topic's files are there but cannot be served (the reason names the file).
    case topicOffline(String, String)

    public var description: String {
        switch self {
        case let .unknownTopicOrPartition(topic, partition): "unknown topic or partition \(topic)-\(partition)"
        case let .topicAlreadyExists(topic): "topic \(topic) already exists"
        case let .invalidTopic(reason): reason
        case let .invalidPartitions(reason): reason
        case let .invalidConfig(reason): reason
        case let .policyViolation(reason): reason
        case let .storage(reason): reason
        case let .topicOffline(topic, reason): "topic \(topic) is offline: \(reason)"
        }
    }
}
