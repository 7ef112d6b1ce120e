import Foundation
import SteleLog

/// A topic's partition count and its Kafka-named configs, stored as `topic.json` in the
/// topic's directory (written to a temporary file, synced, renamed).
public struct TopicConfig: Codable, Sendable, Equatable {
    public var partitions: Int
    public var configs: [String: String]

    public init(partitions: Int, configs: [String: String] = [:]) {
        self.partitions = partitions
        self.configs = configs
    }

    /// Configs Stele understands; others are refused so a typo is not silently ignored.
    public static let knownKeys: Set<String> = [
        "cleanup.policy", "retention.ms", "retention.bytes", "segment.bytes", "segment.ms",
        "message.timestamp.type", "max.message.bytes", "delete.retention.ms", "index.interval.bytes",
    ]

    /// The log configuration these topic configs describe, on top of the broker's defaults.
    public func logConfig(defaults: LogConfig) throws -> LogConfig {
        var config = defaults
        for (key, value) in configs {
            func integer() throws -> Int64 {
                guard let number = Int64(value) else { throw BrokerError.invalidConfig("\(key)=\(value) is not an integer") }
                return number
            }
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
                config.cleanupPolicy = policy
            case "retention.ms":
                let ms = try integer()
                config.retention = ms < 0 ? nil : .milliseconds(ms)
            case "retention.bytes":
                let bytes = try integer()
                config.retentionBytes = bytes < 0 ? nil : bytes
            case "segment.bytes":
                config.segmentBytes = Int(try integer())
            case "segment.ms":
                config.segmentAge = .milliseconds(try integer())
            case "message.timestamp.type":
                switch value {
                case "CreateTime": config.timestampType = .createTime
                case "LogAppendTime": config.timestampType = .logAppendTime
                default: throw BrokerError.invalidConfig("message.timestamp.type=\(value): expected CreateTime or LogAppendTime")
                }
            case "max.message.bytes":
                config.maxBatchBytes = Int(try integer())
            case "delete.retention.ms":
                config.deleteRetention = .milliseconds(try integer())
            case "index.interval.bytes":
                config.indexIntervalBytes = Int(try integer())
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
    case storage(String)

    public var description: String {
        switch self {
        case let .unknownTopicOrPartition(topic, partition): "unknown topic or partition \(topic)-\(partition)"
        case let .topicAlreadyExists(topic): "topic \(topic) already exists"
        case let .invalidTopic(reason): reason
        case let .invalidPartitions(reason): reason
        case let .invalidConfig(reason): reason
        case let .storage(reason): reason
        }
    }
}
