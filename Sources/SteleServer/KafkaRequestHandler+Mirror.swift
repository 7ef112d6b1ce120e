import NIOCore
import SteleBroker
import SteleCore
import SteleKafkaProtocol
import SteleLog
import SteleSecurity

/// Produce into mirror topics (``TopicConfig/mirrorSourceKey``): an active one is written only
/// by its mirror, whose batches keep the source's offsets; producers are refused until the
/// topic is promoted.
extension KafkaRequestHandler {
    /// The client id of a mirror's Produce requests (`stele mirror`). With authorization on, the
    /// mirror's principal also needs CLUSTER_ACTION on the cluster, as Kafka's replication does:
    /// it places batches at offsets of its choosing.
    static let mirrorClientId = "stele-mirror"

    /// `nil` when the usual append applies (not an active mirror topic, and not the mirror);
    /// else the mirror's append, or the refusal.
    ///
    /// The mirror may send several batches for one partition in one request (a Stele extension
    /// of Produce v3+, which carries one): they are appended in order, each at its source
    /// offsets, in one group (one sync); the answer names the first batch's base offset, or the first refusal.
    func mirrorProduce(topic: String, partition: Int32, records: ByteBuffer, version: Int16, clientId: String,
                       requester: Requester) async -> ProduceResponse.Partition? {
        let config = broker.topic(topic)?.config
        let isMirror = clientId == Self.mirrorClientId
        guard config?.isActiveMirror == true || isMirror else { return nil }
        func failure(_ code: KafkaErrorCode, _ message: String) -> ProduceResponse.Partition {
            logger.debug("produce rejected", metadata: ["topic": "\(topic)", "partition": "\(partition)", "reason": "\(message)"])
            return .init(index: partition, errorCode: code, errorMessage: message)
        }
        guard let config, let source = config.mirrorSource else {
            return failure(.invalidRequest, "\(topic) is not a mirror topic: a mirror (client id \(Self.mirrorClientId)) writes only into mirror topics")
        }
        guard isMirror else {
            return failure(.policyViolation, "\(topic) mirrors \(source) and is read-only until it is promoted (stele mirror promote)")
        }
        guard config.isActiveMirror else {
            return failure(.policyViolation, "\(topic) was promoted: its mirror no longer writes to it")
        }
        guard version >= 3 else { return failure(.unsupportedVersion, "a mirror sends Produce v3 or later (record batches)") }
        guard allowed(requester, .clusterAction, .cluster) else {
            return failure(.clusterAuthorizationFailed, "CLUSTER_ACTION on the cluster is needed to write a mirror topic")
        }
        let log: PartitionLog
        do { log = try await broker.partition(topic, partition, autoCreate: false) } catch {
            return failure(broker.offlineReason(topic) == nil ? .unknownTopicOrPartition : .kafkaStorageError, "\(error)")
        }
        let bytes = Array(records.readableBytesView)
        var position = 0
        var batches: [[UInt8]] = []
        var counts: [(records: Int, bytes: Int)] = []
        while position < bytes.count {
            let header = bytes.withUnsafeBytes { raw in
                position + RecordBatchHeader.size <= raw.count ? try? RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[position...])) : nil
            }
            guard let header, header.totalSize >= RecordBatchHeader.size, position + header.totalSize <= bytes.count else {
                return failure(.corruptMessage, "bytes from \(position) on are not a whole record batch")
            }
            batches.append(Array(bytes[position..<(position + header.totalSize)]))
            counts.append((Int(header.recordCount), header.totalSize))
            // Before the append: an InitProducerId answered meanwhile cannot get this id.
            broker.noteProducerIdInUse(header.producerId)
            position += header.totalSize
        }
        guard !batches.isEmpty else { return failure(.invalidRecord, "a produce request must hold a record batch") }
        // Promoted meanwhile: nothing more of the source lands after the promotion's abort pass.
        guard broker.topic(topic)?.config.isActiveMirror == true else {
            return failure(.policyViolation, "\(topic) was promoted: its mirror no longer writes to it")
        }
        let first: AppendResult
        do {
            // One group for the request's batches: one write, one sync.
            let started = ContinuousClock.now
            first = try await log.appendKeepingOffsets(batches)[0]
            for count in counts { broker.metrics.kafkaAppends.record(records: count.records, bytes: count.bytes, since: started) }
        } catch let error as LogError {
            broker.metrics.kafkaAppends.failures.increment()
            return failure(Self.errorCode(for: error), error.description)
        } catch {
            return failure(.unknownServerError, "\(error)")
        }
        return .init(index: partition, errorCode: .none, baseOffset: first.baseOffset, logAppendTimeMs: -1, logStartOffset: log.logStartOffset)
    }
}
