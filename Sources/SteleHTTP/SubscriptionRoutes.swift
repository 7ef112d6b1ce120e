import Foundation
import Hummingbird
import HTTPTypes
import Synchronization
import NIOCore
import SteleStore
import SteleWire
import SteleViews

/// Server-Sent Events: a stream's or a category's events as they are appended, catch-up first.
/// Each message's `id` is where to resume — a stream's version, a category's position — and a
/// client that reconnects with `Last-Event-ID` gets the events after it, none twice, none lost.
struct SubscriptionRoutes: Sendable {
    let store: EventStore
    let views: ViewService
    let heartbeat: Duration
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// Open event-stream responses, for `/metrics`.
    let open: EventStreams

    func register(on router: Router<SteleRequestContext>) {
        router.get("streams/:category/:id/subscribe") { request, context in
            let stream = try StreamRoutes.stream(context)
            if let problem = stream.problem { return JSONResponse.problem(.badRequest, "invalid stream", detail: problem) }
            var from: Int64 = 0
            if let last = request.headers[Self.lastEventID] {
                guard let version = Int64(last), version >= 0, version < Int64.max else { return JSONResponse.problem(.badRequest, "Last-Event-ID must be a version of the stream") }
                from = version + 1
            } else if let text = request.uri.queryParameters["from"] {
                guard let version = Int64(String(text)), version >= 0 else { return JSONResponse.problem(.badRequest, "from must be a version ≥ 0") }
                from = version
            }
            let subscription = store.subscribe(to: stream, from: from)
            let (heartbeat, open) = (heartbeat, open)
            return eventStream { send in
                var iterator = subscription.makeAsyncIterator()
                try await Self.follow(heartbeat: heartbeat, open: open, send: send) { deadline in
                    try await iterator.next(before: deadline).map { (String($0.version), $0) }
                }
            }
        }
        router.get("categories/:category/subscribe") { request, context in
            let category = try StreamRoutes.pathParameter(context, "category")
            var position = CategoryCheckpoint.start
            if let last = request.headers[Self.lastEventID] ?? request.uri.queryParameters["after"].map(String.init) {
                guard let parsed = CategoryCheckpoint(last) else {
                    return JSONResponse.problem(.badRequest, "Last-Event-ID must be a category checkpoint (as sent in an event's id)", detail: last)
                }
                position = parsed
            }
            let subscription = store.subscribe(toCategory: category, after: position)
            let start = position
            let (heartbeat, open) = (heartbeat, open)
            return eventStream { send in
                var iterator = subscription.makeAsyncIterator()
                var resume = start
                try await Self.follow(heartbeat: heartbeat, open: open, send: send) { deadline in
                    guard let event = try await iterator.next(before: deadline) else { return nil }
                    resume.advance(past: event.position)
                    return (resume.description, event)
                }
            }
        }
        router.get("views/:name/changes") { _, context in
            let name = try StreamRoutes.pathParameter(context, "name")
            guard let view = views.view(named: name) else { return JSONResponse.problem(.notFound, "no view named \(name)") }
            let changes = view.changes()
            let heartbeat = heartbeat
            return eventStream { send in
                // The view pushes changes; a second task ticks the heartbeat. Both feed one
                // bounded queue so a slow client is ended, as `changes()` ends a slow follower.
                // Why the stream ends is kept beside the queue: a full queue would drop it.
                let (items, queue) = AsyncStream<ViewStreamItem>.makeStream(bufferingPolicy: .bufferingOldest(1024))
                let ending = Mutex<String?>(nil)
                let end: @Sendable (String) -> Void = { reason in
                    ending.withLock { $0 = $0 ?? reason }
                    queue.finish()
                }
                let forward = Task {
                    do {
                        for try await change in changes {
                            if case .dropped = queue.yield(.change(change)) { return end("the client fell behind the view's changes") }
                        }
                        queue.finish()
                    } catch {
                        end("\(error)")
                    }
                }
                let open = open
                let ticks = Task {
                    var lastTick = ContinuousClock.now
                    while !Task.isCancelled {
                        try? await Task.sleep(for: min(heartbeat, EventStreams.closeCheck))
                        if open.isClosing { return end("the server is stopping") }
                        if ContinuousClock.now - lastTick >= heartbeat {
                            queue.yield(.tick)
                            lastTick = .now
                        }
                    }
                }
                defer { forward.cancel(); ticks.cancel(); queue.finish() }
                for await item in items {
                    switch item {
                    case let .change(change): try await send("event: change\ndata: \(Self.json(change).jsonText)\n\n")
                    case .tick: try await send(Self.keepAlive)
                    }
                }
                if let reason = ending.withLock({ $0 }) {
                    try await send("event: error\ndata: \(JSONValue.string(reason).jsonText)\n\n")
                }
            }
        }
    }

