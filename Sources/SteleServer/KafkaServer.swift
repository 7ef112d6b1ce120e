import Logging
import Synchronization
import NIOCore
import NIOPosix
import SteleBroker
import SteleKafkaProtocol

/// Serves the Kafka wire protocol on a TCP port.
///
/// Each connection handles one request at a time, in order, as Kafka does (it mutes a
/// connection until its response is sent): responses therefore leave in request order even
/// when a fetch is parked, which aiokafka and kafka-python require. Connections are served
/// concurrently, so a slow client stalls only itself.
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

        public init() {}
    }

    private let serverChannel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let handler: KafkaRequestHandler
    private let logger: Logger
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    /// The port actually bound (useful with port 0).
    public let port: Int

    public static func bind(configuration: Configuration, broker: Broker, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> KafkaServer {
        let maxFrame = configuration.maxRequestBytes
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: maxFrame)))
                    try child.pipeline.syncOperations.addHandler(MessageToByteHandler(KafkaFrameEncoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        let port = channel.channel.localAddress?.port ?? configuration.port
        let handler = KafkaRequestHandler(broker: broker, advertisedHost: configuration.advertisedHost ?? configuration.host,
                                          advertisedPort: Int32(configuration.advertisedPort ?? port), logger: logger)
        return KafkaServer(serverChannel: channel, handler: handler, logger: logger, port: port)
    }

    private init(serverChannel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, handler: KafkaRequestHandler,
                 logger: Logger, port: Int) {
        self.serverChannel = serverChannel
        self.handler = handler
        self.logger = logger
        self.port = port
    }

    /// Accepts connections until the server channel closes; then waits for open connections
    /// to finish the request they are handling.
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
        for channel in connections.withLock({ Array($0.values) }) {
            channel.close(mode: .input, promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let peer = connection.channel.remoteAddress?.description ?? "unknown"
        let id = ObjectIdentifier(connection.channel)
        connections.withLock { $0[id] = connection.channel }
        defer { _ = connections.withLock { $0.removeValue(forKey: id) } }
        do {
            try await connection.executeThenClose { inbound, outbound in
                for try await frame in inbound {
                    switch await handler.handle(frame) {
                    case let .respond(response): try await outbound.write(response)
                    case .noResponse: continue
                    case let .close(reason):
                        logger.warning("closing connection", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                        return
                    }
                }
            }
        } catch {
            logger.info("connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }
}
