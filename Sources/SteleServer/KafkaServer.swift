import Logging
import Synchronization
import NIOCore
import NIOPosix
import NIOSSL
import SteleSecurity
import SteleBroker
import SteleKafkaProtocol

/// Serves the Kafka wire protocol on a TCP port.
///
/// Each connection handles one request at a time, in order, as Kafka does (it mutes a
/// connection until its response is sent): responses therefore leave in request order even
/// when a fetch is parked, which aiokafka and kafka-python require. The one exception is
/// Produce requests naming distinct partitions, which run at once and are still answered in
/// order (``ProducePipeline``). Connections are served concurrently, so a slow client stalls
/// only itself.
public final class KafkaServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 9092
        /// The host clients are told to connect to (Metadata); defaults to `host`.
        public var advertisedHost: String?
        /// The port clients are told to connect to (Metadata); defaults to the bound port.
        public var advertisedPort: Int?
        /// Largest request frame accepted (Kafka `socket.request.max.bytes`, 100 MiB).
        public var maxRequestBytes = 100 << 20
        /// Largest request frame accepted from a connection that has not authenticated on a SASL
        /// listener (Kafka `sasl.server.max.receive.size`, 512 KiB).
        public var maxUnauthenticatedRequestBytes = 512 << 10
        /// Bytes of requests all unauthenticated connections of a SASL listener may hold
        /// together (each at most two requests): past it a new one is closed, so clients that
        /// have proved nothing cannot take the request memory (``queuedMaxRequestBytes``) of
        /// those that have.
        public var queuedMaxUnauthenticatedRequestBytes = 16 << 20
        /// Connections open at once, in all and per client address (Kafka `max.connections`,
        /// `max.connections.per.ip`); one past either is closed at once.
        public var maxConnections = 10_000
        public var maxConnectionsPerAddress = 1_000
        /// A connection with no request and no response for this long is closed (Kafka
        /// `connections.max.idle.ms`, 10 minutes). Fetches wait at most half of it, so a parked
        /// long poll never looks idle.
        public var idleTimeout: Duration = .seconds(600)
        /// Bytes of requests read and not yet answered, over all connections (Kafka
        /// `queued.max.request.bytes`); past it no connection reads until requests are answered.
        /// Bounds the listener's memory in bytes whatever the number of connections.
        public var queuedMaxRequestBytes = 256 << 20
        /// The most one fetch response carries, whatever the client asks (Kafka `fetch.max.bytes`).
        public var fetchMaxBytes = 55 << 20
        /// How long a request may take to arrive once its size is known: this, plus its size at
        /// `requestMinimumBytesPerSecond`; a slower one closes its connection (its reserved
        /// request memory would otherwise hold other connections back indefinitely).
        public var requestReceiveTimeout: Duration = .seconds(30)
        public var requestMinimumBytesPerSecond = 1 << 20
        /// How clients connect: in clear or over TLS, authenticated by SASL or not.
        public var securityProtocol = SecurityProtocol.plaintext
        /// The server's certificate and key (and the CA client certificates must chain to, for
        /// mutual TLS); required by SSL and SASL_SSL.
        public var tls: TLSFiles?
        /// The SASL mechanisms a SASL listener offers (Kafka `sasl.enabled.mechanisms`).
        public var saslMechanisms: [SaslMechanism] = [.scramSHA512, .scramSHA256]
        /// How long a SASL authentication holds before the client must re-authenticate on the
        /// same connection (KIP-368, Kafka `connections.max.reauth.ms`); nil: the connection's life.
        public var saslSessionLifetime: Duration?
        /// Decides each request from the broker's ACLs (`--authorizer acl`); nil: every
        /// request is allowed.
        public var authorizer: Authorizer?
        /// The node id clients see in Metadata and FindCoordinator (Kafka `node.id`): the
        /// leader of every partition and the coordinator of every group.
        public var nodeId: Int32 = 0

        public init() {}
    }

    private let serverChannel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let handler: KafkaRequestHandler
    private let logger: Logger
    /// Open connections, and whether ``shutdown()`` was called: one lock for both, so a
    /// connection is either closed by `shutdown` or sees it as it registers (connections
    /// accepted before `run` started would otherwise wait for requests until idle).
    private let connections = Mutex<(stopping: Bool, open: [ObjectIdentifier: any Channel])>((false, [:]))
    private let limiter: ConnectionLimiter
    /// Refused connections, logged once per second at most (a loop of connects must not flood the log).
    private let refusals = Mutex<(count: Int, lastLog: ContinuousClock.Instant?)>((0, nil))
    /// The port actually bound (useful with port 0).
    public let port: Int
    /// Request bytes held by all connections (``Configuration/queuedMaxRequestBytes``).
    public let requestMemory: RequestMemoryPool

    public static func bind(configuration: Configuration, broker: Broker, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> KafkaServer {
        let maxFrame = configuration.maxRequestBytes
        let usesSASL = configuration.securityProtocol.usesSASL
        let maxUnauthenticatedFrame = min(configuration.maxUnauthenticatedRequestBytes, maxFrame)
        let unauthenticatedBudget = UnauthenticatedRequestBudget(capacity: configuration.queuedMaxUnauthenticatedRequestBytes)
        let requestMemory = RequestMemoryPool(capacity: configuration.queuedMaxRequestBytes)
        let receiveTimeout = TimeAmount.nanoseconds(Int64(configuration.requestReceiveTimeout.components.seconds) * 1_000_000_000
            + configuration.requestReceiveTimeout.components.attoseconds / 1_000_000_000)
        let minimumRate = configuration.requestMinimumBytesPerSecond
        let idle = TimeAmount.nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000
            + configuration.idleTimeout.components.attoseconds / 1_000_000_000)
        let tlsContext: NIOSSLContext?
        if configuration.securityProtocol.usesTLS {
            guard let files = configuration.tls else {
                throw SecurityConfigurationError("a \(configuration.securityProtocol.rawValue) listener needs a certificate and key (--tls-cert, --tls-key)")
            }
            tlsContext = try files.makeServerContext()
        } else {
            tlsContext = nil
        }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { child in
                child.eventLoop.makeCompletedFuture {
                    if let tlsContext { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext)) }
                    try child.pipeline.syncOperations.addHandler(RequestMemoryHandler(
                        pool: requestMemory, maxFrameBytes: maxFrame, receiveTimeout: receiveTimeout,
                        minimumBytesPerSecond: minimumRate,
                        beforeAuthentication: usesSASL ? (maxUnauthenticatedFrame, unauthenticatedBudget) : nil))
                    try child.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: idle))
                    try child.pipeline.syncOperations.addHandler(IdleConnectionCloser())
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: maxFrame)))
                    try child.pipeline.syncOperations.addHandler(MessageToByteHandler(KafkaFrameEncoder()))
                    // Few requests at a time, as Kafka reads them: the socket is not read while two
                    // decoded requests wait, and is read again once none does (demand comes when
                    // the buffer drops below the low watermark: 0 would never be undercut and
                    // would stop a pipelining client for good).
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: child,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 1, highWatermark: 2)))
                }
            }
        let port = channel.channel.localAddress?.port ?? configuration.port
        var handler = KafkaRequestHandler(broker: broker, advertisedHost: configuration.advertisedHost ?? configuration.host,
                                          advertisedPort: Int32(configuration.advertisedPort ?? port), logger: logger)
        handler.maxFetchWait = configuration.idleTimeout / 2
        handler.fetchMaxBytes = configuration.fetchMaxBytes
        handler.authorizer = configuration.authorizer
        handler.nodeId = configuration.nodeId
        let limiter = ConnectionLimiter(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerAddress)
        return KafkaServer(serverChannel: channel, handler: handler, logger: logger, port: port, limiter: limiter,
                           requestMemory: requestMemory, securityProtocol: configuration.securityProtocol,
                           saslMechanisms: configuration.saslMechanisms, saslSessionLifetime: configuration.saslSessionLifetime,
                           verifiesClients: configuration.tls?.clientCA != nil)
    }

    public let securityProtocol: SecurityProtocol
    private let saslMechanisms: [SaslMechanism]
    private let saslSessionLifetime: Duration?
    private let verifiesClients: Bool

    private init(serverChannel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, handler: KafkaRequestHandler,
                 logger: Logger, port: Int, limiter: ConnectionLimiter, requestMemory: RequestMemoryPool,
                 securityProtocol: SecurityProtocol, saslMechanisms: [SaslMechanism], saslSessionLifetime: Duration?, verifiesClients: Bool) {
        self.securityProtocol = securityProtocol
        self.saslMechanisms = saslMechanisms
        self.saslSessionLifetime = saslSessionLifetime
        self.verifiesClients = verifiesClients
        self.limiter = limiter
        self.requestMemory = requestMemory
        self.serverChannel = serverChannel
        self.handler = handler
        self.logger = logger
        self.port = port
    }

    /// Accepts connections until the server channel closes; then waits for open connections
    /// to finish the requests they are handling.
    public func run() async throws {
        try await serverChannel.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in connections {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    /// Stops accepting connections and stops reading from open ones; `run` returns once the
    /// requests already read are answered.
    public func shutdown() {
        serverChannel.channel.close(promise: nil)
        let open = connections.withLock { state in
            state.stopping = true
            return Array(state.open.values)
        }
        for channel in open {
            channel.close(mode: .input, promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let peer = connection.channel.remoteAddress?.description ?? "unknown"
        let address = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        // As ACLs spell hosts: an IPv4 client on a dual-stack socket is its IPv4 address.
        let host = AclHost.normalize(address) ?? address
        if let refusal = limiter.admit(address) {
            let (count, shouldLog) = refusals.withLock { state -> (Int, Bool) in
                state.count += 1
                let now = ContinuousClock.now
                guard state.lastLog.map({ now - $0 >= .seconds(1) }) ?? true else { return (state.count, false) }
                state.lastLog = now
                defer { state.count = 0 }
                return (state.count, true)
            }
            if shouldLog { logger.warning("connection refused", metadata: ["peer": "\(peer)", "reason": "\(refusal)", "refused": "\(count)"]) }
            try? await connection.channel.close()
            return
        }
        defer { limiter.release(address) }
        let id = ObjectIdentifier(connection.channel)
        let stopping = connections.withLock { state in
            if !state.stopping { state.open[id] = connection.channel }
            return state.stopping
        }
        if stopping {
            try? await connection.channel.close()
            return
        }
        defer { _ = connections.withLock { $0.open.removeValue(forKey: id) } }
        // Closed already if missing: channelInactive gave back what it held.
        guard let memory = try? await connection.channel.pipeline.handler(type: RequestMemoryHandler.self).get() else {
            try? await connection.channel.close()
            return
        }
        defer { memory.releaseAll() }
        var security = ConnectionSecurity(sasl: securityProtocol.usesSASL ? SaslSession(enabled: saslMechanisms, sessionLifetime: saslSessionLifetime) : nil,
                                          peer: peer, host: host)
        let channel = connection.channel
        security.isConnected = { channel.isActive }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var principalKnown = !verifiesClients
                var fullFrames = security.sasl == nil
                var pipeline = ProducePipeline()
                do {
                    for try await frame in inbound {
                        // The frame's bytes (and its size prefix) go back to the pool once answered.
                        let frameBytes = frame.readableBytes + 4
                        var released = false
                        defer { if !released { memory.release(frameBytes) } }
                        if let reason = pipeline.shared.closeReason {
                            await pipeline.drain()
                            logger.warning("closing connection", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                            return
                        }
                        if !principalKnown {
                            // The handshake has finished once a request arrived: a verified client
                            // certificate names the principal (SASL may name another later).
                            principalKnown = true
                            guard let subject = try? await connection.channel.nioSSL_peerCertificate().get().flatMap(TLSFiles.principal(of:)) else {
                                // Verified, yet naming nobody: anonymous would be the wrong principal
                                // for every ACL.
                                logger.warning("closing connection", metadata: ["peer": "\(peer)", "reason": "the client certificate's subject names no principal"])
                                return
                            }
                            security.principal = subject
                        }
                        // A connection once throttled is served one request at a time from then on,
                        // so its quota mutes it as on Kafka.
                        if fullFrames, !security.rawTokens, pipeline.shared.throttledUntil == nil,
                           let partitions = ProducePipeline.partitions(of: frame) {
                            await pipeline.makeRoom(for: partitions)
                            released = true
                            let (requestSecurity, shared, handler) = (security, pipeline.shared, handler)
                            pipeline.start(partitions) {
                                // Closing already: nothing more is appended for this connection.
                                guard shared.closeReason == nil else { return .noResponse }
                                var connection = requestSecurity
                                return await handler.handle(frame, connection: &connection)
                            } answer: { outcome in
                                defer { memory.release(frameBytes) }
                                guard shared.closeReason == nil else { return }
                                do {
                                    switch outcome {
                                    case let .respond(response): try await outbound.write(response)
                                    case .noResponse: break
                                    case let .respondThenPause(response, pause):
                                        if let response { try await outbound.write(response) }
                                        shared.throttle(until: .now + pause)
                                    case let .close(reason), let .respondThenClose(_, _, reason), let .closeAfter(_, reason):
                                        shared.close(reason)
                                        channel.close(promise: nil)
                                    }
                                } catch {
                                    shared.close("a response could not be written: \(error)")
                                    channel.close(promise: nil)
                                }
                            }
                            continue
                        }
                        // Anything else sees the effects of every request before it.
                        await pipeline.drain()
                        if let reason = pipeline.shared.closeReason {
                            logger.warning("closing connection", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                            return
                        }
                        if let until = pipeline.shared.throttledUntil, until > .now {
                            // A pipelined Produce was throttled: muted for the rest of its throttle
                            // time, its bytes already back in the pool (this frame's are held).
                            try? await Task.sleep(until: until)
                        }
                        let outcome = await handler.handle(frame, connection: &security)
                        if !fullFrames, let session = security.sasl, session.principal != nil {
                            // Authenticated: requests may now be as large as any client's.
                            fullFrames = true
                            memory.allowFullFrames()
                        }
                        switch outcome {
                        case let .respond(response): try await outbound.write(response)
                        case .noResponse: continue
                        case let .respondThenPause(response, pause):
                            // Muted, as Kafka mutes a throttled client's channel: nothing more is
                            // read until the throttle time has passed.
                            if let response { try await outbound.write(response) }
                            // The request is answered: its bytes go back to the pool before the
                            // pause, which must not hold other connections' reads.
                            memory.release(frameBytes)
                            released = true
                            try? await Task.sleep(for: pause)
                        case let .close(reason):
                            logger.warning("closing connection", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                            return
                        case let .respondThenClose(response, delay, reason):
                            // The delay comes before the answer: a client guessing passwords learns
                            // nothing sooner by reading the error and reconnecting at once.
                            try? await Task.sleep(for: delay)
                            try await outbound.write(response)
                            logger.info("closing connection", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                            return
                        case let .closeAfter(delay, reason):
                            try? await Task.sleep(for: delay)
                            logger.info("closing connection", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                            return
                        }
                    }
                } catch {
                    // A reset or a bad frame: the requests in flight still hold their bytes and
                    // append; the connection ends (and gives back what it holds) after them.
                    await pipeline.drain()
                    throw error
                }
                await pipeline.drain()
                if let reason = pipeline.shared.closeReason {
                    logger.warning("closing connection", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                }
            }
        } catch NIOSSLError.uncleanShutdown {
            // A TLS client that closed its socket without close_notify: most do.
            logger.debug("connection ended", metadata: ["peer": "\(peer)", "error": "TLS connection closed without close_notify"])
        } catch {
            logger.info("connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }
}

/// Closes a connection its IdleStateHandler reports idle (no request, no response).
final class IdleConnectionCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
