import NIOCore
import SteleKafkaProtocol

/// A Kafka-protocol cluster as `stele mirror` uses it: a request about a partition goes to its
/// leader, a transactional or group request to its coordinator, a request about topics to any
/// broker — so the source and the target may each be a cluster of many brokers, as Kafka's are.
///
/// The brokers and leaders come from Metadata (v5), refreshed with the topics; a connection to
/// a broker is made when first needed, with the endpoint's TLS and SASL settings, to the address
/// the broker advertises. A cluster of one broker is reached through the address given (so a
/// broker behind a proxy or NAT, whose advertised address the mirror cannot reach, still
/// works). A partition whose leader is unknown (none: -1, or a broker Metadata does not list)
/// makes one look at the metadata before a request is routed, then goes to the given address,
/// whose NOT_LEADER_OR_FOLLOWER the mirror handles as for any partition (skipped this pass, the
/// topics looked at again); NOT_COORDINATOR forgets the coordinators. Not for concurrent use,
/// like ``KafkaConnection``: one request at a time per broker, and no two calls at once.
final class KafkaCluster: @unchecked Sendable {
    typealias PartitionKey = KafkaConnection.PartitionKey

    let endpoint: KafkaEndpoint
    let bootstrap: KafkaConnection
    private let clientId: String
    private let requestTimeout: Duration
    private var brokers: [Int32: (host: String, port: Int)] = [:]
    private var connections: [Int32: KafkaConnection] = [:]
    private var leaders: [PartitionKey: Int32] = [:]
    private var coordinators: [String: Int32] = [:]

    private init(endpoint: KafkaEndpoint, bootstrap: KafkaConnection, clientId: String, requestTimeout: Duration) {
        (self.endpoint, self.bootstrap, self.clientId, self.requestTimeout) = (endpoint, bootstrap, clientId, requestTimeout)
    }

    static func connect(_ endpoint: KafkaEndpoint, clientId: String, requestTimeout: Duration) async throws -> KafkaCluster {
        let bootstrap = try await endpoint.connect(clientId: clientId, requestTimeout: requestTimeout)
        return KafkaCluster(endpoint: endpoint, bootstrap: bootstrap, clientId: clientId, requestTimeout: requestTimeout)
    }

    func close() async {
        for connection in connections.values where connection !== bootstrap { await connection.close() }
        await bootstrap.close()
        connections = [:]
    }

    /// Forgets leaders and coordinators (after a "not here" answer).
    func forgetRoutes() {
        leaders = [:]
        coordinators = [:]
    }

    /// The connection to `broker`: the bootstrap one in a cluster of one broker, or for a broker
    /// not known (yet).
    func connection(to broker: Int32?) async throws -> KafkaConnection {
        guard let broker, brokers.count > 1, let address = brokers[broker] else { return bootstrap }
        if let open = connections[broker] { return open }
        let remote = try KafkaEndpoint(host: address.host, port: address.port, properties: endpoint.properties)
        do {
            let connection = try await remote.connect(clientId: clientId, requestTimeout: requestTimeout)
            connections[broker] = connection
            return connection
        } catch let error as MirrorError {
            throw error
        } catch {
            throw MirrorError("broker \(broker) of \(endpoint.address) advertises \(remote.address), which cannot be reached from here "
                + "(its advertised.listeners must be): \(error)")
        }
    }

    /// Every broker's connection (one, in a cluster of one broker).
    func everyBroker() async throws -> [KafkaConnection] {
        guard brokers.count > 1 else { return [bootstrap] }
        var all: [KafkaConnection] = []
        for broker in brokers.keys.sorted() { all.append(try await connection(to: broker)) }
        return all
    }

    /// Whether `key`'s leader is a broker Metadata listed.
    private func knowsLeader(of key: PartitionKey) -> Bool { leaders[key].map { brokers[$0] != nil } ?? false }

    func leader(of key: PartitionKey) async throws -> KafkaConnection {
        if !knowsLeader(of: key) && brokers.count > 1 { _ = try await topicPartitions() }
        return try await connection(to: leaders[key])
    }

    /// The coordinator of a group (`type` 0) or a transactional id (1), FindCoordinator v1.
    func coordinator(of key: String, type: Int8) async throws -> KafkaConnection {
        if brokers.isEmpty { _ = try await topicPartitions() }
        guard brokers.count > 1 else { return bootstrap }
        if let known = coordinators["\(type) \(key)"] { return try await connection(to: known) }
        while true {
            var response = try await bootstrap.send(.findCoordinator, version: 1) { encoder in
                encoder.string(key)
                encoder.int8(type)
            }
            _ = try response.int32("throttle")
            let error = KafkaErrorCode(rawValue: try response.int16("error")) ?? .unknownServerError
            let message = try response.nullableString("message")
            let node = try response.int32("node id")
            let host = try response.string("host")
            let port = try response.int32("port")
            switch error {
            case .none:
                if brokers[node] == nil {
                    // Not in the metadata seen last: its address is the one just given.
                    guard (1...65_535).contains(port) else { throw MirrorError("the coordinator of \(key) is at port \(port)") }
                    brokers[node] = (host, Int(port))
                }
                coordinators["\(type) \(key)"] = node
                return try await connection(to: node)
            case .coordinatorNotAvailable, .coordinatorLoadInProgress:
                try await Task.sleep(for: .milliseconds(50))
            default:
                throw MirrorError("finding the coordinator of \(key)", refused: error, message)
            }
        }
    }

