/// The Kafka APIs Stele implements, with the versions it advertises.
///
/// Ranges follow the "Minimal" profile of `kafka-protocol.md` §7, widened where real clients
/// need it: librdkafka 2.0.2's feature checks (Produce ∋ 0, 3 and 7; Fetch ∋ 4 and 10;
/// ApiVersions ∋ 0), aiokafka's fixed versions, and old clients (Produce v0–2 and Fetch v0–3
/// carry message formats v0 and v1, converted), up to the flexible versions (compact encodings,
/// tagged fields) current clients prefer: librdkafka 2.16 (Produce v10, ListOffsets v7,
/// OffsetCommit/OffsetFetch v9, DeleteTopics v4, group administration) and kafka-python 3
/// (JoinGroup v7, SyncGroup v5, the rest at Stele's highest). An API that is not listed here is
/// not advertised: clients start using optional APIs as soon as they appear.
public enum ApiKey: Int16, Sendable, CaseIterable {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case apiVersions = 18
    case createTopics = 19
    case deleteTopics = 20
    case initProducerId = 22
    case addPartitionsToTxn = 24
    case addOffsetsToTxn = 25
    case endTxn = 26
    case txnOffsetCommit = 28
    case describeTransactions = 65
    case listTransactions = 66
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case describeGroups = 15
    case listGroups = 16
    case deleteGroups = 42
    case offsetDelete = 47
    case saslHandshake = 17
    case saslAuthenticate = 36
    case describeAcls = 29
    case createAcls = 30
    case deleteAcls = 31
    case describeUserScramCredentials = 50
    case alterUserScramCredentials = 51
    case describeCluster = 60
    case describeConfigs = 32
    case alterConfigs = 33
    case incrementalAlterConfigs = 44
    case createPartitions = 37
    case describeLogDirs = 35
    case offsetForLeaderEpoch = 23
    case deleteRecords = 21
    case electLeaders = 43
    case alterPartitionReassignments = 45
    case listPartitionReassignments = 46
    case alterReplicaLogDirs = 34
    case describeProducers = 61
    case describeClientQuotas = 48
    case alterClientQuotas = 49
    case describeTopicPartitions = 75
    case consumerGroupHeartbeat = 68
    case consumerGroupDescribe = 69

    /// Versions Stele parses and answers.
    public var supportedVersions: ClosedRange<Int16> {
        switch self {
        // v0–2 carry message sets (formats v0 and v1), converted to v2 batches on the way in
        // and out: kafka-go, sarama before its 0.11 setting, and librdkafka's feature check.
        // v12 is KIP-890's transaction version 2: a transactional batch adds its partition to
        // the transaction itself (no AddPartitionsToTxn). v13 names topics by id.
        case .produce: 0...12
        // v7+ with fetch sessions (KIP-227), v12+ flexible, v13+ topic ids; v15–17 differ only in
        // replica fields (tagged).
        case .fetch: 0...17
        case .listOffsets: 0...8
        case .metadata: 0...12
        // v4 only lets SupportedFeatures carry a minimum of 0 (KAFKA-17011).
        case .apiVersions: 0...4
        // v0 too: kafka-go and sarama's older defaults send CreateTopics v0 and DeleteTopics v0.
        case .createTopics: 0...7
        case .deleteTopics: 0...6
        case .initProducerId: 0...4
        // v4+ of AddPartitionsToTxn is the brokers' batched form. EndTxn v5 and TxnOffsetCommit
        // v5 are KIP-890's transaction version 2 (`transaction.version` 2 in ApiVersions);
        // TxnOffsetCommit v6 names topics by id.
        case .addPartitionsToTxn: 0...3
        case .addOffsetsToTxn: 0...4
        case .endTxn, .txnOffsetCommit: 0...5
        case .describeTransactions: 0...0
        case .listTransactions: 0...1
        // FindCoordinator must contain 0: librdkafka < 2.11 gates coordinator lookups (and lz4) on it.
        case .findCoordinator: 0...4
        case .joinGroup: 0...9
        case .syncGroup: 0...5
        case .heartbeat: 0...4
        case .leaveGroup: 0...5
        // aiokafka needs OffsetCommit 2 or 3 and OffsetFetch ≤ 3 in range; v0 (ZooKeeper-stored
        // offsets in Kafka before 4.0) and v1 go to the same store, for clients pinned to 0.8.
        case .offsetCommit: 0...9
        case .offsetFetch: 0...9
        case .describeGroups: 0...5
        case .listGroups: 0...5
        case .deleteGroups: 0...2
        case .offsetDelete: 0...0
        // v0 too: kafka-python 2.0 and aiokafka send it (then bare SASL tokens), and
        // librdkafka before 2.11.1 refuses SASL when the range lacks it.
        case .saslHandshake: 0...1
        case .saslAuthenticate: 0...2
        // kafka-python's admin client sends v0–1, librdkafka v0–1 (v2–3 from newer ones).
        case .describeAcls, .createAcls, .deleteAcls: 0...3
        // KIP-554: one version, flexible.
        case .describeUserScramCredentials, .alterUserScramCredentials: 0...0
        // KIP-700 (v0) and KIP-919's endpoint type (v1), flexible from the first.
        case .describeCluster: 0...1
        // librdkafka sends DescribeConfigs v1 (synonyms), kafka-python v2; v4 is flexible.
        case .describeConfigs: 0...4
        case .alterConfigs: 0...2
        case .incrementalAlterConfigs: 0...1
        case .createPartitions: 0...3
        // v0 is deprecated in Kafka 3.x but still sent by kafka-python; v4 adds disk totals.
        case .describeLogDirs: 0...4
        // KIP-320: consumers validate their position after a leader change; v3 adds the
        // replica id, v4 is flexible.
        case .offsetForLeaderEpoch: 0...4
        case .deleteRecords: 0...2
        // Replica and leadership admin, answered as a single node: nothing to elect or move.
        case .electLeaders: 0...2
        case .alterPartitionReassignments, .listPartitionReassignments: 0...0
        case .alterReplicaLogDirs: 0...2
        case .describeProducers: 0...0
        case .describeClientQuotas, .alterClientQuotas: 0...1
        case .describeTopicPartitions: 0...0
        // KIP-848 (Kafka 4.0); v1 adds the regex subscription and the client's own member id.
        case .consumerGroupHeartbeat: 0...1
        case .consumerGroupDescribe: 0...0
        }
    }

