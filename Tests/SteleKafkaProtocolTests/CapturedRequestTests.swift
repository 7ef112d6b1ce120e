import Foundation
import NIOCore
import Testing
import SteleCore
@testable import SteleKafkaProtocol

/// Requests captured from the real clients decode completely (every byte accounted for) into
/// the values the clients sent.
@Suite("Requests captured from real clients")
struct CapturedRequestTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []).filter { $0.hasSuffix(".bin") }.sorted()
    }

    static func frame(_ name: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    @Test func everyClientAndApiIsCovered() {
        let names = Set(Self.names)
        for client in ["librdkafka", "kafka-python", "aiokafka"] {
            for api in ["apiversions", "metadata", "produce", "fetch", "listoffsets"] {
                #expect(names.contains { $0.hasPrefix("\(client)-\(api)-") }, "no \(api) capture from \(client)")
            }
        }
        for api in ["createtopics", "deletetopics", "initproducerid", "describeconfigs", "alterconfigs", "incrementalalterconfigs",
                    "createpartitions", "describelogdirs", "deleterecords"] {
            #expect(names.contains { $0.contains("-\(api)-") }, "no \(api) capture")
        }
        // The flexible versions the current clients prefer, captured from each (issue 16).
        for name in ["kafka-python-produce-v9", "librdkafka-produce-v10", "kafka-python-listoffsets-v8", "librdkafka-listoffsets-v7",
                     "kafka-python-findcoordinator-v4", "kafka-python-joingroup-v7", "kafka-python-syncgroup-v5", "kafka-python-heartbeat-v4",
                     "kafka-python-leavegroup-v5", "kafka-python-offsetcommit-v8", "librdkafka-offsetcommit-v9", "kafka-python-offsetfetch-v8",
                     "librdkafka-offsetfetch-v9", "kafka-python-listgroups-v5", "librdkafka-describegroups-v5", "librdkafka-deletegroups-v2",
                     "kafka-python-deletetopics-v6", "kafka-python-createtopics-v7", "librdkafka-consumergroupdescribe-v0"] {
            #expect(names.contains("\(name).bin"), "no \(name) capture")
        }
    }

    @Test func flexibleGroupRequestsCarryWhatTheClientsSent() throws {
        func body(_ name: String) throws -> (Int16, KafkaDecoder) {
            let (header, _, decoder) = try RequestHeader.decode(try Self.frame(name))
            return (header.apiVersion, decoder)
        }
        var (version, decoder) = try body("kafka-python-findcoordinator-v4.bin")
        let find = try FindCoordinatorRequest.decode(&decoder, version: version)
        #expect(find.keyType == 0 && find.keys.count == 1)
        (version, decoder) = try body("kafka-python-joingroup-v7.bin")
        let join = try JoinGroupRequest.decode(&decoder, version: version)
        #expect(join.protocolType == "consumer" && !join.protocols.isEmpty)
        (version, decoder) = try body("kafka-python-syncgroup-v5.bin")
        let sync = try SyncGroupRequest.decode(&decoder, version: version)
        #expect(sync.protocolType == "consumer" && sync.protocolName != nil)
        // An administrator removing a static member by its instance id alone, with a reason.
        (version, decoder) = try body("kafka-python-leavegroup-v5.bin")
        let leave = try LeaveGroupRequest.decode(&decoder, version: version)
        #expect(leave.members.count == 1 && leave.members[0].groupInstanceId != nil && leave.members[0].reason == "decommissioned")
        (version, decoder) = try body("kafka-python-offsetfetch-v8.bin")
        #expect(try OffsetFetchRequest.decode(&decoder, version: version).groups.count == 1)
        (version, decoder) = try body("librdkafka-offsetcommit-v9.bin")
        let commit = try OffsetCommitRequest.decode(&decoder, version: version)
        #expect(!commit.topics.isEmpty && commit.topics[0].partitions.allSatisfy { $0.offset >= 0 })
        (version, decoder) = try body("librdkafka-consumergroupdescribe-v0.bin")
        let describe = try ConsumerGroupDescribeRequest.decode(&decoder, version: version)
        // librdkafka asks one group per request.
        #expect(describe.groupIds.count == 1 && describe.groupIds[0].hasPrefix("k848-") && !describe.includeAuthorizedOperations)
        (version, decoder) = try body("kafka-python-deletetopics-v6.bin")
        let delete = try DeleteTopicsRequest.decode(&decoder, version: version)
        #expect(delete.topics.count == 1 && delete.topics[0].name?.hasPrefix("gadmin-") == true && delete.topics[0].topicId == MetadataResponse.Topic.zeroTopicId)
    }

    @Test(arguments: names)
    func decodesCompletely(name: String) throws {
        let frame = try Self.frame(name)
        let (key, version, _) = try #require(RequestHeader.peek(frame))
        if let api = ApiKey(rawValue: key), !api.supportedVersions.contains(version) {
            // A client probing a newer ApiVersions first (kafka-python asks for v4): the header
            // is enough to answer it with UNSUPPORTED_VERSION in a v0 body.
            #expect(api == .apiVersions)
            #expect(throws: KafkaProtocolError.unsupportedVersion(apiKey: key, version: version)) { try RequestHeader.decode(frame) }
            return
        }
        let (header, api, decoder) = try RequestHeader.decode(frame)
        var body = decoder
        #expect(header.clientId?.isEmpty == false)
        switch api {
        case .apiVersions:
            let request = try ApiVersionsRequest.decode(&body, version: header.apiVersion)
            if header.apiVersion >= 3 { #expect(request.clientSoftwareName?.isEmpty == false) }
        case .metadata:
            _ = try MetadataRequest.decode(&body, version: header.apiVersion)
        case .produce:
            let request = try ProduceRequest.decode(&body, version: header.apiVersion)
            #expect([-1, 1].contains(request.acks))
            for partition in request.topics.flatMap(\.partitions) {
                let records = Array(try #require(partition.records).readableBytesView)
                if header.apiVersion <= 2 {
                    // A message set (formats v0 and v1), as kafka-python pinned to Kafka 0.8–0.10 sends.
                    let messages = try LegacyMessageSet.decode(records, decompressor: nil)
                    #expect(!messages.isEmpty && messages.allSatisfy { $0.key != nil && $0.value != nil })
                    continue
                }
                let batch = try RecordBatch.validate(records)
                #expect(batch.magic == 2 && batch.recordCount > 0)
                if batch.attributes.compression == CompressionCodec.none {
                    let decoded = try RecordBatch.records(of: records)
                    #expect(decoded.allSatisfy { $0.key != nil })
                }
            }
        case .fetch:
            let request = try FetchRequest.decode(&body, version: header.apiVersion)
            #expect(!request.topics.isEmpty)
            if header.apiVersion >= 13 {
                // librdkafka 2.16's fetch: topics by id, without a session (librdkafka has no
                // KIP-227 sessions; kafka-python's are in its own capture).
                #expect(request.topics.allSatisfy { $0.topicId?.count == 16 && $0.name.isEmpty })
                #expect(request.sessionId == 0 && request.sessionEpoch == -1)
            }
            if name == "kafka-python-fetch-v12.bin" {
                // kafka-python 3's first fetch asks for a session (id 0, epoch 0).
                #expect(request.sessionId == 0 && request.sessionEpoch == 0 && request.topics.first?.name.isEmpty == false)
            }
        case .listOffsets:
            let request = try ListOffsetsRequest.decode(&body, version: header.apiVersion)
            #expect(!request.topics.isEmpty)
        case .createTopics:
            let request = try CreateTopicsRequest.decode(&body, version: header.apiVersion)
            #expect(request.topics.first?.partitions ?? 0 >= 1)
        case .deleteTopics:
            let request = try DeleteTopicsRequest.decode(&body, version: header.apiVersion)
            #expect(!request.names.isEmpty)
        case .initProducerId:
            let request = try InitProducerIdRequest.decode(&body, version: header.apiVersion)
            // An idempotent producer names no transactional id; a transactional one names its own.
            #expect(request.transactionalId == nil || request.transactionalId?.isEmpty == false)
            if request.transactionalId != nil { #expect(request.transactionTimeoutMs > 0) }
        case .addPartitionsToTxn:
            let request = try AddPartitionsToTxnRequest.decode(&body, version: header.apiVersion)
            #expect(!request.transactionalId.isEmpty && request.producerId >= 0 && !request.topics.isEmpty)
        case .addOffsetsToTxn:
            let request = try AddOffsetsToTxnRequest.decode(&body, version: header.apiVersion)
            #expect(!request.transactionalId.isEmpty && !request.groupId.isEmpty && request.producerId >= 0)
        case .endTxn:
            let request = try EndTxnRequest.decode(&body, version: header.apiVersion)
            #expect(!request.transactionalId.isEmpty && request.producerId >= 0)
        case .txnOffsetCommit:
            let request = try TxnOffsetCommitRequest.decode(&body, version: header.apiVersion)
            #expect(!request.groupId.isEmpty && !request.topics.isEmpty && request.producerId >= 0)
        case .listTransactions:
            _ = try ListTransactionsRequest.decode(&body, version: header.apiVersion)
        case .describeTransactions:
            #expect(!(try DescribeTransactionsRequest.decode(&body, version: header.apiVersion)).transactionalIds.isEmpty)
        case .consumerGroupHeartbeat:
            // librdkafka's first heartbeat with group.protocol=consumer: it names itself (v1),
            // joins at epoch 0 with its subscription and owns nothing yet.
            let request = try ConsumerGroupHeartbeatRequest.decode(&body, version: header.apiVersion)
            #expect(header.apiVersion == 1 && !request.memberId.isEmpty && request.memberEpoch == 0)
            #expect(request.subscribedTopicNames == ["k848"] && request.rebalanceTimeoutMs > 0 && request.ownedPartitions == [])
        case .findCoordinator, .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit, .offsetFetch,
             .listGroups, .describeGroups, .deleteGroups, .offsetDelete, .saslHandshake, .saslAuthenticate,
             .describeAcls, .createAcls, .deleteAcls, .describeUserScramCredentials, .alterUserScramCredentials, .describeCluster,
             .describeConfigs, .alterConfigs, .incrementalAlterConfigs, .createPartitions, .describeLogDirs, .offsetForLeaderEpoch, .deleteRecords,
             .electLeaders, .listPartitionReassignments, .alterPartitionReassignments, .alterReplicaLogDirs, .describeProducers,
             .describeClientQuotas, .alterClientQuotas, .describeTopicPartitions, .consumerGroupDescribe:
            try Self.decodeBody(api, version: header.apiVersion, &body)
        }
        #expect(body.remaining == 0, "\(name): \(body.remaining) bytes left after decoding")
    }

    @Test func kcatProduceCarriesTheRecordAsSent() throws {
        let (header, _, decoder) = try RequestHeader.decode(try Self.frame("librdkafka-produce-v7.bin"))
        var body = decoder
        let request = try ProduceRequest.decode(&body, version: header.apiVersion)
        #expect(request.topics.map(\.name) == ["capkcat"])
        let records = try RecordBatch.records(of: Array(request.topics[0].partitions[0].records!.readableBytesView))
        #expect(records.map { String(decoding: $0.key!, as: UTF8.self) } == ["a"])
        #expect(records[0].headers == [RecordHeader(key: "h", value: Array("v".utf8))])
    }

    @Test func adminRequestsCarryWhatTheClientsAsked() throws {
        func body(_ name: String) throws -> (Int16, KafkaDecoder) {
            let (header, _, decoder) = try RequestHeader.decode(try Self.frame(name))
            return (header.apiVersion, decoder)
        }
        // confluent-kafka's incremental_alter_configs: SET retention.bytes, DELETE segment.bytes, APPEND cleanup.policy.
        var (version, decoder) = try body("librdkafka-incrementalalterconfigs-v1.bin")
        let alter = try AlterConfigsRequest.decode(&decoder, version: version, incremental: true)
        #expect(alter.resources.first?.type == ConfigResourceType.topic.rawValue)
        #expect(alter.resources.first?.changes.map(\.operation) == [0, 1, 2])
        #expect(alter.resources.first?.changes.map(\.name) == ["retention.bytes", "segment.bytes", "cleanup.policy"])
        #expect(alter.resources.first?.changes[1].value == nil)
        // librdkafka asks for synonyms; kafka-python 3 sends the flexible v4.
        (version, decoder) = try body("librdkafka-describeconfigs-v1.bin")
        #expect(try DescribeConfigsRequest.decode(&decoder, version: version).includeSynonyms)
        (version, decoder) = try body("kafka-python-describeconfigs-v4.bin")
        #expect(try DescribeConfigsRequest.decode(&decoder, version: version).resources.first?.keys == nil)
        (version, decoder) = try body("librdkafka-createpartitions-v2.bin")
        let grow = try CreatePartitionsRequest.decode(&decoder, version: version)
        #expect(grow.topics.first?.count == 4 && grow.topics.first?.assignments == nil && !grow.validateOnly)
        (version, decoder) = try body("kafka-python-describelogdirs-v4.bin")
        // kafka-python names every topic it knows, with its partitions, rather than sending null.
        let dirs = try DescribeLogDirsRequest.decode(&decoder, version: version)
        #expect(dirs.topics?.contains { $0.name.hasPrefix("grow-") && $0.partitions == [0, 1, 2, 3] } == true)
    }

    @Test func everyTruncationOfACaptureIsAnErrorNotACrash() throws {
        for name in Self.names where !name.contains("produce") {
            let bytes = Array(try Self.frame(name).readableBytesView)
            for length in 0..<bytes.count {
                let frame = ByteBuffer(bytes: bytes[..<length])
                guard let (header, api, decoder) = try? RequestHeader.decode(frame) else { continue }
                var body = decoder
                _ = try? Self.decodeBody(api, version: header.apiVersion, &body)
            }
        }
    }

    static func decodeBody(_ api: ApiKey, version: Int16, _ body: inout KafkaDecoder) throws {
        switch api {
        case .apiVersions: _ = try ApiVersionsRequest.decode(&body, version: version)
        case .metadata: _ = try MetadataRequest.decode(&body, version: version)
        case .produce: _ = try ProduceRequest.decode(&body, version: version)
        case .fetch: _ = try FetchRequest.decode(&body, version: version)
        case .listOffsets: _ = try ListOffsetsRequest.decode(&body, version: version)
        case .createTopics: _ = try CreateTopicsRequest.decode(&body, version: version)
        case .deleteTopics: _ = try DeleteTopicsRequest.decode(&body, version: version)
        case .initProducerId: _ = try InitProducerIdRequest.decode(&body, version: version)
        case .addPartitionsToTxn: _ = try AddPartitionsToTxnRequest.decode(&body, version: version)
        case .addOffsetsToTxn: _ = try AddOffsetsToTxnRequest.decode(&body, version: version)
        case .endTxn: _ = try EndTxnRequest.decode(&body, version: version)
        case .txnOffsetCommit: _ = try TxnOffsetCommitRequest.decode(&body, version: version)
        case .listTransactions: _ = try ListTransactionsRequest.decode(&body, version: version)
        case .describeTransactions: _ = try DescribeTransactionsRequest.decode(&body, version: version)
        case .findCoordinator: _ = try FindCoordinatorRequest.decode(&body, version: version)
        case .joinGroup: _ = try JoinGroupRequest.decode(&body, version: version)
        case .syncGroup: _ = try SyncGroupRequest.decode(&body, version: version)
        case .heartbeat: _ = try HeartbeatRequest.decode(&body, version: version)
        case .leaveGroup: _ = try LeaveGroupRequest.decode(&body, version: version)
        case .offsetCommit: _ = try OffsetCommitRequest.decode(&body, version: version)
        case .offsetFetch: _ = try OffsetFetchRequest.decode(&body, version: version)
        case .listGroups: _ = try ListGroupsRequest.decode(&body, version: version)
        case .describeGroups: _ = try DescribeGroupsRequest.decode(&body, version: version)
        case .deleteGroups: _ = try DeleteGroupsRequest.decode(&body, version: version)
        case .offsetDelete: _ = try OffsetDeleteRequest.decode(&body, version: version)
        case .saslHandshake: _ = try SaslHandshakeRequest.decode(&body, version: version)
        case .saslAuthenticate: _ = try SaslAuthenticateRequest.decode(&body, version: version)
        case .describeAcls: _ = try DescribeAclsRequest.decode(&body, version: version)
        case .createAcls: _ = try CreateAclsRequest.decode(&body, version: version)
        case .deleteAcls: _ = try DeleteAclsRequest.decode(&body, version: version)
        case .describeUserScramCredentials: _ = try DescribeUserScramCredentialsRequest.decode(&body, version: version)
        case .alterUserScramCredentials: _ = try AlterUserScramCredentialsRequest.decode(&body, version: version)
        case .describeCluster: _ = try DescribeClusterRequest.decode(&body, version: version)
        case .describeConfigs: _ = try DescribeConfigsRequest.decode(&body, version: version)
        case .alterConfigs: _ = try AlterConfigsRequest.decode(&body, version: version, incremental: false)
        case .incrementalAlterConfigs: _ = try AlterConfigsRequest.decode(&body, version: version, incremental: true)
        case .createPartitions: _ = try CreatePartitionsRequest.decode(&body, version: version)
        case .describeLogDirs: _ = try DescribeLogDirsRequest.decode(&body, version: version)
        case .offsetForLeaderEpoch: _ = try OffsetForLeaderEpochRequest.decode(&body, version: version)
        case .deleteRecords: _ = try DeleteRecordsRequest.decode(&body, version: version)
        case .electLeaders: _ = try ElectLeadersRequest.decode(&body, version: version)
        case .listPartitionReassignments: _ = try ListPartitionReassignmentsRequest.decode(&body, version: version)
        case .alterPartitionReassignments: _ = try AlterPartitionReassignmentsRequest.decode(&body, version: version)
        case .alterReplicaLogDirs: _ = try AlterReplicaLogDirsRequest.decode(&body, version: version)
        case .describeProducers: _ = try DescribeProducersRequest.decode(&body, version: version)
        case .describeClientQuotas: _ = try DescribeClientQuotasRequest.decode(&body, version: version)
        case .alterClientQuotas: _ = try AlterClientQuotasRequest.decode(&body, version: version)
        case .describeTopicPartitions: _ = try DescribeTopicPartitionsRequest.decode(&body, version: version)
        case .consumerGroupHeartbeat: _ = try ConsumerGroupHeartbeatRequest.decode(&body, version: version)
        case .consumerGroupDescribe: _ = try ConsumerGroupDescribeRequest.decode(&body, version: version)
        }
    }
}
