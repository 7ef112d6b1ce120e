import Foundation
import Hummingbird
import NIOCore
import SteleBroker
import SteleSecurity
import SteleProcessors
import SteleViews
import SteleWire
import Synchronization
import SteleAsync

/// The web console: three files embedded in the binary (`Embedded/console.*`, nothing fetched
/// from elsewhere at run time) served at `/`, and `/overview`, the one summary its first page
/// follows live. Every other page of the console reads the API's own routes, so it shows what
/// the API shows to the same principal.
struct ConsoleRoutes: Sendable {
    let broker: Broker
    let views: ViewService
    let processors: ProcessorService?
    let open: EventStreams
    /// How often `/overview/subscribe` sends a fresh summary.
    let interval: Duration
    let cache: OverviewCache

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
        router.get("overview") { _, context in JSONResponse.ok(await overview(may: context.may)) }
        router.get("overview/subscribe") { _, context in
            let routes = self
            let visible = context.may
            return open.response { send in
                var next = ContinuousClock.now
                while !Task.isCancelled {
                    try await send("event: overview\ndata: \(await routes.overview(may: visible).jsonText)\n\n")
                    // After a slow build the next one is an interval away, not at once.
                    next = max(next + interval, .now)
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
    /// the console draws rates. `may` (a server that authorizes) keeps the topics, groups and
    /// views the principal may describe — a group's lag counts only the topics it may describe
    /// — and the totals for one who may describe the cluster.
    func overview(may: @escaping @Sendable (AclOperation, AclResource) -> Bool = { _, _ in true }) async -> JSONValue {
        let snapshot = await cache.snapshot(maxAge: .seconds(1)) { await self.snapshot() }
        let sees: (AclResource) -> Bool = { may(.describe, $0) }
        var diskBytes: Int64 = 0
        var topics: [JSONValue] = []
        for topic in snapshot.topics where sees(.topic(topic.name)) {
            diskBytes += topic.bytes
            var members: [String: JSONValue] = [
                "name": .string(topic.name), "partitions": .integer(Int64(topic.partitions)),
                "records": .integer(topic.records), "bytes": .integer(topic.bytes), "internal": .bool(topic.name.hasPrefix("__")),
            ]
            if let mirror = topic.mirror { members["mirror"] = mirror }
            topics.append(.object(members))
        }
        let groups: [JSONValue] = snapshot.groups.filter { sees(.group($0.name)) }.map { group in
            let lag = group.lagByTopic.filter { sees(.topic($0.key)) }.values.reduce(Int64(0)) { sum, lag in
                let (total, overflow) = sum.addingReportingOverflow(lag)
                return overflow ? .max : total
            }
            return .object(["name": .string(group.name), "state": .string(group.state), "members": .integer(Int64(group.members)), "lag": .integer(lag)])
        }
        var body: [String: JSONValue] = [
            "at": .integer(snapshot.at),
            "topics": .array(topics), "groups": .array(groups),
            "views": .array(snapshot.views.filter { sees(.view($0.name)) }.map(\.status)),
            // Processors are managed as the cluster is (their routes need DESCRIBE on it).
            "processors": .array(sees(.cluster) ? snapshot.processors : []),
            // The broker's totals say how busy all of it is: only for who may describe the cluster.
            "totals": !sees(.cluster) ? .object(["diskBytes": .integer(diskBytes)]) : .object([
                "appendedRecords": .integer(snapshot.appendedRecords), "appendedBytes": .integer(snapshot.appendedBytes),
                "fetchedBytes": .integer(snapshot.fetchedBytes), "diskBytes": .integer(diskBytes),
            ]),
        ]
        let offline = snapshot.offline.filter { sees(.topic($0.name)) }
        if !offline.isEmpty { body["offline"] = .array(offline.map { .object(["name": .string($0.name), "reason": .string($0.reason)]) }) }
        return .object(body)
    }

    /// Everything the overview shows, for every principal: built at most once a second however
    /// many consoles follow it (each is filtered from it).
    func snapshot() async -> OverviewSnapshot {
        let now = Date().epochMilliseconds
        let lag = broker.mirrorLag.lag(nowMs: now)
        var snapshot = OverviewSnapshot(at: now)
        for name in broker.topicNames {
            guard let topic = broker.topic(name) else { continue }
            var entry = OverviewSnapshot.Topic(name: name, partitions: topic.partitions.count)
            for log in topic.partitions {
                entry.records += max(0, log.highWatermark - log.logStartOffset)
                entry.bytes += log.sizeInBytes
            }
            if case let .object(described) = TopicRoutes.json(topic, mirrorLag: lag[name]) { entry.mirror = described["mirror"] }
            snapshot.topics.append(entry)
        }
        for group in Set(await broker.groups.listGroups().map(\.groupId)).sorted() {
            let description = await broker.groups.describe(group)
            var entry = OverviewSnapshot.Group(name: group, state: description?.state ?? "Empty", members: description?.members.count ?? 0)
            for (key, committed) in await broker.groups.committed(group: group) {
                guard let topic = broker.topic(key.topic), topic.partitions.indices.contains(Int(key.partition)),
                      let lag = ConsumerLag.records(committed: committed.offset, logEnd: topic.partitions[Int(key.partition)].highWatermark) else { continue }
                let (total, overflow) = (entry.lagByTopic[key.topic] ?? 0).addingReportingOverflow(lag)
                entry.lagByTopic[key.topic] = overflow ? .max : total
            }
            snapshot.groups.append(entry)
        }
        for view in views.views { snapshot.views.append((view.name, ViewRoutes.json(await view.status()))) }
        for processor in processors?.processors ?? [] { snapshot.processors.append(await processor.statusJSON()) }
        let totals = broker.metrics.totals
        snapshot.appendedRecords = Int64(totals.appendedRecords.load(ordering: .relaxed))
        snapshot.appendedBytes = Int64(totals.appendedBytes.load(ordering: .relaxed))
        snapshot.fetchedBytes = Int64(totals.fetchedBytes.load(ordering: .relaxed))
        snapshot.offline = broker.offlineTopics.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return snapshot
    }
}

/// What `/overview` shows, before it is filtered for a principal.
struct OverviewSnapshot: Sendable {
    struct Topic: Sendable {
        var name: String
        var partitions: Int
        var records: Int64 = 0
        var bytes: Int64 = 0
        var mirror: JSONValue?
    }

    struct Group: Sendable {
        var name: String
        var state: String
        var members: Int
        var lagByTopic: [String: Int64] = [:]
    }

    var at: Int64
    var topics: [Topic] = []
    var groups: [Group] = []
    var views: [(name: String, status: JSONValue)] = []
    var processors: [JSONValue] = []
    var appendedRecords: Int64 = 0
    var appendedBytes: Int64 = 0
    var fetchedBytes: Int64 = 0
    var offline: [(name: String, reason: String)] = []
}

/// The last overview built, shared by every request for `maxAge`; one build runs at a time
/// (requests arriving meanwhile wait for it rather than building their own).
final class OverviewCache: Sendable {
    private let last = Mutex<(built: ContinuousClock.Instant, snapshot: OverviewSnapshot)?>(nil)
    private let building = AsyncLock()

    func snapshot(maxAge: Duration, build: @Sendable () async -> OverviewSnapshot) async -> OverviewSnapshot {
        if let fresh = last.withLock({ $0 }), ContinuousClock.now - fresh.built < maxAge { return fresh.snapshot }
        return await building.withLock {
            if let fresh = last.withLock({ $0 }), ContinuousClock.now - fresh.built < maxAge { return fresh.snapshot }
            let snapshot = await build()
            last.withLock { $0 = (ContinuousClock.now, snapshot) }
            return snapshot
        }
    }
}