    /// The first version using compact encodings and tagged fields (AK JSON `flexibleVersions`).
    public var firstFlexibleVersion: Int16 {
        switch self {
        case .produce: 9
        case .fetch: 12
        case .listOffsets: 6
        case .metadata: 9
        case .apiVersions: 3
        case .createTopics: 5
        case .deleteTopics: 4
        case .initProducerId: 2
        case .addPartitionsToTxn, .addOffsetsToTxn, .endTxn, .txnOffsetCommit: 3
        case .describeTransactions, .listTransactions: 0
        case .findCoordinator: 3
        case .joinGroup: 6
        case .syncGroup: 4
        case .heartbeat: 4
        case .leaveGroup: 4
        case .offsetCommit: 8
        case .offsetFetch: 6
        case .describeGroups: 5
        case .listGroups: 3
        case .deleteGroups: 2
        // OffsetDelete has no flexible version.
        case .offsetDelete: Int16.max
        case .saslHandshake: Int16.max
        case .saslAuthenticate: 2
        case .describeAcls, .createAcls, .deleteAcls: 2
        case .describeUserScramCredentials, .alterUserScramCredentials, .describeCluster: 0
        case .describeConfigs: 4
        case .alterConfigs: 2
        case .incrementalAlterConfigs: 1
        case .createPartitions: 2
        case .describeLogDirs: 2
        case .offsetForLeaderEpoch: 4
        case .deleteRecords: 2
        case .electLeaders: 2
        case .alterPartitionReassignments, .listPartitionReassignments, .describeProducers: 0
        case .alterReplicaLogDirs: 2
        case .describeClientQuotas, .alterClientQuotas: 1
        case .describeTopicPartitions, .consumerGroupHeartbeat, .consumerGroupDescribe: 0
        }
    }

    public func isFlexible(_ version: Int16) -> Bool { version >= firstFlexibleVersion }
}

/// Kafka error codes Stele returns (AK `Errors.java`).
public enum KafkaErrorCode: Int16, Sendable {
    case unknownServerError = -1
    case none = 0
    case offsetOutOfRange = 1
    case corruptMessage = 2
    case unknownTopicOrPartition = 3
    case leaderNotAvailable = 5
    case notLeaderOrFollower = 6
    case requestTimedOut = 7
    case messageTooLarge = 10
    case offsetMetadataTooLarge = 12
    case coordinatorLoadInProgress = 14
    case coordinatorNotAvailable = 15
    case notCoordinator = 16
    case invalidTopic = 17
    case recordListTooLarge = 18
    case notEnoughReplicas = 19
    case invalidRequiredAcks = 21
    case illegalGeneration = 22
    case inconsistentGroupProtocol = 23
    case invalidGroupId = 24
    case unknownMemberId = 25
    case invalidSessionTimeout = 26
    case rebalanceInProgress = 27
    case invalidTimestamp = 32
    case unsupportedVersion = 35
    case topicAlreadyExists = 36
    case invalidPartitions = 37
    case invalidReplicationFactor = 38
    case invalidRequest = 42
    case policyViolation = 44
    case invalidReplicaAssignment = 39
    case fencedLeaderEpoch = 74
    case unknownLeaderEpoch = 75
    case logDirNotFound = 57
    case unknownTopicId = 100
    case electionNotNeeded = 84
    case noReassignmentInProgress = 85
    case outOfOrderSequenceNumber = 45
    case duplicateSequenceNumber = 46
    case invalidProducerEpoch = 47
    case invalidConfig = 40
    case kafkaStorageError = 56
    case unknownProducerId = 59
    case unsupportedCompressionType = 76
    case memberIdRequired = 79
    case fencedInstanceId = 82
    case invalidRecord = 87
    case groupIdNotFound = 69
    case nonEmptyGroup = 68
    case unsupportedSaslMechanism = 33
    case illegalSaslState = 34
    case saslAuthenticationFailed = 58
    case topicAuthorizationFailed = 29
    case groupAuthorizationFailed = 30
    case clusterAuthorizationFailed = 31
    case transactionalIdAuthorizationFailed = 53
    case securityDisabled = 54
    case resourceNotFound = 91
    case duplicateResource = 92
    case unacceptableCredential = 93
    case mismatchedEndpointType = 114
    case unsupportedEndpointType = 115
    case groupMaxSizeReached = 81
    case fetchSessionIdNotFound = 70
    case invalidFetchSessionEpoch = 71
    case fencedMemberEpoch = 110
    case unreleasedInstanceId = 111
    case unsupportedAssignor = 112
    case staleMemberEpoch = 113
    case invalidTxnState = 48
    case invalidProducerIdMapping = 49
    case invalidTransactionTimeout = 50
    case concurrentTransactions = 51
    case transactionCoordinatorFenced = 52
    case operationNotAttempted = 55
    case unstableOffsetCommit = 88
    case producerFenced = 90
    case transactionalIdNotFound = 105
}
