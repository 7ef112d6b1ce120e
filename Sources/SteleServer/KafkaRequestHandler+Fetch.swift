import NIOCore
import SteleBroker
import SteleCompression
import SteleCore
import SteleKafkaProtocol
import SteleLog
import SteleSecurity

// Fetch: the long poll, incremental fetch sessions (KIP-227), topic ids (v13+) and the
// conversion of answers down to message formats v0/v1 for Fetch v0–3.
extension KafkaRequestHandler {
    /// Answers when `minBytes` are available or `maxWaitMs` has passed (Kafka's long poll).
    func fetch(_ request: FetchRequest, version: Int16, requester: Requester) async -> FetchResponse {
        // v13+ names topics by id: resolved here; an unknown id is answered UNKNOWN_TOPIC_ID.
        var request = request
        var unresolved: [FetchResponse.Topic] = []
        if version >= 13 {
            request.topics = request.topics.compactMap { topic in
                guard let id = topic.topicId.flatMap(Self.topicId), let open = broker.topic(id: id) else {
                    unresolved.append(.init(name: "", topicId: topic.topicId ?? [],
                                            partitions: topic.partitions.map { .init(partition: $0.partition, errorCode: .unknownTopicId) }))
                    return nil
                }
                var named = topic
                named.name = open.name
                return named
            }
            request.forgotten = request.forgotten.compactMap { topic in
                guard let id = topic.topicId.flatMap(Self.topicId), let open = broker.topic(id: id) else { return nil }
                var named = topic
                named.name = open.name
                return named
            }
        }
        // The fetch session decides what to read: the request's partitions, or the session's.
        let sessionRequest = FetchSessionRequest(
            sessionId: request.sessionId, epoch: request.sessionEpoch,
            partitions: request.topics.flatMap { topic in
                topic.partitions.map { (TopicPartition(topic: topic.name, partition: $0.partition),
                                        FetchSessionEntry(fetchOffset: $0.fetchOffset, maxBytes: $0.maxBytes, topicId: topic.topicId.flatMap(Self.topicId))) }
            },
            forgotten: request.forgotten.flatMap { topic in topic.partitions.map { TopicPartition(topic: topic.name, partition: $0) } })
        let plan = version >= 7 ? broker.fetchSessions.begin(sessionRequest, owner: requester.principal.description) : .full(sessionId: 0)
        let sessionId: Int32
        var incremental = false
        switch plan {
        case .sessionNotFound: return FetchResponse(topics: [], errorCode: .fetchSessionIdNotFound)
        case .invalidEpoch: return FetchResponse(topics: [], errorCode: .invalidFetchSessionEpoch)
        case let .full(id): sessionId = id
        case let .incremental(id, partitions):
            (sessionId, incremental) = (id, true)
            // The session's partitions, grouped by topic in the session's order.
            var topics: [FetchRequest.Topic] = []
            for (partition, entry) in partitions {
                let read = FetchRequest.Partition(partition: partition.partition, fetchOffset: entry.fetchOffset, maxBytes: entry.maxBytes)
                if topics.last?.name == partition.topic { topics[topics.count - 1].partitions.append(read) } else {
                    topics.append(FetchRequest.Topic(name: partition.topic, partitions: [read]))
                }
            }
            request.topics = topics
        }
        // Partitions of topics the requester may not read are answered with an error, once.
        var refused: [FetchResponse.Topic] = []
        request.topics = request.topics.filter { topic in
            if allowed(requester, .read, .topic(topic.name)) { return true }
            refused.append(.init(name: topic.name, partitions: topic.partitions.map { .init(partition: $0.partition, errorCode: .topicAuthorizationFailed) }))
            return false
        }
        var response = request.topics.isEmpty ? FetchResponse(topics: []) : await fetchAllowed(request, version: version)
        if sessionId != 0 {
            var results: [TopicPartition: FetchSessionResult] = [:]
            for topic in response.topics {
                for partition in topic.partitions {
                    results[TopicPartition(topic: topic.name, partition: partition.partition)] = FetchSessionResult(
                        highWatermark: partition.highWatermark, logStartOffset: partition.logStartOffset,
                        mustSend: partition.errorCode != .none || !(partition.records ?? []).isEmpty)
                }
            }
            let carried = broker.fetchSessions.complete(session: sessionId, incremental: incremental, results: results)
            if incremental {
                response.topics = response.topics.compactMap { topic in
                    var kept = topic
                    kept.partitions = topic.partitions.filter { carried.contains(TopicPartition(topic: topic.name, partition: $0.partition)) }
                    return kept.partitions.isEmpty ? nil : kept
                }
            }
        }
        response.topics += refused
        if version >= 13 {
            for index in response.topics.indices {
                response.topics[index].topicId = broker.topic(response.topics[index].name).map(Self.wireTopicId) ?? MetadataResponse.Topic.zeroTopicId
            }
        }
        response.topics += unresolved
        response.sessionId = sessionId
        return response
    }

