import Logging
import ServiceLifecycle
import SteleBroker
import SteleHTTP
import SteleProcessors
import SteleServer
import SteleViews

// The parts of a node as swift-service-lifecycle services. Each runs until the group shuts it
// down, then stops its part; the group stops them in the reverse of their order in
// ``SteleNode``, so nothing is stopped while something above it still uses it.

/// Closes the broker (every partition flushed and closed) once everything above it stopped.
struct BrokerService: Service {
    let broker: Broker

    func run() async throws {
        // Cancellation (the group escalating) ends the wait too: the broker is closed either way.
        try? await gracefulShutdown()
        try await broker.close()
    }
}

/// Stops a set of views (their runners and rebuilds) once the listeners stopped.
struct ViewsService: Service {
    let views: ViewService

    func run() async throws {
        try? await gracefulShutdown()
        await views.stop()
    }
}

/// Stops the processors (each task cancelled at its next event or store call) once the
/// listeners stopped.
struct ProcessorsService: Service {
    let processors: ProcessorService

    func run() async throws {
        try? await gracefulShutdown()
        await processors.stop()
    }
}

/// Serves the Kafka protocol; on shutdown accepts no more connections and drains the requests
/// in flight.
struct KafkaListenerService: Service {
    let server: KafkaServer

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run()
        } onGracefulShutdown: {
            server.shutdown()
        }
    }
}

/// Ends the open event streams and long polls first, so the HTTP server's graceful shutdown
/// (which waits for responses in flight) is not held by followers that never disconnect.
struct EventStreamsService: Service {
    let eventStreams: EventStreams
    /// How long to wait for the streams to say goodbye (only a client that stopped reading takes it).
    let limit: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down: no new connections, finishing requests in flight")
        await eventStreams.closeAndWait(limit: limit)
    }
}

/// A listener (Kafka, HTTP) as the node runs it. It serves until the node stops; then it has
/// `gracePeriod` to finish the requests in flight, after which it is cancelled: a client that
/// stopped reading (its socket full), or a fetch parked for minutes, cannot hold the node's
/// shutdown. A listener that stops by itself while the node still runs is an error, so the
/// node stops and `stele serve` exits non-zero instead of serving nothing with a zero status.
struct ListenerService: Service {
    let name: String
    let service: any Service
    let gracePeriod: Duration
    let logger: Logger

    enum Outcome: Sendable { case finished, graceEnded, timerCancelled }

    func run() async throws {
        let (name, service, gracePeriod, logger) = (name, service, gracePeriod, logger)
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            // Both children inherit this service's graceful-shutdown context (a task local).
            group.addTask {
                try await service.run()
                return .finished
            }
            group.addTask {
                do {
                    try await gracefulShutdown()
                    try await Task.sleep(for: gracePeriod)
                    return .graceEnded
                } catch {
                    return .timerCancelled
                }
            }
            while let outcome = try await group.next() {
                switch outcome {
                case .finished:
                    group.cancelAll()
                    guard Task.isShuttingDownGracefully || Task.isCancelled else { throw ListenerStopped(name: name) }
                    return
                case .graceEnded:
                    logger.warning("requests still in flight after the shutdown grace period: cancelling them",
                                   metadata: ["listener": "\(name)", "grace_period": "\(gracePeriod)"])
                    group.cancelAll()
                    // The listener's answer to cancellation (an error, usually) is not a failure.
                    _ = try? await group.next()
                    return
                case .timerCancelled:
                    continue
                }
            }
        }
    }
}

/// A listener stopped while the node was running.
struct ListenerStopped: Error, CustomStringConvertible {
    let name: String
    var description: String { "the \(name) listener stopped while the node was running" }
}
