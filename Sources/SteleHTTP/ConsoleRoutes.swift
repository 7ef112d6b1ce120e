import Foundation
import Hummingbird
import NIOCore
import SteleBroker
import SteleSecurity
import SteleViews
import SteleWire

/// The web console: three files embedded in the binary (`Embedded/console.*`, nothing fetched
/// from elsewhere at run time) served at `/`, and `/overview`, the one summary its first page
/// follows live. Every other page of the console reads the API's own routes, so it shows what
/// the API shows to the same principal.
struct ConsoleRoutes: Sendable {
    let broker: Broker
    let views: ViewService
    let open: EventStreams
    /// How often `/overview/subscribe` sends a fresh summary.
    let interval: Duration

    /// The pages run only the console's own script and style, load nothing from elsewhere, and
    /// may not be framed (a hostile page cannot overlay them to steal clicks).
    static let pageHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        .init("X-Frame-Options")!: "DENY",
        .init("X-Content-Type-Options")!: "nosniff",
        .init("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    func register(on router: Router<SteleRequestContext>) {
        router.get("/") { _, _ in Self.file(EmbeddedFiles.console_html, type: "text/html; charset=utf-8") }
        router.get("console") { _, _ in Self.file(EmbeddedFiles.console_html, type: "text/html; charset=utf-8") }
        router.get("console/console.js") { _, _ in Self.file(EmbeddedFiles.console_js, type: "text/javascript; charset=utf-8") }
        router.get("console/console.css") { _, _ in Self.file(EmbeddedFiles.console_css, type: "text/css; charset=utf-8") }
        router.get("overview") { _, context in JSONResponse.ok(await overview(visibleTo: context.mayDescribe)) }
        router.get("overview/subscribe") { _, context in
            let routes = self
            let visible = context.mayDescribe
            return open.response { send in
                var next = ContinuousClock.now
                while !Task.isCancelled {
                    try await send("event: overview\ndata: \(await routes.overview(visibleTo: visible).jsonText)\n\n")
                    next = next + interval
                    // Looked at every second, so a stopping server is not held for an interval.
                    while ContinuousClock.now < next {
                        if routes.open.isClosing { throw ServerStopping() }
                        try await Task.sleep(for: min(EventStreams.closeCheck, next - ContinuousClock.now))
                    }
                    if routes.open.isClosing { throw ServerStopping() }
                }
            }
        }
    }

    static func file(_ text: String, type: String) -> Response {
        var headers = pageHeaders
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Topics, groups and views with their sizes and lags, and the broker's running totals
    /// (records and bytes appended, bytes fetched: the counters `/metrics` exports) from which
    /// the console draws rates. With `visible` (a server that authorizes), only the topics,
    /// groups and views the principal may describe, and the totals only to one who may
    /// describe the cluster.
    func overview(visibleTo visible: (@Sendable (AclResource) -> Bool)? = nil) async -> JSONValue {
        let sees: (AclResource) -> Bool = { resource in visible?(resource) ?? true }
        let now = Date().epochMilliseconds
        let lag = broker.mirrorLag.lag(nowMs: now)
        var diskBytes: Int64 = 0
        var topics: [JSONValue] = []
        for name in broker.topicNames where sees(.topic(name)) {
            guard let topic = broker.topic(name) else { continue }
            var records: Int64 = 0, bytes: Int64 = 0
            for log in topic.partitions {
                records += max(0, log.highWatermark - log.logStartOffset)
                bytes += log.sizeInBytes
            }
            diskBytes += bytes
            var members: [String: JSONValue] = [
                "name": .string(name), "partitions": .integer(Int64(topic.partitions.count)),
                "records": .integer(records), "bytes": .integer(bytes), "internal": .bool(name.hasPrefix("__")),
            ]
            if case let .object(described) = TopicRoutes.json(topic, mirrorLag: lag[name]), let mirror = described["mirror"] {
                members["mirror"] = mirror
            }
            topics.append(.object(members))
        }
        let routes = TopicRoutes(broker: broker, maxBodyBytes: 0)
        var groups: [JSONValue] = []
        for group in Set(await broker.groups.listGroups().map(\.groupId)).sorted() where sees(.group(group)) {
            guard case let .object(described) = await routes.json(group: group) else { continue }
            var members = 0
            if case let .array(list)? = described["members"] { members = list.count }
            groups.append(.object([
                "name": described["name"] ?? .string(group), "state": described["state"] ?? .null,
                "members": .integer(Int64(members)), "lag": described["lag"] ?? .null,
            ]))
        }
        var viewList: [JSONValue] = []
        for view in views.views where sees(.view(view.name)) { viewList.append(ViewRoutes.json(await view.status())) }
        let totals = broker.metrics.totals
        let seesCluster = sees(.cluster)
        var body: [String: JSONValue] = [
            "at": .integer(now),
            "topics": .array(topics), "groups": .array(groups), "views": .array(viewList),
            // The broker's totals say how busy all of it is: only for who may describe the cluster.
            "totals": !seesCluster ? .object(["diskBytes": .integer(diskBytes)]) : .object([
                "appendedRecords": .integer(Int64(totals.appendedRecords.load(ordering: .relaxed))),
                "appendedBytes": .integer(Int64(totals.appendedBytes.load(ordering: .relaxed))),
                "fetchedBytes": .integer(Int64(totals.fetchedBytes.load(ordering: .relaxed))),
                "diskBytes": .integer(diskBytes),
            ]),
        ]
        let offline = broker.offlineTopics.sorted { $0.key < $1.key }.filter { sees(.topic($0.key)) }
        if !offline.isEmpty { body["offline"] = .array(offline.map { .object(["name": .string($0.key), "reason": .string($0.value)]) }) }
        return .object(body)
    }
}
