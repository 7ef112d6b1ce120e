import Logging
import ServiceLifecycle
import SteleBroker
import SteleHTTP
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
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down: no new connections, finishing requests in flight")
        await eventStreams.closeAndWait()
    }
}
