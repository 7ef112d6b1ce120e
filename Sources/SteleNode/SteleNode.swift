import Logging
import Prometheus
import ServiceLifecycle
import SteleBroker
import SteleEmbedded
import SteleHTTP
import SteleProcessors
import SteleServer
import SteleStore
import SteleViews
import UnixSignals

/// One Stele node: the broker over a data directory, the Kafka listener, the views and the HTTP
/// API, started in one order and stopped in the reverse by one service group. `stele serve`, the
/// demos and the test servers all start this, so they share one start and one shutdown order.
///
/// Start: open the broker (recovery, the data-directory lock), bind the Kafka listener, start the
/// views, run the caller's `prepare`, then serve HTTP. ``start(_:logger:prepare:)`` returns once
/// both listeners are bound (port 0 picks free ones). Stop (``stop()``, a configured signal, or
/// any part failing): end event streams, drain HTTP, drain Kafka, stop the views, close the broker.
public final class SteleNode: Sendable {
    public struct Configuration: Sendable {
        public var broker: BrokerConfig
        /// The first Kafka listener, and the limits every listener shares.
        public var kafka = KafkaServer.Configuration()
        /// More Kafka listeners (`--listeners`): each its own address, port, security protocol
        /// and advertised address; Metadata answers a client with its listener's.
        public var additionalKafkaListeners: [KafkaServer.Configuration] = []
        public var http = HTTPServer.Configuration()
        /// Where a view's tables are kept, by view name; SQLite files under `DATA/views` when nil.
        public var viewLocation: (@Sendable (String) throws -> any ViewLocation)?
        /// A directory of view definitions (`*.sql`) to run; none when nil.
        public var viewsDirectory: String?
        /// Event streams (SSE) and long polls open at once.
        public var maxEventStreams = 1_000
        /// The registry swift-metrics was bootstrapped with: counts requests and serves `/metrics`.
        public var metrics: PrometheusCollectorRegistry?
        /// How long each listener (Kafka, HTTP) may take, once the node stops, to finish the
        /// requests in flight (and event streams to say goodbye); then they are cancelled and
        /// their connections closed. Bounds the shutdown whatever the clients do.
        public var shutdownGracePeriod: Duration = .seconds(10)
        /// Signals that stop the node gracefully (`stele serve`: SIGINT and SIGTERM; tests: none).
        public var gracefulShutdownSignals: [UnixSignal] = []

        public init(broker: BrokerConfig) { self.broker = broker }
    }

    public let broker: Broker
    public let store: EventStore
    public let views: ViewService
    /// The processors of the views directory's processor files.
    public let processors: ProcessorService
    /// View and processor definition files refused at start, each with file, line and reason.
    public let refusedViews: [String]
    public let eventStreams: EventStreams
    /// The first Kafka listener's port.
    public var kafkaPort: Int { kafkaPorts[0] }
    /// Every Kafka listener's port, in the order configured.
    public let kafkaPorts: [Int]
    public let httpPort: Int
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    private init(broker: Broker, store: EventStore, views: ViewService, processors: ProcessorService, refusedViews: [String], eventStreams: EventStreams,
                 kafkaPorts: [Int], httpPort: Int, group: ServiceGroup, running: Task<Void, any Error>) {
        (self.broker, self.store, self.views, self.refusedViews, self.eventStreams) = (broker, store, views, refusedViews, eventStreams)
        self.processors = processors
        (self.kafkaPorts, self.httpPort, self.group, self.running) = (kafkaPorts, httpPort, group, running)
    }

    /// What is running when `prepare` is called: everything but HTTP.
    public struct Preparation: Sendable {
        public let broker: Broker
        public let store: EventStore
        public let views: ViewService
        public let processors: ProcessorService
        public let refusedViews: [String]
        public let kafkaPort: Int
        /// Every Kafka listener's bound port, in the order configured.
        public let kafkaPorts: [Int]
        public let logger: Logger
    }

