import Foundation
import Hummingbird
import NIOCore
import SteleStore
import SteleWire
import SteleViews

/// `/categories/{category}`: a category's end and its events page by page, and `/appends`, a
/// long poll that returns when anything is appended — together what a remote reader (the Swift
/// `.remote` store, a poller in any language) needs to follow categories without SSE.
struct CategoryRoutes: Sendable {
    let store: EventStore
    /// Counts waiting long polls with the event streams, against one limit.
    let open: EventStreams
    /// Longest a long poll is held open.
    static let longestWait = Duration.seconds(30)

    func register(on router: Router<SteleRequestContext>) {
        router.get("categories/:category") { _, context in
            let category = try StreamRoutes.pathParameter(context, "category")
            do {
                let end = try await store.endCheckpoint(of: category)
                return JSONResponse.ok(CategoryEndJSON(category: category, end: end.description).json)
            } catch let error as EventStoreError {
                return StreamRoutes.problem(for: error)
            }
        }
        router.get("categories/:category/events") { request, context in
            let category = try StreamRoutes.pathParameter(context, "category")
            let query = request.uri.queryParameters
            let limit = query["limit"].map { Int(String($0)) } ?? StreamRoutes.pageLimit
            guard let limit, (1...StreamRoutes.pageLimit).contains(limit) else {
                return JSONResponse.problem(.badRequest, "limit must be 1…\(StreamRoutes.pageLimit)")
            }
            var after = CategoryCheckpoint.start
            if let text = query["after"].map(String.init), !text.isEmpty {
                guard let checkpoint = CategoryCheckpoint(text) else {
                    return JSONResponse.problem(.badRequest, "after must be a category checkpoint such as 0:120,1:97", detail: text)
                }
                after = checkpoint
            }
            let base64: Bool
            switch StreamRoutes.wantsBase64(request) {
            case let .success(value): base64 = value
            case let .failure(problem): return problem.response
            }
            do {
                let page = try await store.readCategory(category, after: after, limit: limit)
                // Only what the store produced is asserted (`after` is the client's).
                assert(page.events.count <= limit && page.events.allSatisfy { page.next.hasPassed($0.position) },
                       "a page holds at most `limit` events, each before `next`")
                return JSONResponse.ok(CategoryPageJSON(events: page.events.map { CloudEventJSON($0, base64: base64) },
                                                        next: page.next.description).json)
            } catch let error as EventStoreError {
                return StreamRoutes.problem(for: error)
            }
        }
        router.get("appends") { request, _ in
            let query = request.uri.queryParameters
            guard let after = query["after"].flatMap({ UInt64(String($0)) }) else {
                return JSONResponse.problem(.badRequest, "after must be an append generation (from an earlier answer; 0 at first)")
            }
            let waitMilliseconds = query["waitMs"].map { Int(String($0)) } ?? 0
            guard let waitMilliseconds, waitMilliseconds >= 0 else { return JSONResponse.problem(.badRequest, "waitMs must be a number of milliseconds ≥ 0") }
            let wait = min(Duration.milliseconds(waitMilliseconds), Self.longestWait)
            if store.storage.appendGeneration == after, wait > .zero {
                if let refusal = open.refusal { return refusal }
                open.count.add(1, ordering: .relaxed)
                defer { open.count.subtract(1, ordering: .relaxed) }
                // In slices, so a server that is stopping answers at once instead of holding
                // its shutdown for the rest of the wait.
                let deadline = ContinuousClock.now + wait
                while store.storage.appendGeneration == after, !open.isClosing, !Task.isCancelled, ContinuousClock.now < deadline {
                    await store.storage.waitForAppends(after: after, until: min(deadline, .now + EventStreams.closeCheck))
                }
            }
            return JSONResponse.ok(GenerationJSON(generation: String(store.storage.appendGeneration)).json)
        }
    }
}
