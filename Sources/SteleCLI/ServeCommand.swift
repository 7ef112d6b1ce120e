import ArgumentParser
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
#if canImport(Glibc)
import Glibc
#endif
import SteleBroker
import SteleHTTP
import SteleLog
import SteleServer
import SteleSecurity
import SteleStore
import StelePostgres
import SteleViews
import SteleEmbedded
import StelePostgresViews
import SteleNode
import SteleProcessors

/// `stele serve`: open the data directory, recover every partition, serve the Kafka protocol.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the Kafka wire protocol from a data directory (created if missing).")

    @Option(help: "Data directory.")
    var dataDir = "./stele-data"

    @Option(help: "Address to listen on. The default accepts local connections only.")
    var listen = "127.0.0.1"

    @Option(help: "Kafka protocol port; 0 picks a free port (the log says which).")
    var kafkaPort = 9092

    @Option(help: "Host name given to clients in Metadata (default: the listen address).")
    var advertisedHost: String?

    @Option(help: "Port given to clients in Metadata (default: the bound port), e.g. behind a proxy.")
    var advertisedPort: Int?

    @Option(help: "The node id clients see in Metadata and FindCoordinator (Kafka's node.id), 0...2147483647.")
    var nodeId = 0

    @Option(help: "HTTP API port (views, health); 0 picks a free port (the log says which).")
    var httpPort = 8080

    @Option(help: "Address the HTTP API listens on (default: --listen).")
    var httpListen: String?

    @Option(help: ArgumentHelp("Host names the HTTP API answers to besides IP addresses and localhost (comma-separated); requests naming any other host are refused (DNS rebinding).", valueName: "names"))
    var httpAllowedHosts: String?

    @Option(help: "Directory of view definition files (*.sql) to run; see Examples/views.")
    var views: String?

    @Option(help: "Keep views in this PostgreSQL database (a schema per view) instead of SQLite files under DATA/views.")
    var viewsPostgresUrl: String?

    @Option(help: "A second PostgreSQL login for view queries over HTTP (no superuser; Stele grants it the read-only role). Without it queries use --views-postgres-url's login under SET LOCAL ROLE.")
    var viewsPostgresQueryUrl: String?

    @Option(help: "Partitions of topics created without a count (auto-created topics).")
    var defaultPartitions = 1

    @Flag(inversion: .prefixedNo, help: "Create topics on first use, as Kafka does by default.")
    var autoCreateTopics = true

    @Option(help: "When appends are acknowledged: always (after fdatasync), os, or interval:<ms>.")
    var flush = "always"

    @Option(help: "Milliseconds between retention and compaction passes over every partition.")
    var retentionCheckIntervalMs = 300_000

    @Option(help: "How long a new consumer group waits for more members before its first rebalance (Kafka group.initial.rebalance.delay.ms).")
    var groupInitialRebalanceDelayMs = 3000

    @Option(help: "Consumer protocol (KIP-848): milliseconds a member may go without a heartbeat before its partitions go to others (Kafka group.consumer.session.timeout.ms).")
    var groupConsumerSessionTimeoutMs = 45_000

    @Option(help: "Consumer protocol (KIP-848): milliseconds between a member's heartbeats (Kafka group.consumer.heartbeat.interval.ms); below the session timeout.")
    var groupConsumerHeartbeatIntervalMs = 5_000

    @Option(help: "Minutes committed offsets of a group without members are kept (Kafka offsets.retention.minutes).")
    var offsetsRetentionMinutes = 7 * 24 * 60

    @Option(help: "Milliseconds an idle idempotent producer's state (epoch, sequences) is kept in each partition (Kafka producer.id.expiration.ms).")
    var producerIdExpirationMs = 86_400_000

    @Option(help: "Milliseconds a transactional id with no open transaction is kept after its last change (Kafka transactional.id.expiration.ms).")
    var transactionalIdExpirationMs = 604_800_000

    @Option(help: "Largest request accepted, in bytes.")
    var maxRequestBytes = 100 << 20

    @Option(help: "Bytes of Kafka requests read and not yet answered, over all connections; past it no connection is read until requests are answered (Kafka queued.max.request.bytes).")
    var queuedMaxRequestBytes = 256 << 20

    @Option(help: "The most one fetch response carries, whatever the client asks (Kafka fetch.max.bytes).")
    var fetchMaxBytes = 55 << 20

    @Option(help: "Kafka connections open at once; one more is closed at once (Kafka max.connections).")
    var maxConnections = 10_000

    @Option(help: "Kafka connections open at once from one client address (Kafka max.connections.per.ip).")
    var maxConnectionsPerIp = 1_000

    @Option(help: "Close a Kafka connection with no request or response for this long (Kafka connections.max.idle.ms).")
    var connectionsMaxIdleMs = 600_000

    @Option(help: "HTTP connections open at once; one more is closed at once.")
    var httpMaxConnections = 1_000

    @Option(help: "HTTP connections open at once from one client address.")
    var httpMaxConnectionsPerIp = 100

    @Option(help: "Close an HTTP connection with no request in flight for this long.")
    var httpIdleTimeoutMs = 300_000

    @Option(help: "Event streams (SSE) and long polls open at once; more are answered 503.")
    var httpMaxSubscribers = 1_000

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(help: ArgumentHelp("Mirror topics of this source cluster into this node, as `stele mirror` does, with their lag in /metrics and /topics (the mirror writes through a Kafka listener of this node: PLAINTEXT, or the one --mirror-target-config names).", valueName: "host:port"))
    var mirrorSource: String?

    @Option(help: ArgumentHelp("With --mirror-source: how to connect to the source, a client properties file as for `stele mirror --source-config` (TLS, SASL).", valueName: "file"))
    var mirrorSourceConfig: String?

    @Option(help: ArgumentHelp("With --mirror-source: how the mirror connects to this node, a client properties file whose security.protocol picks the listener (needed with --authorizer acl: the mirror's principal, which needs CLUSTER_ACTION).", valueName: "file"))
    var mirrorTargetConfig: String?

    @Option(help: "With --mirror-source: the topics to mirror, a regular expression over whole names.")
    var mirrorTopics = ".*"

    @Option(help: "With --mirror-source: the consumer groups whose committed offsets are copied, a regular expression over whole group ids.")
    var mirrorGroups: String?

    @Option(help: "With --mirror-source: bytes fetched from the source per partition and pass.")
    var mirrorFetchMaxBytes: Int32 = 1 << 20

    @OptionGroup(title: "Listeners and security")
    var security: ServeSecurityOptions

    func validate() throws {
        guard FlushPolicy(parsing: flush) != nil else { throw ValidationError("--flush must be always, os or interval:<ms>, got \(flush)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard (0...65535).contains(kafkaPort) else { throw ValidationError("--kafka-port must be 0...65535") }
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port must be 0...65535") }
        if let views {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: views, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--views \(views): no such directory")
            }
        }
        // Every number from the command line is range-checked here, before any arithmetic on it.
        func check(_ flag: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else { throw ValidationError("--\(flag) must be \(range.lowerBound)...\(range.upperBound), got \(value)") }
        }
        if let advertisedPort { try check("advertised-port", advertisedPort, 1...65535) }
        try check("default-partitions", defaultPartitions, 1...TopicConfig.maxPartitions)
        try check("retention-check-interval-ms", retentionCheckIntervalMs, 10...Int(Int32.max))
        try check("group-initial-rebalance-delay-ms", groupInitialRebalanceDelayMs, 0...Int(Int32.max))
        try check("offsets-retention-minutes", offsetsRetentionMinutes, 1...Int(Int32.max))
        try check("group-consumer-session-timeout-ms", groupConsumerSessionTimeoutMs, 1_000...1_800_000)
        try check("group-consumer-heartbeat-interval-ms", groupConsumerHeartbeatIntervalMs, 100...groupConsumerSessionTimeoutMs - 1)
        try check("max-request-bytes", maxRequestBytes, 1024...Int(Int32.max))
        try check("queued-max-request-bytes", queuedMaxRequestBytes, (1 << 20)...(1 << 40))
        try check("fetch-max-bytes", fetchMaxBytes, 1024...Int(Int32.max))
        try check("producer-id-expiration-ms", producerIdExpirationMs, 1...Int(Int32.max))
        try check("transactional-id-expiration-ms", transactionalIdExpirationMs, 1...Int(Int32.max))
        try check("max-connections", maxConnections, 1...1_000_000)
        try check("max-connections-per-ip", maxConnectionsPerIp, 1...1_000_000)
        try check("connections-max-idle-ms", connectionsMaxIdleMs, 1000...Int(Int32.max))
        try check("http-max-connections", httpMaxConnections, 1...1_000_000)
        try check("http-max-connections-per-ip", httpMaxConnectionsPerIp, 1...1_000_000)
        try check("http-idle-timeout-ms", httpIdleTimeoutMs, 1000...Int(Int32.max))
        try check("http-max-subscribers", httpMaxSubscribers, 1...1_000_000)
        let listeners = try security.kafkaListeners(base: KafkaServer.Configuration(), listen: listen, kafkaPort: kafkaPort)
        try security.checkExposure(kafka: listeners, httpHost: httpListen ?? listen)
        if let mirrorSource {
            _ = try MirrorCommand.address(mirrorSource, "--mirror-source")
            _ = try MirrorCommand.pattern(mirrorTopics)
            _ = try mirrorGroups.map(MirrorCommand.pattern)
            guard mirrorFetchMaxBytes > 0 else { throw ValidationError("--mirror-fetch-max-bytes must be positive") }
            _ = try mirrorSourceConfig.map { try KafkaEndpoint.load($0, flag: "--mirror-source-config") }
            let targetProperties = try mirrorTargetConfig.map { try KafkaEndpoint.load($0, flag: "--mirror-target-config") } ?? KafkaClientProperties()
            let wanted = targetProperties.securityProtocol.rawValue
            // Under ACLs the mirror needs a principal of its own: writing as the anonymous one
            // would mean granting CLUSTER_ACTION to any anonymous client, which could then pose as
            // the mirror.
            if security.authorizer.lowercased() == "acl" {
                let identified = targetProperties.securityProtocol.usesSASL
                    || (targetProperties.securityProtocol == .ssl && targetProperties.certificateLocation != nil)
                guard identified else {
                    throw ValidationError("--mirror-source with --authorizer acl needs --mirror-target-config with SASL credentials (or a client certificate over SSL): the mirror's principal, granted CLUSTER_ACTION")
                }
            }
            guard listeners.contains(where: { $0.securityProtocol.rawValue == wanted }) else {
                throw ValidationError("--mirror-source writes through a \(wanted) Kafka listener of this node (" +
                    (mirrorTargetConfig == nil ? "give --mirror-target-config to use another" : "the security.protocol of --mirror-target-config") + "); --listeners has none")
            }
        }
    }

    func run() async throws {
        try await serve { _, _, _ in [] }
    }

    /// Serves until SIGINT or SIGTERM; `prepare` runs once the store and the views are open,
    /// before HTTP is served (the demos start their views and seed their data there); the view
    /// services it returns stop with the node.
    func serve(prepare: @escaping (EventStore, ViewService, Logger) async throws -> [ViewService]) async throws {
        limitMallocArenas()
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "stele")
        var brokerConfig = BrokerConfig(dataDirectory: dataDir)
        brokerConfig.defaultPartitions = defaultPartitions
        brokerConfig.autoCreateTopics = autoCreateTopics
        brokerConfig.logDefaults.flushPolicy = FlushPolicy(parsing: flush)!
        brokerConfig.logDefaults.producerIdExpiration = .milliseconds(producerIdExpirationMs)
        brokerConfig.maintenanceInterval = .milliseconds(retentionCheckIntervalMs)
        brokerConfig.groupInitialRebalanceDelayMs = Int64(groupInitialRebalanceDelayMs)
        brokerConfig.groupConsumerSessionTimeoutMs = Int64(groupConsumerSessionTimeoutMs)
        brokerConfig.groupConsumerHeartbeatIntervalMs = Int32(groupConsumerHeartbeatIntervalMs)
        brokerConfig.offsetsRetention = .seconds(Int64(offsetsRetentionMinutes) * 60)
        brokerConfig.transactionalIdExpiration = .milliseconds(transactionalIdExpirationMs)
        var configuration = SteleNode.Configuration(broker: brokerConfig)
        configuration.kafka.host = listen
        configuration.kafka.port = kafkaPort
        configuration.kafka.advertisedHost = advertisedHost
        configuration.kafka.advertisedPort = advertisedPort
        configuration.kafka.maxRequestBytes = maxRequestBytes
        configuration.kafka.queuedMaxRequestBytes = queuedMaxRequestBytes
        configuration.kafka.fetchMaxBytes = fetchMaxBytes
        configuration.kafka.maxConnections = maxConnections
        configuration.kafka.maxConnectionsPerAddress = maxConnectionsPerIp
        configuration.kafka.idleTimeout = .milliseconds(connectionsMaxIdleMs)
        guard (0...Int(Int32.max)).contains(nodeId) else { throw ValidationError("--node-id must be 0...\(Int32.max), got \(nodeId)") }
        configuration.kafka.nodeId = Int32(nodeId)
        // Always the listeners as the security options made them: without --listeners, the one
        // PLAINTEXT listener carries the authorizer too (ACLs apply to its anonymous clients).
        let listeners = try security.kafkaListeners(base: configuration.kafka, listen: listen, kafkaPort: kafkaPort)
        configuration.kafka = listeners[0]
        configuration.additionalKafkaListeners = Array(listeners.dropFirst())
        configuration.http.host = httpListen ?? listen
        configuration.http.port = httpPort
        configuration.http.maxConnections = httpMaxConnections
        configuration.http.maxConnectionsPerAddress = httpMaxConnectionsPerIp
        configuration.http.idleTimeout = .milliseconds(httpIdleTimeoutMs)
        configuration.http.allowedHosts = Set((httpAllowedHosts ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        if let advertisedHost { configuration.http.allowedHosts.insert(advertisedHost) }
        configuration.http.authorizer = try security.makeAuthorizer()
        configuration.http.publicMetrics = security.httpPublicMetrics
        configuration.http.tls = try security.httpTLS()
        configuration.maxEventStreams = httpMaxSubscribers
        configuration.viewsDirectory = views
        if let postgresURL = viewsPostgresUrl {
            let queryURL = viewsPostgresQueryUrl
            configuration.viewLocation = { name in try PostgresViewLocation(url: postgresURL, name: name, queryURL: queryURL) }
        }
        configuration.gracefulShutdownSignals = [.sigint, .sigterm]
        // Before the broker opens: its counters are made with the bootstrapped backend.
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        configuration.metrics = metrics

        let started = ContinuousClock.now
        let flush = flush
        let views = views
        let node: SteleNode
        do {
            node = try await SteleNode.start(configuration, logger: logger) { running in
                // Everything but HTTP runs: report it before serving, so what was refused is in
                // the log before /health answers.
                let (broker, logger) = (running.broker, running.logger)
                logger.info("data directory open", metadata: [
                    "path": "\(brokerConfig.dataDirectory)", "topics": "\(broker.topicNames.count)", "recovery": "\(ContinuousClock.now - started)",
                ])
                if let problem = broker.producerIds.problem { logger.error("producer ids", metadata: ["problem": "\(problem)"]) }
                for (topic, reason) in broker.offlineTopics.sorted(by: { $0.key < $1.key }) {
                    logger.error("topic offline: its data is kept but not served", metadata: ["topic": "\(topic)", "reason": "\(reason)"])
                }
                // As with a damaged ACL file: serving without the quotas would let one client
                // take what they were set to share.
                if let problem = broker.quotas.problem { throw ValidationError("cannot enforce client quotas: \(problem)") }
                let kafkaListeners = [configuration.kafka] + configuration.additionalKafkaListeners
                if let problem = broker.credentials.problem, kafkaListeners.contains(where: { $0.securityProtocol.usesSASL }) {
                    throw ValidationError("cannot authenticate SASL clients: \(problem)")
                }
                if let authorizer = configuration.kafka.authorizer {
                    if let problem = broker.acls.problem { throw ValidationError("cannot authorize requests: \(problem)") }
                    logger.info("authorizing requests with ACLs", metadata: [
                        "acls": "\(broker.acls.bindings?.count ?? 0)", "super users": "\(authorizer.superUsers.map(\.description).sorted())",
                        "allow if no ACL found": "\(authorizer.allowEveryoneIfNoAclFound)",
                    ])
                }
                for (listener, port) in zip(kafkaListeners, running.kafkaPorts) {
                    // `address=HOST:PORT` as before listeners had protocols: scripts read it.
                    logger.info("serving the Kafka protocol", metadata: [
                        "address": "\(listener.host):\(port)", "protocol": "\(listener.securityProtocol.rawValue)", "flush": "\(flush)",
                    ])
                    if listener.securityProtocol.usesSASL && broker.credentials.users.isEmpty {
                        logger.warning("no SASL users yet: nobody can authenticate (stele users create NAME --data-dir DIR)", metadata: ["listener": "\(listener.securityProtocol.rawValue)"])
                    }
                    if listener.securityProtocol == .saslPlaintext && listener.saslMechanisms.contains(.plain) && !KafkaListener.isLoopback(listener.host) {
                        logger.warning("SASL PLAIN on a listener without TLS: passwords cross the network in clear", metadata: ["listener": "\(listener.host):\(port)"])
                    }
                }
                for problem in running.refusedViews { logger.error("definition refused", metadata: ["problem": "\(problem)"]) }
                if let views {
                    logger.info("views running", metadata: [
                        "directory": "\(views)", "views": "\(running.views.views.map(\.name).joined(separator: ", "))", "refused": "\(running.refusedViews.count)",
                    ])
                    let processors = running.processors.processors.map(\.name)
                    if !processors.isEmpty { logger.info("processors running", metadata: ["directory": "\(views)", "processors": "\(processors.joined(separator: ", "))"]) }
                }
                return try await prepare(running.store, running.views, logger)
            }
        } catch let error as DataDirectoryLockError {
            logger.critical("cannot open the data directory \(dataDir): \(error)")
            throw ExitCode(1)
        } catch {
            logger.error("cannot start", metadata: ["error": "\(error)"])
            throw error
        }
        logger.info("serving HTTP", metadata: [
            "address": "\(configuration.http.host):\(node.httpPort)", "tls": "\(configuration.http.tls != nil)",
            "authentication": "\(configuration.http.authorizer == nil ? "none" : "bearer tokens and Basic, ACLs")",
        ])
        let mirror = try startMirror(node: node, listeners: [configuration.kafka] + configuration.additionalKafkaListeners, logger: logger)
        try await node.waitUntilStopped()
        mirror?.cancel()
        await mirror?.value
        logger.info("stopped; every partition flushed and closed")
    }
}

extension ServeCommand {
    /// With `--mirror-source`: the mirror runs beside the node, writing through the node's own
    /// PLAINTEXT listener (the same checks as any mirror's writes), and reports each mirror
    /// topic's lag to the broker for /metrics and /topics.
    func startMirror(node: SteleNode, listeners: [KafkaServer.Configuration], logger: Logger) throws -> Task<Void, Never>? {
        guard let mirrorSource else { return nil }
        let targetProperties = try mirrorTargetConfig.map { try KafkaEndpoint.load($0, flag: "--mirror-target-config") } ?? KafkaClientProperties()
        let wanted = targetProperties.securityProtocol.rawValue
        guard let index = listeners.firstIndex(where: { $0.securityProtocol.rawValue == wanted }), index < node.kafkaPorts.count else {
            throw ValidationError("--mirror-source needs a \(wanted) Kafka listener")
        }
        let host = switch listeners[index].host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::", "[::]": "::1"
        case let host: host
        }
        var target = try KafkaEndpoint(host: host, port: node.kafkaPorts[index], properties: targetProperties)
        // Over TLS the node's certificate names its advertised host (--advertised-listeners),
        // not the loopback address the mirror connects to.
        target.serverName = listeners[index].advertisedHost
        let source = try KafkaEndpoint(address: mirrorSource, flag: "--mirror-source", configFile: mirrorSourceConfig, configFlag: "--mirror-source-config")
        let topics = try MirrorCommand.pattern(mirrorTopics)
        let groups = try mirrorGroups.map(MirrorCommand.pattern)
        let broker = node.broker
        let (fetchMaxBytes, sourceAddress, pattern) = (mirrorFetchMaxBytes, mirrorSource, mirrorTopics)
        logger.info("mirroring", metadata: ["source": "\(sourceAddress)", "topics": "\(pattern)", "source security": "\(source.properties)",
                                            "through": "\(wanted) listener \(target.address)"])
        return Task {
            do {
                try await MirrorCommand.mirror(source: source, sourceAddress: sourceAddress, target: target, topics: topics, groups: groups,
                                               fetchMaxBytes: fetchMaxBytes, idle: .milliseconds(200),
                                               log: { logger.info("\($0)") },
                                               observe: { topic, partition, sourceEnd, copiedTo, newest in
                                                   broker.mirrorLag.observe(topic: topic, partition: partition, sourceEnd: sourceEnd, copiedTo: copiedTo,
                                                                            newestCopiedMs: newest, nowMs: Date().epochMilliseconds)
                                               })
            } catch {
                broker.mirrorLag.stop(reason: "\(error)")
                logger.error("mirror stopped: the operator must act", metadata: ["reason": "\(error)"])
            }
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per core); with NIO's
/// event loops, the I/O executor and the cooperative pool, freed request buffers stay resident
/// in a dozen arenas. Two arenas halved the broker's peak RSS in `stele bench kafka` (379 MB →
/// 186 MB at 2.3M records/s) at no cost in throughput. The setting must be in place before the
/// first thread starts, which only the environment achieves: so `serve` re-executes itself
/// once (same PID) with `MALLOC_ARENA_MAX=2`, unless the user chose a value.
private func limitMallocArenas() {
    #if os(Linux)
    guard getenv("MALLOC_ARENA_MAX") == nil else { return }
    setenv("MALLOC_ARENA_MAX", "2", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only on failure: carry on with glibc's default arenas.
    #endif
}