    /// Starts a node and returns once it serves. `prepare` runs after the views started and
    /// before HTTP is served (the demos start their own views and seed data there; `stele serve`
    /// reports what it opened, so a refusal is logged before `/health` answers); the view
    /// services it returns are stopped with the node's. If any step fails, what was started is
    /// stopped in reverse and the broker closed before the error is thrown.
    public static func start(_ configuration: Configuration, logger: Logger,
                             prepare: (Preparation) async throws -> [ViewService] = { _ in [] }) async throws -> SteleNode {
        let broker = try await Broker.open(configuration.broker)
        var listeners: [KafkaServer] = []
        do {
            for listener in [configuration.kafka] + configuration.additionalKafkaListeners {
                listeners.append(try await KafkaServer.bind(configuration: listener, broker: broker, logger: logger))
            }
        } catch {
            for listener in listeners {
                listener.shutdown()
                try? await listener.run()
            }
            try? await broker.close()
            throw error
        }
        let store = EventStore(EmbeddedEventStorage(broker: broker))
        let viewsDirectory = configuration.broker.dataDirectory + "/views"
        let views = ViewService(store: store, makeLocation: configuration.viewLocation ?? { name in
            try SQLiteViewLocation(directory: viewsDirectory, name: name)
        })
        // Processor files sit beside the views' (`--views DIR`); their state beside the data.
        let processors = ProcessorService(store: store, stateDirectory: configuration.broker.dataDirectory + "/processors")
        var refused: [String] = []
        var ownViews: [ViewService] = []
        do {
            if let directory = configuration.viewsDirectory {
                refused = try await views.start(directory: directory)
                refused += await processors.start(directory: directory)
            }
            ownViews = try await prepare(Preparation(broker: broker, store: store, views: views, processors: processors, refusedViews: refused,
                                                     kafkaPort: listeners[0].port, kafkaPorts: listeners.map(\.port), logger: logger))
        } catch {
            for listener in listeners {
                listener.shutdown()
                try? await listener.run()
            }
            await processors.stop()
            await views.stop()
            try? await broker.close()
            throw error
        }

        let eventStreams = EventStreams(limit: configuration.maxEventStreams)
        let (bound, listening) = AsyncStream<Int>.makeStream()
        let made = Result {
            try HTTPServer.application(configuration: configuration.http, broker: broker, store: store, views: views, processors: processors,
                                       metrics: configuration.metrics, eventStreams: eventStreams, logger: logger) { port in
                listening.yield(port)
                listening.finish()
            }
        }
        if case let .failure(error) = made {
            for listener in listeners {
                listener.shutdown()
                try? await listener.run()
            }
            for view in ownViews { await view.stop() }
            await processors.stop()
            await views.stop()
            try? await broker.close()
            throw error
        }
        let http = try made.get()
        // Started first, stopped last: the order below is the start order.
        let parts: [(any Service, String)] = [(BrokerService(broker: broker), "broker"), (ViewsService(views: views), "views"),
                                               (ProcessorsService(processors: processors), "processors")]
            + ownViews.enumerated().map { (ViewsService(views: $0.element), "views-\($0.offset)") }
            + listeners.map { listener in
                let name = "kafka-\(listener.securityProtocol.rawValue)-\(listener.port)"
                return (ListenerService(name: name, service: KafkaListenerService(server: listener),
                                        gracePeriod: configuration.shutdownGracePeriod, logger: logger), name)
            }
            + [(ListenerService(name: "http", service: http, gracePeriod: configuration.shutdownGracePeriod, logger: logger), "http"),
               (EventStreamsService(eventStreams: eventStreams, limit: configuration.shutdownGracePeriod, logger: logger), "event-streams")]
        let groupConfiguration = ServiceGroupConfiguration(
            services: parts.map { service, name in
                // A part that stops by itself, or fails, stops the whole node in order.
                .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: name)
            },
            gracefulShutdownSignals: configuration.gracefulShutdownSignals,
            logger: logger)
        let group = ServiceGroup(configuration: groupConfiguration)
        let running = Task {
            defer { listening.finish() }
            try await group.run()
        }
        for await port in bound {
            if Task.isCancelled {
                // Cancelled while starting: a node nobody holds would never be stopped.
                await group.triggerGracefulShutdown()
                try? await running.value
                throw CancellationError()
            }
            return SteleNode(broker: broker, store: store, views: views, processors: processors, refusedViews: refused, eventStreams: eventStreams,
                             kafkaPorts: listeners.map(\.port), httpPort: port, group: group, running: running)
        }
        // HTTP never listened (its address is taken, say: the group is stopping everything), or
        // the caller was cancelled while it started: stop everything, in order, either way.
        await group.triggerGracefulShutdown()
        try await running.value
        try Task.checkCancellation()
        throw NodeError.httpDidNotStart(host: configuration.http.host, port: configuration.http.port)
    }

    /// Stops the node gracefully, in order; ``waitUntilStopped()`` returns when it has.
    public func stop() async {
        await group.triggerGracefulShutdown()
    }

    /// Returns when the node has stopped (throws the error that stopped it, if one did).
    public func waitUntilStopped() async throws {
        try await running.value
    }

    /// ``stop()``, then ``waitUntilStopped()``.
    public func stopAndWait() async throws {
        await stop()
        try await waitUntilStopped()
    }
}

/// Why a node did not start.
public enum NodeError: Error, CustomStringConvertible {
    case httpDidNotStart(host: String, port: Int)

    public var description: String {
        switch self {
        case let .httpDidNotStart(host, port): "the HTTP API stopped before it listened on \(host):\(port)"
        }
    }
}

extension SteleNode.Configuration {
    /// A node for tests and tools: data in `directory/data`, loopback only, free ports for Kafka
    /// and HTTP, appends acknowledged without waiting for fsync (`flush=os`), views in SQLite
    /// under `directory/views` with a minute per query (a busy machine must not fail a query).
    public static func ephemeral(directory: String) -> Self {
        var broker = BrokerConfig(dataDirectory: directory + "/data")
        broker.logDefaults.flushPolicy = .os
        var configuration = Self(broker: broker)
        configuration.kafka.host = "127.0.0.1"
        configuration.kafka.port = 0
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        configuration.viewLocation = { name in try SQLiteViewLocation(directory: directory + "/views", name: name, queryTimeout: .seconds(60)) }
        return configuration
    }
}
