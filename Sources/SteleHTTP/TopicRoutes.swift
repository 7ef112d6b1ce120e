import Foundation
import Hummingbird
import NIOCore
import SteleBroker
import SteleViews
import SteleWire

/// `/topics` (list, create, describe) and `/groups` (list, describe with lag per partition).
struct TopicRoutes: Sendable {
    let broker: Broker
    let maxBodyBytes: Int

    func register(on router: Router<SteleRequestContext>) {
        router.get("topics") { _, _ in
            let lag = broker.mirrorLag.lag(nowMs: Date().epochMilliseconds)
            var body: [String: JSONValue] = ["topics": .array(broker.topicNames.compactMap { name in broker.topic(name).map { Self.json($0, mirrorLag: lag[name]) } })]
            let offline = broker.offlineTopics.sorted { $0.key < $1.key }
            if !offline.isEmpty { body["offline"] = .array(offline.map { .object(["name": .string($0.key), "reason": .string($0.value)]) }) }
            return JSONResponse.ok(.object(body))
        }
        router.get("topics/:name") { _, context in
            let name = try StreamRoutes.pathParameter(context, "name")
            if let reason = broker.offlineReason(name) { return JSONResponse.problem(.serviceUnavailable, "topic offline", detail: reason) }
            guard let topic = broker.topic(name) else { return JSONResponse.problem(.notFound, "no topic named \(name)") }
            return JSONResponse.ok(Self.json(topic, mirrorLag: broker.mirrorLag.lag(nowMs: Date().epochMilliseconds)[name]))
        }
        router.post("topics") { request, _ in
            let body: ByteBuffer
            switch await JSONResponse.body(of: request, limit: maxBodyBytes) {
            case let .success(bytes): body = bytes
            case let .failure(problem): return problem.response
            }
            guard case let .object(members)? = JSONValue.parse(Array(body.readableBytesView)),
                  case let .string(name)? = members["name"] else {
                return JSONResponse.problem(.badRequest, "expected {\"name\": \"…\", \"partitions\"?: n, \"configs\"?: {\"key\": \"value\"}}")
            }
            var partitions: Int?
            if let value = members["partitions"] {
                guard let count = value.integer, (1...Int64(TopicConfig.maxPartitions)).contains(count) else {
                    return JSONResponse.problem(.badRequest, "partitions must be 1…\(TopicConfig.maxPartitions)")
                }
                partitions = Int(count)
            }
            var configs: [String: String] = [:]
            if let value = members["configs"] {
                guard case let .object(entries) = value else { return JSONResponse.problem(.badRequest, "configs must be an object of strings") }
                for (key, entry) in entries {
                    switch entry {
                    case let .string(text): configs[key] = text
                    case let .integer(number): configs[key] = String(number)
                    default: return JSONResponse.problem(.badRequest, "config \(key) must be a string or an integer")
                    }
                }
            }
            do {
                _ = try await broker.createTopic(name, partitions: partitions, configs: configs)
            } catch let error as BrokerError {
                if case .topicAlreadyExists = error { return JSONResponse.problem(.conflict, "topic exists", detail: error.description) }
                if case .topicOffline = error { return JSONResponse.problem(.conflict, "topic exists but is offline", detail: error.description) }
                if case .storage = error { return JSONResponse.problem(.serviceUnavailable, "storage failure", detail: error.description) }
                return JSONResponse.problem(.badRequest, "invalid topic", detail: error.description)
            }
            guard let topic = broker.topic(name) else { return JSONResponse.problem(.internalServerError, "the topic vanished after its creation") }
            return JSONResponse.ok(Self.json(topic), status: .created)
        }
        router.get("groups") { _, _ in
            let groups = Set(await broker.groups.listGroups().map(\.groupId)).sorted()
            var described: [JSONValue] = []
            for group in groups { described.append(await json(group: group)) }
            return JSONResponse.ok(.object(["groups": .array(described)]))
        }
        router.get("groups/:name") { _, context in
            let name = try StreamRoutes.pathParameter(context, "name")
            let described = await broker.groups.describe(name) != nil
            let committed = await !broker.groups.committed(group: name).isEmpty
            guard described || committed else {
                return JSONResponse.problem(.notFound, "no consumer group named \(name)")
            }
            return JSONResponse.ok(await json(group: name))
        }
    }

    /// A topic; a mirror topic also says its source, its state and (when a mirror in this node
    /// reports it) how far behind the source it is.
    static func json(_ topic: Broker.Topic, mirrorLag: MirrorLagBoard.TopicLag? = nil) -> JSONValue {
        var members = Self.members(topic)
        if let source = topic.config.mirrorSource {
            members["mirror"] = .object([
                "source": .string(source), "state": .string(topic.config.isActiveMirror ? "active" : "promoted"),
                "lagRecords": topic.config.isActiveMirror ? mirrorLag.map { .integer($0.records) } ?? .null : .null,
                "lagSeconds": topic.config.isActiveMirror ? mirrorLag.map { .number($0.seconds) } ?? .null : .null,
            ])
        }
        return .object(members)
    }

    static func members(_ topic: Broker.Topic) -> [String: JSONValue] {
        [
            "name": .string(topic.name),
            "configs": .object(topic.config.configs.mapValues(JSONValue.string)),
            "partitions": .array(topic.partitions.enumerated().map { index, log in
                .object([
                    "partition": .integer(Int64(index)), "logStartOffset": .integer(log.logStartOffset),
                    "logEndOffset": .integer(log.highWatermark), "bytes": .integer(log.sizeInBytes),
                ])
            }),
        ]
    }

    /// A group's state and members, and per partition its committed offset, the log end and the lag.
    func json(group name: String) async -> JSONValue {
        let description = await broker.groups.describe(name)
        var partitions: [JSONValue] = []
        var totalLag: Int64 = 0
        for (key, committed) in await broker.groups.committed(group: name).sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            let end = broker.topic(key.topic).flatMap { topic in topic.partitions.indices.contains(Int(key.partition)) ? topic.partitions[Int(key.partition)].highWatermark : nil }
            let lag = end.flatMap { ConsumerLag.records(committed: committed.offset, logEnd: $0) }
            let (sum, overflow) = totalLag.addingReportingOverflow(lag ?? 0)
            totalLag = overflow ? .max : sum
            partitions.append(.object([
                "topic": .string(key.topic), "partition": .integer(Int64(key.partition)), "committed": .integer(committed.offset),
                "logEndOffset": end.map(JSONValue.integer) ?? .null, "lag": lag.map(JSONValue.integer) ?? .null,
            ]))
        }
        return .object([
            "name": .string(name),
            "state": .string(description?.state ?? "Empty"),
            "members": .array((description?.members ?? []).map { .object(["memberId": .string($0.memberId), "clientId": .string($0.clientId)]) }),
            "partitions": .array(partitions),
            "lag": .integer(totalLag),
        ])
    }
}