    /// Topic names and partition counts (internal `__` topics left out); learns the brokers and
    /// each partition's leader on the way (Metadata v5).
    func topicPartitions() async throws -> [String: Int] {
        var decoder = try await bootstrap.send(.metadata, version: 5) { MetadataRequest(topics: nil, allowAutoTopicCreation: false).encode(&$0, version: 5) }
        _ = try decoder.int32("throttle")
        let advertised = try decoder.array("brokers") { decoder in
            (node: try decoder.int32("node id"), host: try decoder.string("host"), port: try decoder.int32("port"), rack: try decoder.nullableString("rack"))
        }
        var brokers: [Int32: (host: String, port: Int)] = [:]
        for broker in advertised {
            guard (1...65_535).contains(broker.port) else { throw MirrorError("broker \(broker.node) advertises port \(broker.port)") }
            brokers[broker.node] = (broker.host, Int(broker.port))
        }
        _ = try decoder.nullableString("cluster id")
        _ = try decoder.int32("controller id")
        let described = try decoder.array("topics") { decoder in
            let error = KafkaErrorCode(rawValue: try decoder.int16("topic error")) ?? .unknownServerError
            let name = try decoder.string("topic")
            _ = try decoder.bool("internal")
            let partitions = try decoder.array("partitions") { decoder in
                _ = try decoder.int16("partition error")
                let partition = try decoder.int32("partition")
                let leader = try decoder.int32("leader")
                for field in ["replicas", "isr", "offline replicas"] { _ = try decoder.array(field) { try $0.int32(field) } }
                return (partition: partition, leader: leader)
            }
            return (error: error, name: name, partitions: partitions)
        }
        var topics: [String: Int] = [:]
        var leaders: [PartitionKey: Int32] = [:]
        for topic in described {
            for partition in topic.partitions { leaders[PartitionKey(topic: topic.name, partition: partition.partition)] = partition.leader }
            if topic.error == .none && !topic.name.hasPrefix("__") { topics[topic.name] = topic.partitions.count }
        }
        for (broker, connection) in connections {
            // Gone, or moved: its connection is of no use any more.
            guard let now = brokers[broker], let before = self.brokers[broker], now == before else {
                await connection.close()
                connections[broker] = nil
                continue
            }
        }
        (self.brokers, self.leaders) = (brokers, leaders)
        return topics
    }

    /// `keys` grouped by their leaders' connections, in their order. The metadata is looked at
    /// once, first, if a leader is unknown (a refresh may close connections to brokers that
    /// moved, so none is picked before it).
    private func byLeader<Value>(_ items: [(PartitionKey, Value)]) async throws -> [(KafkaConnection, [(PartitionKey, Value)])] {
        if brokers.count > 1 && items.contains(where: { !knowsLeader(of: $0.0) }) { _ = try await topicPartitions() }
        var groups: [(KafkaConnection, [(PartitionKey, Value)])] = []
        for item in items {
            let connection = try await connection(to: leaders[item.0])
            if let index = groups.firstIndex(where: { $0.0 === connection }) { groups[index].1.append(item) } else { groups.append((connection, [item])) }
        }
        return groups
    }

    // MARK: Partition requests, to the leaders (at once when there are several)

    /// One broker's part of a fetch's byte budget (its share of the partitions asked, at least
    /// one partition's): the answers together stay within `maxBytes`, so what one pass writes
    /// to the target stays within its request limit however many brokers the source has.
    static func share(of maxBytes: Int32, partitions: Int, of total: Int, atLeast floor: Int32) -> Int32 {
        Int32(max(Int64(floor), Int64(maxBytes) * Int64(partitions) / Int64(max(total, 1))))
    }

    func offset(topic: String, partition: Int32, at timestamp: Int64) async throws -> Int64 {
        try await leader(of: PartitionKey(topic: topic, partition: partition)).offset(topic: topic, partition: partition, at: timestamp)
    }

    func fetchBatches(topic: String, partition: Int32, offset: Int64, maxBytes: Int32, maxWaitMs: Int32) async throws -> KafkaConnection.FetchedBatches {
        try await leader(of: PartitionKey(topic: topic, partition: partition))
            .fetchBatches(topic: topic, partition: partition, offset: offset, maxBytes: maxBytes, maxWaitMs: maxWaitMs)
    }