    /// Sends each event `next` gives (with the id to resume after it), a heartbeat when nothing
    /// came for `heartbeat`, and ends when the server stops. `next` returns `nil` when its
    /// deadline passes with nothing new.
    static func follow(heartbeat: Duration, open: EventStreams, send: (String) async throws -> Void,
                       next: (ContinuousClock.Instant) async throws -> (id: String, event: RecordedEvent)?) async throws {
        var lastSent = ContinuousClock.now
        while !Task.isCancelled {
            if open.isClosing { throw ServerStopping() }
            if let (id, event) = try await next(.now + min(heartbeat, EventStreams.closeCheck)) {
                try await send(message(id: id, event))
                lastSent = .now
            } else if ContinuousClock.now - lastSent >= heartbeat {
                try await send(keepAlive)
                lastSent = .now
            }
        }
    }

    enum ViewStreamItem: Sendable {
        case change(ViewChange)
        case tick
    }

    static let keepAlive = ": keep-alive\n\n"

    static func message(id: String, _ event: RecordedEvent) -> String {
        // By scalar: "\r\n" is one Character, equal to neither "\r" nor "\n", and a type holding
        // it would end the line and write fields of its own (a forged `id:` moves a client's
        // resume point past events it never got).
        let name = String(String.UnicodeScalarView((event.type ?? "event").unicodeScalars.filter { $0 != "\n" && $0 != "\r" }))
        return "id: \(id)\nevent: \(name)\ndata: \(StreamRoutes.cloudEvent(event).jsonText)\n\n"
    }

    static func json(_ change: ViewChange) -> JSONValue {
        .object([
            "view": .string(change.view),
            "events": .array(change.events.map { event in
                .object([
                    "stream": .string(event.stream.description), "version": .integer(event.version),
                    "type": event.type.map(JSONValue.string) ?? .null, "position": .string(event.position.description),
                ])
            }),
            "checkpoints": .object(change.checkpoints.mapValues { .string($0.description) }),
        ])
    }

    /// A `text/event-stream` response fed by `body` (see ``EventStreams/response(_:)``).
    func eventStream(_ body: @escaping @Sendable (_ send: (String) async throws -> Void) async throws -> Void) -> Response {
        open.response(body)
    }
}

/// The server's open event-stream (SSE) responses. A client that went away stops counting
/// within a heartbeat; ``close()`` ends them all within a second, so a server with followers
/// connected can still stop (HTTP shutdown waits for responses in flight).
public final class EventStreams: Sendable {
    /// Open event-stream responses and waiting long polls.
    let count = Atomic<Int>(0)
    /// How many may be open at once; one more is answered 503 (each holds a task and buffers).
    let limit: Int
    let closing = Atomic<Bool>(false)
    /// How long a response waits for an event before it looks at ``close()``.
    static let closeCheck = Duration.seconds(1)

    public init(limit: Int = 1_000) { self.limit = limit }

    /// A 503 when ``limit`` subscribers are open (checked as a request arrives: the count may
    /// pass the limit by the requests arriving at the same moment, never by more).
    var refusal: Response? {
        guard count.load(ordering: .relaxed) >= limit else { return nil }
        return JSONResponse.problem(.serviceUnavailable, "too many subscribers", detail: "\(limit) event streams and long polls are open; try again later")
    }

    /// Ends every open response (an `event: error` saying the server is stopping) and any
    /// opened later.
    public func close() { closing.store(true, ordering: .releasing) }

    /// ``close()``, then wait until the responses have said so and ended (each looks every
    /// second; `limit` only bounds a client that stopped reading, so a busy machine still gets
    /// its goodbye out).
    public func closeAndWait(limit: Duration = .seconds(30)) async {
        close()
        let deadline = ContinuousClock.now + limit
        while count.load(ordering: .acquiring) > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    var isClosing: Bool { closing.load(ordering: .acquiring) }

    /// Event streams and long polls open now.
    public var openCount: Int { count.load(ordering: .relaxed) }
}

/// Thrown inside an event-stream response when the server stops.
struct ServerStopping: Error {}

extension EventStreams {
    /// A `text/event-stream` response fed by `body`, which sends whole SSE messages.
    func response(_ body: @escaping @Sendable (_ send: (String) async throws -> Void) async throws -> Void) -> Response {
        let open = self
        if let refusal = open.refusal { return refusal }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                open.count.add(1, ordering: .relaxed)
                defer {
                    let left = open.count.subtract(1, ordering: .relaxed).newValue
                    assert(left >= 0, "more event streams closed than opened")
                }
                // A comment first, so the client sees the stream open before the first event.
                try await writer.write(ByteBuffer(string: ": stele\n\n"))
                do {
                    try await body { message in try await writer.write(ByteBuffer(string: message)) }
                } catch let error as EventStoreError {
                    // The stream is already open: say why it ends, as an SSE event.
                    try await writer.write(ByteBuffer(string: "event: error\ndata: \(JSONValue.string(error.description).jsonText)\n\n"))
                } catch is ServerStopping {
                    try await writer.write(ByteBuffer(string: "event: error\ndata: \(JSONValue.string("the server is stopping").jsonText)\n\n"))
                }
                try await writer.finish(nil)
            }
        )
    }
}
