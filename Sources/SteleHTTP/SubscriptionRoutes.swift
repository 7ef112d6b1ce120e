import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import SteleStore
import SteleViews

/// Server-Sent Events: a stream's or a category's events as they are appended, catch-up first.
/// Each message's `id` is where to resume — a stream's version, a category's position — and a
/// client that reconnects with `Last-Event-ID` gets the events after it, none twice, none lost.
struct SubscriptionRoutes: Sendable {
    let store: EventStore
    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    func register(on router: Router<BasicRequestContext>) {
        router.get("streams/:category/:id/subscribe") { request, context in
            let stream = try StreamRoutes.stream(context)
            if let problem = stream.problem { return JSONResponse.problem(.badRequest, "invalid stream", detail: problem) }
            var from: Int64 = 0
            if let last = request.headers[Self.lastEventID] {
                guard let version = Int64(last), version >= 0 else { return JSONResponse.problem(.badRequest, "Last-Event-ID must be a version of the stream") }
                from = version + 1
            } else if let text = request.uri.queryParameters["from"] {
                guard let version = Int64(String(text)), version >= 0 else { return JSONResponse.problem(.badRequest, "from must be a version ≥ 0") }
                from = version
            }
            let subscription = store.subscribe(to: stream, from: from)
            return Self.eventStream { write in
                for try await event in subscription { try await write(String(event.version), event) }
            }
        }
        router.get("categories/:category/subscribe") { request, context in
            let category = try context.parameters.require("category")
            var position = CategoryPosition.start
            if let last = request.headers[Self.lastEventID] ?? request.uri.queryParameters["after"].map(String.init) {
                guard let parsed = CategoryPosition(last) else {
                    return JSONResponse.problem(.badRequest, "Last-Event-ID must be a category position (as sent in an event's id)", detail: last)
                }
                position = parsed
            }
            let subscription = store.subscribe(toCategory: category, after: position)
            let start = position
            return Self.eventStream { write in
                var resume = start
                for try await event in subscription {
                    resume.advance(past: event.position)
                    try await write(resume.description, event)
                }
            }
        }
    }

    /// A `text/event-stream` response fed by `body`, which writes each event with its id.
    static func eventStream(_ body: @escaping @Sendable (_ write: (String, RecordedEvent) async throws -> Void) async throws -> Void) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                // A comment first, so the client sees the stream open before the first event.
                try await writer.write(ByteBuffer(string: ": stele\n\n"))
                do {
                    try await body { id, event in
                        let name = (event.type ?? "event").filter { $0 != "\n" && $0 != "\r" }
                        let message = "id: \(id)\nevent: \(name)\ndata: \(StreamRoutes.cloudEvent(event).jsonText)\n\n"
                        try await writer.write(ByteBuffer(string: message))
                    }
                } catch let error as EventStoreError {
                    // The stream is already open: say why it ends, as an SSE event.
                    try await writer.write(ByteBuffer(string: "event: error\ndata: \(JSONValue.string(error.description).jsonText)\n\n"))
                }
                try await writer.finish(nil)
            }
        )
    }
}