    func fetchMany(_ offsets: [PartitionKey: Int64], partitionMaxBytes: Int32, maxBytes: Int32, maxWaitMs: Int32,
                   rotation: Int = 0) async throws -> [PartitionKey: KafkaConnection.FetchedBatches] {
        let groups = try await byLeader(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return try await withThrowingTaskGroup(of: [PartitionKey: KafkaConnection.FetchedBatches].self) { tasks in
            for (connection, items) in groups {
                let asked = Dictionary(uniqueKeysWithValues: items)
                let share = Self.share(of: maxBytes, partitions: items.count, of: offsets.count, atLeast: partitionMaxBytes)
                tasks.addTask { try await connection.fetchMany(asked, partitionMaxBytes: partitionMaxBytes, maxBytes: share, maxWaitMs: maxWaitMs, rotation: rotation) }
            }
            return try await tasks.reduce(into: [:]) { $0.merge($1) { first, _ in first } }
        }
    }

    func fetchCommitted(_ offsets: [(PartitionKey, Int64)], partitionMaxBytes: Int32, maxBytes: Int32,
                        maxWaitMs: Int32) async throws -> [PartitionKey: KafkaConnection.CommittedFetch] {
        let groups = try await byLeader(offsets)
        return try await withThrowingTaskGroup(of: [PartitionKey: KafkaConnection.CommittedFetch].self) { tasks in
            for (connection, items) in groups {
                let share = Self.share(of: maxBytes, partitions: items.count, of: offsets.count, atLeast: partitionMaxBytes)
                tasks.addTask { try await connection.fetchCommitted(items, partitionMaxBytes: partitionMaxBytes, maxBytes: share, maxWaitMs: maxWaitMs) }
            }
            return try await tasks.reduce(into: [:]) { $0.merge($1) { first, _ in first } }
        }
    }

    func produceBatches(topic: String, partition: Int32, batches: ByteBuffer) async throws -> (KafkaErrorCode, String?) {
        try await leader(of: PartitionKey(topic: topic, partition: partition)).produceBatches(topic: topic, partition: partition, batches: batches)
    }

    func produceMany(_ batches: [PartitionKey: [UInt8]]) async throws -> [PartitionKey: (KafkaErrorCode, String?)] {
        let groups = try await byLeader(batches.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return try await withThrowingTaskGroup(of: [PartitionKey: (KafkaErrorCode, String?)].self) { tasks in
            for (connection, items) in groups {
                let writes = Dictionary(uniqueKeysWithValues: items)
                tasks.addTask { try await connection.produceMany(writes) }
            }
            return try await tasks.reduce(into: [:]) { $0.merge($1) { first, _ in first } }
        }
    }

    func produceTransactional(_ transactionalId: String, _ batches: [PartitionKey: [UInt8]]) async throws -> [PartitionKey: Int64] {
        let groups = try await byLeader(batches.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return try await withThrowingTaskGroup(of: [PartitionKey: Int64].self) { tasks in
            for (connection, items) in groups {
                let writes = Dictionary(uniqueKeysWithValues: items)
                tasks.addTask { try await connection.produceTransactional(transactionalId, writes) }
            }
            return try await tasks.reduce(into: [:]) { $0.merge($1) { first, _ in first } }
        }
    }

    // MARK: Coordinator requests

    func initTransactionalProducer(_ transactionalId: String, timeoutMs: Int32) async throws -> (id: Int64, epoch: Int16) {
        try await coordinator(of: transactionalId, type: 1).initTransactionalProducer(transactionalId, timeoutMs: timeoutMs)
    }

    func addPartitionsToTransaction(_ transactionalId: String, producer: (id: Int64, epoch: Int16), _ keys: [PartitionKey]) async throws {
        try await coordinator(of: transactionalId, type: 1).addPartitionsToTransaction(transactionalId, producer: producer, keys)
    }

    func endTransaction(_ transactionalId: String, producer: (id: Int64, epoch: Int16), commit: Bool) async throws {
        try await coordinator(of: transactionalId, type: 1).endTransaction(transactionalId, producer: producer, commit: commit)
    }

    /// The groups of every broker (ListGroups answers for the groups a broker coordinates).
    func groupIds() async throws -> [String] {
        var all: Set<String> = []
        for connection in try await everyBroker() { all.formUnion(try await connection.groupIds()) }
        return Array(all)
    }

    func committedOffsets(of group: String) async throws -> [String: [Int32: Int64]] {
        try await coordinator(of: group, type: 0).committedOffsets(of: group)
    }

    func commit(_ offsets: [String: [Int32: Int64]], for group: String) async throws -> KafkaErrorCode {
        let error = try await coordinator(of: group, type: 0).commit(offsets, for: group)
        if error == .notCoordinator { forgetRoutes() }
        return error
    }

    // MARK: Topic requests, to any broker

    func createTopic(_ name: String, partitions: Int, configs: [String: String]) async throws {
        try await bootstrap.createTopic(name, partitions: partitions, configs: configs)
    }

    func topicOverrides(_ topic: String) async throws -> [String: String] { try await bootstrap.topicOverrides(topic) }

    func topicOverrides(_ topics: [String]) async throws -> [String: Result<[String: String], MirrorError>] {
        try await bootstrap.topicOverrides(topics)
    }

    func growTopic(_ topic: String, to count: Int) async throws { try await bootstrap.growTopic(topic, to: count) }

    func alterTopicConfigs(_ topic: String, set: [String: String], delete: [String]) async throws {
        try await bootstrap.alterTopicConfigs(topic, set: set, delete: delete)
    }
}
