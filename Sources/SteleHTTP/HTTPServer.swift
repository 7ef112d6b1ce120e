import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Prometheus
import SteleBroker
import SteleSecurity
import SteleStore
import SteleWire
import SteleProcessors
import SteleViews

/// Stele's HTTP API, served by `stele serve` (127.0.0.1:8080 by default).
public enum HTTPServer {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Largest request body accepted; larger ones get 413.
        public var maxBodyBytes = 1 << 20
        /// Host names the API answers to besides IP literals and `localhost` (see
        /// `BrowserGuardMiddleware`): the names clients use to reach it.
        public var allowedHosts: Set<String> = []
        /// Connections open at once, in all and per client address; one past either is closed.
        public var maxConnections = 1_000
        public var maxConnectionsPerAddress = 100
        /// A connection without a request in flight for this long is closed (an open event
        /// stream is a request in flight).
        public var idleTimeout: Duration = .seconds(300)
        /// How often an idle Server-Sent Events response sends a comment, so proxies keep it
        /// open and a client that went away is noticed (its write fails) within this time.
        public var sseHeartbeat: Duration = .seconds(15)
        /// Authenticates every request (bearer token or HTTP Basic) and decides it with the
        /// broker's ACLs (`--authorizer acl`); nil: the API answers anyone who reaches it.
        public var authorizer: Authorizer?
        /// With an authorizer, serve `/metrics` without credentials (for a scraper on a trusted
        /// network); otherwise it needs DESCRIBE on the cluster.
        public var publicMetrics = false
        /// How often the console's overview (`/overview/subscribe`) is sent.
        public var consoleInterval: Duration = .seconds(2)
        /// TLS for the API (`--http-tls`, the Kafka listeners' certificate and key).
        public var tls: TLSConfiguration?

        public init() {}
    }

    /// The application serving the broker's topics and groups, `store` and `views`; `onBound` is told the port it listens on (useful with
    /// port 0). Run it with `runService()` or as a service of a service group.
    ///
    /// With a `metrics` registry — the one swift-metrics was bootstrapped with — it also counts
    /// requests and serves `/metrics`. Call `eventStreams.close()` before stopping the
    /// application: open SSE responses would otherwise hold the shutdown.
    public static func application(configuration: Configuration, broker: Broker, store: EventStore, views: ViewService,
                                   processors: ProcessorService? = nil,
                                   metrics: PrometheusCollectorRegistry? = nil, eventStreams: EventStreams = EventStreams(), logger: Logger,
                                   onBound: @escaping @Sendable (Int) -> Void = { _ in }) throws -> some ApplicationProtocol {
        let router = Router(context: SteleRequestContext.self)
        let openResponses = eventStreams
        if let metrics { router.add(middleware: MetricsMiddleware()) }
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: BrowserGuardMiddleware(allowedHosts: Set(configuration.allowedHosts.map { $0.lowercased() })))
        if let authorizer = configuration.authorizer {
            router.add(middleware: AuthorizationMiddleware(authorizer: authorizer, broker: broker, publicMetrics: configuration.publicMetrics,
                                                           passwords: VerifiedPasswords(), logger: logger, maxBodyBytes: configuration.maxBodyBytes))
        }
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        if let metrics {
            MetricsRoute(registry: metrics, broker: broker, views: views, openResponses: openResponses).register(on: router)
        }
        // Up is up (200); "degraded" names what is down: offline topics, stopped partitions.
        router.get("health") { _, _ in
            let offline = broker.offlineTopics.sorted { $0.key < $1.key }
            let failed = broker.failedPartitions
            var body: [String: JSONValue] = ["status": .string(offline.isEmpty && failed.isEmpty ? "ok" : "degraded")]
            if !offline.isEmpty {
                body["offlineTopics"] = .array(offline.map { .object(["name": .string($0.key), "reason": .string($0.value)]) })
            }
            if !failed.isEmpty {
                body["failedPartitions"] = .array(failed.map {
                    .object(["topic": .string($0.topic), "partition": .integer(Int64($0.partition)), "reason": .string($0.reason)])
                })
            }
            return JSONResponse.ok(.object(body))
        }
        ViewRoutes(views: views, maxBodyBytes: configuration.maxBodyBytes).register(on: router)
        if let processors { ProcessorRoutes(processors: processors).register(on: router) }
        StreamRoutes(store: store, maxBodyBytes: configuration.maxBodyBytes).register(on: router)
        SnapshotRoutes(store: store, maxBodyBytes: configuration.maxBodyBytes).register(on: router)
        CategoryRoutes(store: store, open: openResponses).register(on: router)
        SubscriptionRoutes(store: store, views: views, heartbeat: configuration.sseHeartbeat, open: openResponses).register(on: router)
        TopicRoutes(broker: broker, maxBodyBytes: configuration.maxBodyBytes).register(on: router)
        TopicRecordRoutes(broker: broker, maxBodyBytes: configuration.maxBodyBytes).register(on: router)
        GroupOffsetRoutes(broker: broker, topicRoutes: TopicRoutes(broker: broker, maxBodyBytes: configuration.maxBodyBytes),
                          maxBodyBytes: configuration.maxBodyBytes).register(on: router)
        ConsoleRoutes(broker: broker, views: views, processors: processors, open: openResponses, interval: configuration.consoleInterval, cache: OverviewCache()).register(on: router)
        let limiter = ConnectionLimiter(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerAddress)
        let idle = TimeAmount.nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000
            + configuration.idleTimeout.components.attoseconds / 1_000_000_000)
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [ConnectionLimitHandler(limiter: limiter)], idleTimeout: idle))
        let server = try configuration.tls.map { tls in try HTTPServerBuilder.tls(http1, tlsConfiguration: tls) } ?? http1
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "stele"),
            onServerRunning: { channel in onBound(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }
}

