/// CreatePartitions (37, v0–3, flexible from v2), DescribeLogDirs (35, v0–4, flexible from v2)
/// and OffsetForLeaderEpoch (23, v0–4, flexible from v4).

public struct CreatePartitionsRequest: Sendable, Equatable {
    public struct Topic: Sendable, Equatable {
        public var name: String
        public var count: Int32
        /// The broker ids of each new partition's replicas; nil lets the broker choose.
        public var assignments: [[Int32]]?

        public init(name: String, count: Int32, assignments: [[Int32]]? = nil) {
            (self.name, self.count, self.assignments) = (name, count, assignments)
        }
    }

    public var topics: [Topic]
    public var validateOnly: Bool

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let topics = try decoder.array("topics") { decoder in
            let name = try decoder.string("topic name")
            let count = try decoder.int32("partition count")
            let assignments = try decoder.nullableArray("assignments") { decoder in
                let brokers = try decoder.array("broker ids") { try $0.int32("broker id") }
                try decoder.taggedFields()
                return brokers
            }
            try decoder.taggedFields()
            return Topic(name: name, count: count, assignments: assignments)
        }
        _ = try decoder.int32("timeout")
        let validateOnly = try decoder.bool("validate only")
        try decoder.taggedFields()
        return Self(topics: topics, validateOnly: validateOnly)
    }
}

public struct CreatePartitionsResponse: Sendable, Equatable {
    public struct Result: Sendable, Equatable {
        public var name: String
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?

        public init(name: String, errorCode: KafkaErrorCode, errorMessage: String? = nil) {
            (self.name, self.errorCode, self.errorMessage) = (name, errorCode, errorMessage)
        }
    }

    public var results: [Result]

    public init(results: [Result]) { self.results = results }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(results) { encoder, result in
            encoder.string(result.name)
            encoder.int16(result.errorCode.rawValue)
            encoder.nullableString(result.errorMessage)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct DescribeLogDirsRequest: Sendable, Equatable {
    /// nil: every topic.
    public var topics: [(name: String, partitions: [Int32])]?

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.topics?.map(\.name) == rhs.topics?.map(\.name) && lhs.topics?.map(\.partitions) == rhs.topics?.map(\.partitions)
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let topics = try decoder.nullableArray("topics") { decoder in
            let name = try decoder.string("topic name")
            let partitions = try decoder.array("partitions") { try $0.int32("partition") }
            try decoder.taggedFields()
            return (name: name, partitions: partitions)
        }
        try decoder.taggedFields()
        return Self(topics: topics)
    }
}

public struct DescribeLogDirsResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var size: Int64
        /// How far the log's end is ahead of what is durable and visible (Kafka reports the
        /// lag of a future replica; 0 for a current one).
        public var offsetLag: Int64

        public init(index: Int32, size: Int64, offsetLag: Int64 = 0) { (self.index, self.size, self.offsetLag) = (index, size, offsetLag) }
    }

    public struct Topic: Sendable, Equatable {
        public var name: String
        public var partitions: [Partition]

        public init(name: String, partitions: [Partition]) { (self.name, self.partitions) = (name, partitions) }
    }

    public struct Directory: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var path: String
        public var topics: [Topic]
        /// The file system's size and the bytes available to this process (v4+); -1 unknown.
        public var totalBytes: Int64
        public var usableBytes: Int64

        public init(errorCode: KafkaErrorCode = .none, path: String, topics: [Topic], totalBytes: Int64 = -1, usableBytes: Int64 = -1) {
            (self.errorCode, self.path, self.topics, self.totalBytes, self.usableBytes) = (errorCode, path, topics, totalBytes, usableBytes)
        }
    }

    public var errorCode: KafkaErrorCode
    public var directories: [Directory]

    public init(errorCode: KafkaErrorCode = .none, directories: [Directory]) { (self.errorCode, self.directories) = (errorCode, directories) }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        if version >= 3 { encoder.int16(errorCode.rawValue) }
        encoder.array(directories) { encoder, directory in
            encoder.int16(directory.errorCode.rawValue)
            encoder.string(directory.path)
            encoder.array(directory.topics) { encoder, topic in
                encoder.string(topic.name)
                encoder.array(topic.partitions) { encoder, partition in
                    encoder.int32(partition.index)
                    encoder.int64(partition.size)
                    encoder.int64(partition.offsetLag)
                    encoder.bool(false)
                    encoder.taggedFields()
                }
                encoder.taggedFields()
            }
            if version >= 4 {
                encoder.int64(directory.totalBytes)
                encoder.int64(directory.usableBytes)
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct OffsetForLeaderEpochRequest: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var partition: Int32
        /// The epoch the client believes current (v2+); -1 skips the check.
        public var currentLeaderEpoch: Int32
        /// The epoch whose end offset is asked.
        public var leaderEpoch: Int32

        public init(partition: Int32, currentLeaderEpoch: Int32 = -1, leaderEpoch: Int32) {
            (self.partition, self.currentLeaderEpoch, self.leaderEpoch) = (partition, currentLeaderEpoch, leaderEpoch)
        }
    }

    /// -1 for a consumer, -2 (the default) for a debugging tool, a broker id for a follower (v3+).
    public var replicaId: Int32
    public var topics: [(name: String, partitions: [Partition])]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.replicaId == rhs.replicaId && lhs.topics.map(\.name) == rhs.topics.map(\.name) && lhs.topics.map(\.partitions) == rhs.topics.map(\.partitions)
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let replicaId = version >= 3 ? try decoder.int32("replica id") : -2
        let topics = try decoder.array("topics") { decoder in
            let name = try decoder.string("topic name")
            let partitions = try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                let current = version >= 2 ? try decoder.int32("current leader epoch") : -1
                let epoch = try decoder.int32("leader epoch")
                try decoder.taggedFields()
                return Partition(partition: partition, currentLeaderEpoch: current, leaderEpoch: epoch)
            }
            try decoder.taggedFields()
            return (name: name, partitions: partitions)
        }
        try decoder.taggedFields()
        return Self(replicaId: replicaId, topics: topics)
    }
}

public struct OffsetForLeaderEpochResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var partition: Int32
        public var leaderEpoch: Int32
        public var endOffset: Int64

        public init(errorCode: KafkaErrorCode, partition: Int32, leaderEpoch: Int32 = -1, endOffset: Int64 = -1) {
            (self.errorCode, self.partition, self.leaderEpoch, self.endOffset) = (errorCode, partition, leaderEpoch, endOffset)
        }
    }

    public var topics: [(name: String, partitions: [Partition])]

    public init(topics: [(name: String, partitions: [Partition])]) { self.topics = topics }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.topics.map(\.name) == rhs.topics.map(\.name) && lhs.topics.map(\.partitions) == rhs.topics.map(\.partitions)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        if version >= 2 { encoder.int32(0) }
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int16(partition.errorCode.rawValue)
                encoder.int32(partition.partition)
                if version >= 1 { encoder.int32(partition.leaderEpoch) }
                encoder.int64(partition.endOffset)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

/// DeleteRecords (21, v0–2, flexible from v2): move partitions' log start offsets forward.
public struct DeleteRecordsRequest: Sendable, Equatable {
    /// Records below `offset` go; -1 means the high watermark.
    public var topics: [(name: String, partitions: [(partition: Int32, offset: Int64)])]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.topics.map(\.name) == rhs.topics.map(\.name)
            && lhs.topics.map { $0.partitions.map(\.partition) } == rhs.topics.map { $0.partitions.map(\.partition) }
            && lhs.topics.map { $0.partitions.map(\.offset) } == rhs.topics.map { $0.partitions.map(\.offset) }
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let topics = try decoder.array("topics") { decoder in
            let name = try decoder.string("topic name")
            let partitions = try decoder.array("partitions") { decoder in
                let partition = try decoder.int32("partition")
                let offset = try decoder.int64("offset")
                try decoder.taggedFields()
                return (partition: partition, offset: offset)
            }
            try decoder.taggedFields()
            return (name: name, partitions: partitions)
        }
        _ = try decoder.int32("timeout")
        try decoder.taggedFields()
        return Self(topics: topics)
    }
}

public struct DeleteRecordsResponse: Sendable {
    public struct Partition: Sendable, Equatable {
        public var partition: Int32
        /// The log start offset after the deletion; -1 with an error.
        public var lowWatermark: Int64
        public var errorCode: KafkaErrorCode

        public init(partition: Int32, lowWatermark: Int64 = -1, errorCode: KafkaErrorCode) {
            (self.partition, self.lowWatermark, self.errorCode) = (partition, lowWatermark, errorCode)
        }
    }

    public var topics: [(name: String, partitions: [Partition])]

    public init(topics: [(name: String, partitions: [Partition])]) { self.topics = topics }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(topics) { encoder, topic in
            encoder.string(topic.name)
            encoder.array(topic.partitions) { encoder, partition in
                encoder.int32(partition.partition)
                encoder.int64(partition.lowWatermark)
                encoder.int16(partition.errorCode.rawValue)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}