    private func fetchAllowed(_ request: FetchRequest, version: Int16) async -> FetchResponse {
        let deadline = ContinuousClock.now + min(.milliseconds(Int(max(0, request.maxWaitMs))), maxFetchWait)
        while true {
            let generation = broker.arrivals.generation
            let (response, bytes, failed) = await readOnce(request, version: version)
            // Cancelled (the listener's shutdown grace period ran out): answer with what there
            // is; the wait below would return at once and the loop would spin.
            if bytes >= Int(request.minBytes) || failed || Task.isCancelled || ContinuousClock.now >= deadline { return response }
            await broker.arrivals.wait(after: generation, until: deadline)
        }
    }

    private func readOnce(_ request: FetchRequest, version: Int16) async -> (FetchResponse, Int, Bool) {
        let started = ContinuousClock.now
        var budget = min(Int(request.maxBytes), fetchMaxBytes)
        var total = 0
        defer { broker.metrics.recordFetch(bytes: total, since: started) }
        var failed = false
        var topics: [FetchResponse.Topic] = []
        for topic in request.topics {
            var partitions: [FetchResponse.Partition] = []
            for partition in topic.partitions {
                guard let log = try? await broker.partition(topic.name, partition.partition, autoCreate: false) else {
                    // An offline topic is there but damaged: a storage error, not "unknown".
                    let code: KafkaErrorCode = broker.offlineReason(topic.name) == nil ? .unknownTopicOrPartition : .kafkaStorageError
                    partitions.append(.init(partition: partition.partition, errorCode: code))
                    failed = true
                    continue
                }
                do {
                    // The first partition with data gets at least one batch even past the budget (KIP-74).
                    let limit = total == 0 ? min(Int(partition.maxBytes), fetchMaxBytes) : min(Int(partition.maxBytes), budget)
                    var records: [UInt8] = []
                    var aborted: [AbortedTransaction] = []
                    if limit > 0 {
                        // read_committed (v4+): up to the last stable offset, aborted transactions named.
                        let isolation: IsolationLevel = version >= 4 && request.isolationLevel == 1 ? .readCommitted : .readUncommitted
                        let read = try await log.read(from: partition.fetchOffset, maxBytes: limit, isolation: isolation)
                        records = read.batches
                        aborted = read.abortedTransactions
                        // v0–3 read message sets: format v0 up to Fetch v1, v1 from Fetch v2.
                        if version <= 3, !records.isEmpty {
                            var (stored, from) = (records, partition.fetchOffset)
                            // A read that converts to nothing (the records past the offset were
                            // compacted away) is read on from after it: an old consumer has no
                            // batch offsets to step over it, and would ask again forever.
                            for _ in 0..<16 {
                                let (batches, start) = (stored, from)
                                records = try await Self.decoding.run {
                                    try LegacyMessageSet.downConvert(batches, magic: version <= 1 ? 0 : 1, from: start, maxBytes: limit, decompressor: KafkaCodecs())
                                }
                                guard records.isEmpty, let next = LegacyMessageSet.offset(afterBatches: stored), next < log.highWatermark else { break }
                                from = next
                                stored = try await log.read(from: next, maxBytes: limit).batches
                                if stored.isEmpty { break }
                            }
                        }
                    } else if partition.fetchOffset < log.logStartOffset || partition.fetchOffset > log.logEndOffset {
                        throw LogError.offsetOutOfRange(requested: partition.fetchOffset, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset)
                    }
                    total += records.count
                    budget -= records.count
                    partitions.append(.init(partition: partition.partition, errorCode: .none, highWatermark: log.highWatermark,
                                            logStartOffset: log.logStartOffset, records: records, lastStableOffset: log.lastStableOffset,
                                            abortedTransactions: aborted.map { ($0.producerId, $0.firstOffset) }))
                } catch let error as LogError {
                    failed = true
                    partitions.append(.init(partition: partition.partition, errorCode: Self.errorCode(for: error),
                                            highWatermark: log.highWatermark, logStartOffset: log.logStartOffset))
                    if case .corruption = error {
                        broker.metrics.corruptReads.increment()
                        // Once a minute per partition: a consumer retrying the fetch must not flood the log.
                        if let heldBack = broker.metrics.corruptReadLog.admit("\(topic.name)-\(partition.partition)", now: .now) {
                            logger.error("fetch hit damaged data", metadata: ["error": "\(error)", "same since last logged": "\(heldBack)"])
                        }
                    }
                } catch {
                    failed = true
                    partitions.append(.init(partition: partition.partition, errorCode: .unknownServerError))
                }
            }
            topics.append(.init(name: topic.name, partitions: partitions))
        }
        return (FetchResponse(topics: topics), total, failed)
    }
}