extension HTTPServer {
    /// An application serving: the port it listens on and the task running it (cancel it to
    /// stop, after ``EventStreams/closeAndWait(limit:)``).
    public struct Running: Sendable {
        public let port: Int
        public let task: Task<Void, any Error>
    }

    /// Starts ``application(configuration:broker:store:views:metrics:eventStreams:logger:onBound:)``
    /// in a task and returns once it listens (port 0 picks a free one); throws if it cannot
    /// bind, rather than failing in the background.
    public static func start(configuration: Configuration, broker: Broker, store: EventStore, views: ViewService,
                             metrics: PrometheusCollectorRegistry? = nil, eventStreams: EventStreams = EventStreams(),
                             logger: Logger) async throws -> Running {
        let (bound, listening) = AsyncStream<Int>.makeStream()
        let app = try application(configuration: configuration, broker: broker, store: store, views: views, metrics: metrics,
                              eventStreams: eventStreams, logger: logger) { port in
            listening.yield(port)
            listening.finish()
        }
        let task = Task {
            defer { listening.finish() }
            try await app.runService(gracefulShutdownSignals: [])
        }
        for await port in bound { return Running(port: port, task: task) }
        try await task.value
        throw HTTPError(.serviceUnavailable, message: "the HTTP server stopped before it listened")
    }
}

/// JSON bodies and RFC 9457 problem details.
enum JSONResponse {
    /// A request's body, or 413 when it is larger than `limit` (nothing of it is used then).
    static func body(of request: Request, limit: Int) async -> Result<ByteBuffer, ProblemResponse> {
        var request = request
        do { return .success(try await request.collectBody(upTo: limit)) } catch {
            return .failure(ProblemResponse(problem(.contentTooLarge, "the body is larger than \(limit) bytes")))
        }
    }

    static func ok(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.jsonText)))
    }

    static func problem(_ status: HTTPResponse.Status, _ title: String, detail: String? = nil, extra: [String: JSONValue] = [:]) -> Response {
        var members: [String: JSONValue] = ["type": .string("about:blank"), "title": .string(title), "status": .integer(Int64(status.code))]
        members.merge(extra) { current, _ in current }
        if let detail { members["detail"] = .string(detail) }
        return Response(status: status, headers: [.contentType: "application/problem+json"],
                        body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(members).jsonText)))
    }
}

/// A problem response carried through a `Result`.
struct ProblemResponse: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

extension JSONValue {
    /// An integer, also when written with a zero fraction (`74.0`): JSON Schema counts both as
    /// integers, so clients may send either.
    var integer: Int64? {
        switch self {
        case let .integer(value): value
        case let .number(value) where value.rounded() == value && abs(value) < 9.0e15: Int64(value)
        default: nil
        }
    }
}
