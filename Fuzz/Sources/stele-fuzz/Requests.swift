import NIOCore
import SteleCore
import SteleKafkaProtocol

/// Feeds arbitrary bytes to everything that parses a Kafka request: the request header, every
/// request body decoder, and the record batch validator for produced batches.
func fuzzRequest(_ bytes: UnsafeBufferPointer<UInt8>) {
    let frame = ByteBuffer(bytes: bytes)
    guard let (header, api, decoder) = try? RequestHeader.decode(frame) else { return }
    var body = decoder
    switch api {
    case .apiVersions: _ = try? ApiVersionsRequest.decode(&body, version: header.apiVersion)
    case .metadata: _ = try? MetadataRequest.decode(&body, version: header.apiVersion)
    case .produce:
        if let request = try? ProduceRequest.decode(&body, version: header.apiVersion) {
            for records in request.topics.flatMap(\.partitions).compactMap(\.records) {
                let batch = Array(records.readableBytesView)
                if (try? RecordBatch.validate(batch)) != nil { _ = try? RecordBatch.records(of: batch) }
            }
        }
    case .fetch: _ = try? FetchRequest.decode(&body, version: header.apiVersion)
    case .listOffsets: _ = try? ListOffsetsRequest.decode(&body, version: header.apiVersion)
    case .createTopics: _ = try? CreateTopicsRequest.decode(&body, version: header.apiVersion)
    case .deleteTopics: _ = try? DeleteTopicsRequest.decode(&body, version: header.apiVersion)
    case .initProducerId: _ = try? InitProducerIdRequest.decode(&body, version: header.apiVersion)
    case .addPartitionsToTxn: _ = try? AddPartitionsToTxnRequest.decode(&body, version: header.apiVersion)
    case .addOffsetsToTxn: _ = try? AddOffsetsToTxnRequest.decode(&body, version: header.apiVersion)
    case .endTxn: _ = try? EndTxnRequest.decode(&body, version: header.apiVersion)
    case .txnOffsetCommit: _ = try? TxnOffsetCommitRequest.decode(&body, version: header.apiVersion)
    case .listTransactions: _ = try? ListTransactionsRequest.decode(&body, version: header.apiVersion)
    case .describeTransactions: _ = try? DescribeTransactionsRequest.decode(&body, version: header.apiVersion)
    case .findCoordinator: _ = try? FindCoordinatorRequest.decode(&body, version: header.apiVersion)
    case .joinGroup: _ = try? JoinGroupRequest.decode(&body, version: header.apiVersion)
    case .syncGroup: _ = try? SyncGroupRequest.decode(&body, version: header.apiVersion)
    case .heartbeat: _ = try? HeartbeatRequest.decode(&body, version: header.apiVersion)
    case .leaveGroup: _ = try? LeaveGroupRequest.decode(&body, version: header.apiVersion)
    case .offsetCommit: _ = try? OffsetCommitRequest.decode(&body, version: header.apiVersion)
    case .offsetFetch: _ = try? OffsetFetchRequest.decode(&body, version: header.apiVersion)
    case .listGroups: _ = try? ListGroupsRequest.decode(&body, version: header.apiVersion)
    case .describeGroups: _ = try? DescribeGroupsRequest.decode(&body, version: header.apiVersion)
    case .deleteGroups: _ = try? DeleteGroupsRequest.decode(&body, version: header.apiVersion)
    case .offsetDelete: _ = try? OffsetDeleteRequest.decode(&body, version: header.apiVersion)
    case .saslHandshake: _ = try? SaslHandshakeRequest.decode(&body, version: header.apiVersion)
    case .saslAuthenticate: _ = try? SaslAuthenticateRequest.decode(&body, version: header.apiVersion)
    case .describeAcls: _ = try? DescribeAclsRequest.decode(&body, version: header.apiVersion)
    case .createAcls: _ = try? CreateAclsRequest.decode(&body, version: header.apiVersion)
    case .deleteAcls: _ = try? DeleteAclsRequest.decode(&body, version: header.apiVersion)
    case .describeUserScramCredentials: _ = try? DescribeUserScramCredentialsRequest.decode(&body, version: header.apiVersion)
    case .alterUserScramCredentials: _ = try? AlterUserScramCredentialsRequest.decode(&body, version: header.apiVersion)
    case .describeCluster: _ = try? DescribeClusterRequest.decode(&body, version: header.apiVersion)
    case .describeConfigs: _ = try? DescribeConfigsRequest.decode(&body, version: header.apiVersion)
    case .alterConfigs: _ = try? AlterConfigsRequest.decode(&body, version: header.apiVersion, incremental: false)
    case .incrementalAlterConfigs: _ = try? AlterConfigsRequest.decode(&body, version: header.apiVersion, incremental: true)
    case .createPartitions: _ = try? CreatePartitionsRequest.decode(&body, version: header.apiVersion)
    case .describeLogDirs: _ = try? DescribeLogDirsRequest.decode(&body, version: header.apiVersion)
    case .offsetForLeaderEpoch: _ = try? OffsetForLeaderEpochRequest.decode(&body, version: header.apiVersion)
    case .deleteRecords: _ = try? DeleteRecordsRequest.decode(&body, version: header.apiVersion)
    case .electLeaders: _ = try? ElectLeadersRequest.decode(&body, version: header.apiVersion)
    case .listPartitionReassignments: _ = try? ListPartitionReassignmentsRequest.decode(&body, version: header.apiVersion)
    case .alterPartitionReassignments: _ = try? AlterPartitionReassignmentsRequest.decode(&body, version: header.apiVersion)
    case .alterReplicaLogDirs: _ = try? AlterReplicaLogDirsRequest.decode(&body, version: header.apiVersion)
    case .describeProducers: _ = try? DescribeProducersRequest.decode(&body, version: header.apiVersion)
    case .describeClientQuotas: _ = try? DescribeClientQuotasRequest.decode(&body, version: header.apiVersion)
    case .alterClientQuotas: _ = try? AlterClientQuotasRequest.decode(&body, version: header.apiVersion)
    case .describeTopicPartitions: _ = try? DescribeTopicPartitionsRequest.decode(&body, version: header.apiVersion)
    case .consumerGroupHeartbeat: _ = try? ConsumerGroupHeartbeatRequest.decode(&body, version: header.apiVersion)
    case .consumerGroupDescribe: _ = try? ConsumerGroupDescribeRequest.decode(&body, version: header.apiVersion)
    }
}
