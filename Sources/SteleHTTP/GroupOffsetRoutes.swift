import Foundation
import Hummingbird
import NIOCore
import SteleBroker
import SteleWire

/// `POST /groups/{name}/offsets`: moves an empty group's committed offsets to the start, the
/// end or a time, as `kafka-consumer-groups --reset-offsets` does. Committed as a commit from
/// outside the group (generation -1), which the coordinator refuses while the group has
/// members, so a running consumer never has its position moved under it.
struct GroupOffsetRoutes: Sendable {
    let broker: Broker
    let topicRoutes: TopicRoutes
    let maxBodyBytes: Int

    func register(on router: Router<SteleRequestContext>) {
        router.post("groups/:name/offsets") { request, context in
            let name = try StreamRoutes.pathParameter(context, "name")
            let body: ByteBuffer
            switch await JSONResponse.body(of: request, limit: maxBodyBytes) {
            case let .success(bytes): body = bytes
            case let .failure(problem): return problem.response
            }
            let usage = "expected {\"to\": \"earliest\" | \"latest\" | \"timestamp\", \"timestamp\"?: epoch ms, \"topic\"?: \"…\"}"
            guard case let .object(members)? = JSONValue.parse(Array(body.readableBytesView)), case let .string(to)? = members["to"] else {
                return JSONResponse.problem(.badRequest, usage)
            }
            if let unknown = members.keys.first(where: { !["to", "timestamp", "topic"].contains($0) }) {
                return JSONResponse.problem(.badRequest, "unknown member \(unknown)", detail: usage)
            }
            var time: Int64?
            switch to {
            case "earliest", "latest":
                guard members["timestamp"] == nil else { return JSONResponse.problem(.badRequest, "a timestamp goes with \"to\": \"timestamp\"") }
            case "timestamp":
                guard let value = members["timestamp"]?.integer, value >= 0 else {
                    return JSONResponse.problem(.badRequest, "\"to\": \"timestamp\" needs \"timestamp\": epoch milliseconds ≥ 0")
                }
                time = value
            default: return JSONResponse.problem(.badRequest, "\"to\" must be earliest, latest or timestamp", detail: usage)
            }
            var topicFilter: String?
            switch members["topic"] {
            case nil, .null?: break
            case let .string(topic)?: topicFilter = topic
            default: return JSONResponse.problem(.badRequest, "topic must be a string")
            }
            if let description = await broker.groups.describe(name), !description.members.isEmpty {
                return JSONResponse.problem(.conflict, "\(name) has members", detail: "stop its consumers first: offsets move only while the group is empty")
            }
            let committed = await broker.groups.committed(group: name).keys
                .filter { topicFilter == nil || $0.topic == topicFilter }
                .sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
            guard !committed.isEmpty else {
                return JSONResponse.problem(.notFound, "\(name) has no committed offsets" + (topicFilter.map { " in \($0)" } ?? ""))
            }
            // A commit needs READ on each topic as well as on the group (as OffsetCommit does).
            if let refused = Set(committed.map(\.topic)).sorted().first(where: { !context.may(.read, .topic($0)) }) {
                return JSONResponse.problem(.forbidden, "not authorized", detail: "moving \(name)'s offsets needs READ on \(refused)")
            }
            var offsets: [GroupCommit.Offset] = []
            do {
                for key in committed {
                    guard let topic = broker.topic(key.topic), topic.partitions.indices.contains(Int(key.partition)) else { continue }
                    let log = topic.partitions[Int(key.partition)]
                    let target: Int64
                    switch to {
                    case "earliest": target = log.logStartOffset
                    case "latest": target = log.highWatermark
                    default: target = try await log.offset(atOrAfterTimestamp: time ?? 0) ?? log.highWatermark
                    }
                    offsets.append(GroupCommit.Offset(topic: key.topic, partition: key.partition, offset: target, leaderEpoch: -1, metadata: nil))
                }
            } catch {
                return JSONResponse.problem(.serviceUnavailable, "cannot read the partitions' offsets", detail: "\(error)")
            }
            guard !offsets.isEmpty else {
                return JSONResponse.problem(.notFound, "the topics of \(name)'s committed offsets no longer exist")
            }
            switch await broker.groups.commit(GroupCommit(groupId: name, memberId: "", generation: -1, offsets: offsets)) {
            case nil: return JSONResponse.ok(await topicRoutes.json(group: name))
            case .offsetsUnavailable?: return JSONResponse.problem(.serviceUnavailable, "the offsets could not be stored")
            case let error?: return JSONResponse.problem(.conflict, "\(name) refused the reset", detail: "\(error) (did a consumer join?)")
            }
        }
    }
}
