import Foundation
import NIOCore
import Testing
import SteleBroker
import SteleKafkaProtocol
@testable import SteleServer

/// The flexible versions of the group and topic APIs over real sockets (issue 16): what each
/// newer version adds is answered as Kafka answers it — several coordinator keys, protocol
/// checks at SyncGroup, removal of a static member by its instance id, several groups' offsets
/// in one OffsetFetch and epoch-checked fetches from consumer-protocol members, ListGroups
/// filters, ConsumerGroupDescribe, DeleteTopics by id, CreateTopics answering with the topic.
@Suite("Flexible group and topic APIs")
struct FlexibleGroupApiTests {
    typealias Harness = KafkaServerTests.Harness
    typealias RawConnection = KafkaServerTests.RawConnection

    /// Sends one request and returns a decoder at the start of the response body.
    static func call(_ connection: RawConnection, _ api: ApiKey, _ version: Int16, _ body: (inout KafkaEncoder) -> Void) async throws -> KafkaDecoder {
        try await connection.send(RequestFrame.encode(api: api, version: version, correlationId: 11, clientId: "flexible-test", body: body))
        let frame = try #require(try await connection.receive())
        var decoder = KafkaDecoder(frame, flexible: api.isFlexible(version))
        #expect(try decoder.int32("correlation id") == 11)
        try decoder.taggedFields()
        return decoder
    }

    @Test func findCoordinatorV4AnswersEveryKey() async throws {
        let harness = try await Harness()
        let connection = try await RawConnection(port: harness.server.port)
        func find(_ type: Int8, _ keys: [String]) async throws -> [(key: String, node: Int32, error: Int16)] {
            var decoder = try await Self.call(connection, .findCoordinator, 4) { encoder in
                encoder.int8(type)
                encoder.array(keys) { $0.string($1) }
                encoder.taggedFields()
            }
            _ = try decoder.int32("throttle")
            let found = try decoder.array("coordinators") { decoder in
                let key = try decoder.string(), node = try decoder.int32()
                _ = try decoder.string(); _ = try decoder.int32()
                let error = try decoder.int16()
                _ = try decoder.nullableString()
                try decoder.taggedFields()
                return (key: key, node: node, error: error)
            }
            try decoder.taggedFields()
            #expect(decoder.remaining == 0)
            return found
        }
        let groups = try await find(0, ["a", "b"])
        #expect(groups.map(\.key) == ["a", "b"] && groups.allSatisfy { $0.error == 0 && $0.node == 0 })
        // Key type 1: this node coordinates transactional ids too.
        #expect(try await find(1, ["tx"]).map { [$0.error, Int16($0.node)] } == [[0, 0]])
        #expect(try await find(7, ["x"]).map(\.error) == [KafkaErrorCode.invalidRequest.rawValue])
        try await harness.stop()
    }

    /// JoinGroup v7 → SyncGroup v5 → Heartbeat v4 for a static member, then an administrator's
    /// LeaveGroup v5 naming the instance only, and ListGroups v5 filtering.
    @Test func aStaticMemberThroughTheFlexibleVersions() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("t")
        let connection = try await RawConnection(port: harness.server.port)
        func join() async throws -> (error: Int16, generation: Int32, type: String?, name: String?, member: String) {
            var decoder = try await Self.call(connection, .joinGroup, 7) { encoder in
                encoder.string("g"); encoder.int32(30_000); encoder.int32(30_000); encoder.string("")
                encoder.nullableString("instance-1"); encoder.string("consumer")
                encoder.array(["range"]) { encoder, name in encoder.string(name); encoder.nullableBytes([0, 1]); encoder.taggedFields() }
                encoder.taggedFields()
            }
            _ = try decoder.int32("throttle")
            let error = try decoder.int16(), generation = try decoder.int32()
            let type = try decoder.nullableString(), name = try decoder.nullableString()
            _ = try decoder.string("leader")
            let member = try decoder.string()
            _ = try decoder.array("members") { _ = try $0.string(); _ = try $0.nullableString(); _ = try $0.bytes(); try $0.taggedFields() }
            try decoder.taggedFields()
            #expect(decoder.remaining == 0)
            return (error, generation, type, name, member)
        }
        let joined = try await join()
        #expect(joined.error == 0 && joined.type == "consumer" && joined.name == "range")

        func sync(name: String?, generation: Int32? = nil) async throws -> (error: Int16, type: String?, name: String?) {
            var decoder = try await Self.call(connection, .syncGroup, 5) { encoder in
                encoder.string("g"); encoder.int32(generation ?? joined.generation); encoder.string(joined.member); encoder.nullableString("instance-1")
                encoder.nullableString("consumer"); encoder.nullableString(name)
                encoder.array([joined.member]) { encoder, member in encoder.string(member); encoder.nullableBytes([9]); encoder.taggedFields() }
                encoder.taggedFields()
            }
            _ = try decoder.int32("throttle")
            let result = (error: try decoder.int16(), type: try decoder.nullableString(), name: try decoder.nullableString())
            _ = try decoder.bytes(); try decoder.taggedFields()
            return result
        }
        // A member naming another protocol than the group's, or none at v5, is refused, as in
        // Kafka; the generation is checked first.
        #expect(try await sync(name: "roundrobin").error == KafkaErrorCode.inconsistentGroupProtocol.rawValue)
        #expect(try await sync(name: nil).error == KafkaErrorCode.inconsistentGroupProtocol.rawValue)
        #expect(try await sync(name: "roundrobin", generation: joined.generation + 5).error == KafkaErrorCode.illegalGeneration.rawValue)
        let synced = try await sync(name: "range")
        #expect(synced.error == 0 && synced.type == "consumer" && synced.name == "range")

        var heartbeat = try await Self.call(connection, .heartbeat, 4) { encoder in
            encoder.string("g"); encoder.int32(joined.generation); encoder.string(joined.member); encoder.nullableString("instance-1"); encoder.taggedFields()
        }
        _ = try heartbeat.int32("throttle")
        #expect(try heartbeat.int16() == 0)

        func list(states: [String], types: [String] = []) async throws -> [(id: String, state: String, type: String)] {
            var decoder = try await Self.call(connection, .listGroups, 5) { encoder in
                encoder.array(states) { $0.string($1) }; encoder.array(types) { $0.string($1) }; encoder.taggedFields()
            }
            _ = try decoder.int32("throttle"); #expect(try decoder.int16() == 0)
            return try decoder.array("groups") { decoder in
                let id = try decoder.string(); _ = try decoder.string()
                let listed = (id: id, state: try decoder.string(), type: try decoder.string())
                try decoder.taggedFields()
                return listed
            }
        }
        #expect(try await list(states: ["STABLE"]).map(\.id) == ["g"])
        #expect(try await list(states: [], types: ["consumer"]).isEmpty)
        #expect(try await list(states: [], types: ["classic"]).map { "\($0.id) \($0.state) \($0.type)" } == ["g Stable classic"])

        func leave(_ member: String, _ instance: String?) async throws -> Int16 {
            var decoder = try await Self.call(connection, .leaveGroup, 5) { encoder in
                encoder.string("g")
                encoder.array([(member, instance)]) { encoder, identity in
                    encoder.string(identity.0); encoder.nullableString(identity.1); encoder.nullableString("test"); encoder.taggedFields()
                }
                encoder.taggedFields()
            }
            _ = try decoder.int32("throttle"); #expect(try decoder.int16() == 0)
            let errors = try decoder.array("members") { decoder in
                _ = try decoder.string(); _ = try decoder.nullableString()
                let error = try decoder.int16(); try decoder.taggedFields()
                return error
            }
            return errors.first ?? -1
        }
        // A member id that is not the instance's current one is fenced; an unknown instance is
        // unknown; the instance alone removes its member.
        #expect(try await leave("someone-else", "instance-1") == KafkaErrorCode.fencedInstanceId.rawValue)
        #expect(try await leave("", "instance-2") == KafkaErrorCode.unknownMemberId.rawValue)
        #expect(try await leave("", "instance-1") == 0)
        // The group is Empty now; without committed offsets the coordinator drops it at its next
        // tick (every 100 ms), so it is listed as Empty or no longer at all.
        let empty = try await list(states: ["empty"]).map(\.id)
        let all = try await list(states: []).map(\.id)
        #expect(empty == ["g"] || (empty.isEmpty && all.isEmpty), "listed: \(empty), \(all)")
        #expect(await harness.broker.groups.describe("g")?.members.isEmpty ?? true)
        try await harness.stop()
    }

    /// OffsetFetch v8 answers several groups in one request; v9 checks a consumer-protocol
    /// member's epoch; ConsumerGroupDescribe shows that member, and refuses classic groups.
    @Test func offsetsOfSeveralGroupsAndConsumerProtocolMembers() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("t", partitions: 2)
        let connection = try await RawConnection(port: harness.server.port)
        for (group, offset) in [("g1", Int64(5)), ("g2", Int64(7))] {
            var decoder = try await Self.call(connection, .offsetCommit, 8) { encoder in
                encoder.string(group); encoder.int32(-1); encoder.string(""); encoder.nullableString(nil)
                encoder.array(["t"]) { encoder, topic in
                    encoder.string(topic)
                    encoder.array([Int32(0)]) { encoder, partition in
                        encoder.int32(partition); encoder.int64(offset); encoder.int32(-1); encoder.nullableString(nil); encoder.taggedFields()
                    }
                    encoder.taggedFields()
                }
                encoder.taggedFields()
            }
            _ = try decoder.int32("throttle")
            let errors = try decoder.array("topics") { decoder in
                _ = try decoder.string()
                let errors = try decoder.array("partitions") { decoder in _ = try decoder.int32(); let e = try decoder.int16(); try decoder.taggedFields(); return e }
                try decoder.taggedFields()
                return errors
            }
            #expect(errors == [[0]])
        }
        // A consumer-protocol group with one member at epoch 1.
        let member = await harness.broker.groups.consumerHeartbeat(
            ConsumerHeartbeat(groupId: "k", memberId: "m1", memberEpoch: 0, clientId: "c", rebalanceTimeoutMs: 30_000, subscribedTopicNames: ["t"]),
            partitionCounts: harness.broker.partitionCounts)
        #expect(member.error == nil && member.memberEpoch == 1)

        func fetch(_ groups: [(id: String, member: String?, epoch: Int32)]) async throws -> [String: (error: Int16, offsets: [Int64])] {
            var decoder = try await Self.call(connection, .offsetFetch, 9) { encoder in
                encoder.array(groups) { encoder, group in
                    encoder.string(group.id); encoder.nullableString(group.member); encoder.int32(group.epoch)
                    encoder.array(nil as [String]?) { $0.string($1) }
                    encoder.taggedFields()
                }
                encoder.bool(true)
                encoder.taggedFields()
            }
            _ = try decoder.int32("throttle")
            var answers: [String: (error: Int16, offsets: [Int64])] = [:]
            _ = try decoder.array("groups") { decoder in
                let id = try decoder.string()
                let offsets = try decoder.array("topics") { decoder in
                    _ = try decoder.string()
                    let offsets = try decoder.array("partitions") { decoder in
                        _ = try decoder.int32(); let offset = try decoder.int64(); _ = try decoder.int32(); _ = try decoder.nullableString()
                        _ = try decoder.int16(); try decoder.taggedFields()
                        return offset
                    }
                    try decoder.taggedFields()
                    return offsets
                }.flatMap { $0 }
                answers[id] = (try decoder.int16(), offsets)
                try decoder.taggedFields()
            }
            try decoder.taggedFields()
            #expect(decoder.remaining == 0)
            return answers
        }
        let both = try await fetch([("g1", nil, -1), ("g2", nil, -1)])
        #expect(both["g1"]?.offsets == [5] && both["g2"]?.offsets == [7] && both.values.allSatisfy { $0.error == 0 })
        // Any epoch but the member's is stale (AK `validateOffsetFetch`); only a request naming
        // neither member nor epoch goes unchecked.
        #expect(try await fetch([("k", "m1", 0)])["k"]?.error == KafkaErrorCode.staleMemberEpoch.rawValue)
        #expect(try await fetch([("k", "m1", 2)])["k"]?.error == KafkaErrorCode.staleMemberEpoch.rawValue)
        #expect(try await fetch([("k", "stranger", 1)])["k"]?.error == KafkaErrorCode.unknownMemberId.rawValue)
        #expect(try await fetch([("k", nil, 1)])["k"]?.error == KafkaErrorCode.unknownMemberId.rawValue)
        #expect(try await fetch([("k", "", -1)])["k"]?.error == KafkaErrorCode.unknownMemberId.rawValue)
        #expect(try await fetch([("k", nil, -1)])["k"]?.error == 0)
        #expect(try await fetch([("k", "m1", 1)])["k"]?.error == 0)

        var decoder = try await Self.call(connection, .consumerGroupDescribe, 0) { encoder in
            ConsumerGroupDescribeRequest(groupIds: ["k", "g1", "nobody"]).encode(&encoder, version: 0)
        }
        let described = try ConsumerGroupDescribeResponse.decode(&decoder, version: 0)
        #expect(decoder.remaining == 0)
        let id = withUnsafeBytes(of: try #require(harness.broker.topic("t")?.config.topicId).uuid) { Array($0) }
        let k = try #require(described.groups.first)
        #expect(k.errorCode == .none && k.state == "Stable" && k.groupEpoch == 1 && k.assignmentEpoch == 1 && k.assignorName == "uniform")
        #expect(k.members.map(\.memberId) == ["m1"] && k.members[0].memberEpoch == 1 && k.members[0].subscribedTopicNames == ["t"])
        #expect(k.members[0].assignment == [.init(topicId: id, topicName: "t", partitions: [0, 1])])
        #expect(k.members[0].targetAssignment == k.members[0].assignment)
        #expect(described.groups.dropFirst().map(\.errorCode) == [.groupIdNotFound, .groupIdNotFound])

        // An administrator removes the member (LeaveGroup v5, as AK's classic leave of a
        // consumer-protocol member); it is gone from the group.
        var leave = try await Self.call(connection, .leaveGroup, 5) { encoder in
            encoder.string("k")
            encoder.array(["m1"]) { encoder, id in encoder.string(id); encoder.nullableString(nil); encoder.nullableString(nil); encoder.taggedFields() }
            encoder.taggedFields()
        }
        _ = try leave.int32("throttle"); #expect(try leave.int16() == 0)
        let left = try leave.array("members") { decoder in
            _ = try decoder.string(); _ = try decoder.nullableString(); let error = try decoder.int16(); try decoder.taggedFields(); return error
        }
        #expect(left == [0])
        // Gone from the group (and the empty group itself may be dropped at the next tick).
        #expect(await harness.broker.groups.describeConsumerGroup("k")?.members.isEmpty ?? true)
        try await harness.stop()
    }

    @Test func deleteTopicsV6NamesTopicsByNameOrId() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("a")
        try await harness.broker.createTopic("b")
        let connection = try await RawConnection(port: harness.server.port)
        let idOfA = withUnsafeBytes(of: try #require(harness.broker.topic("a")?.config.topicId).uuid) { Array($0) }
        let zero = [UInt8](repeating: 0, count: 16)
        func delete(_ topics: [(String?, [UInt8])]) async throws -> [(name: String?, id: [UInt8], error: Int16, message: String?)] {
            var decoder = try await Self.call(connection, .deleteTopics, 6) { encoder in
                encoder.array(topics) { encoder, topic in encoder.nullableString(topic.0); encoder.uuid(topic.1); encoder.taggedFields() }
                encoder.int32(30_000)
                encoder.taggedFields()
            }
            _ = try decoder.int32("throttle")
            return try decoder.array("responses") { decoder in
                let result = (name: try decoder.nullableString(), id: try decoder.uuid(), error: try decoder.int16(), message: try decoder.nullableString())
                try decoder.taggedFields()
                return result
            }
        }
        // A name and an id together (as Kafka refuses), an unknown id and neither: refused,
        // nothing deleted.
        let refused = try await delete([("a", idOfA), (nil, [UInt8](repeating: 9, count: 16)), (nil, zero)])
        #expect(refused.map(\.error) == [KafkaErrorCode.invalidRequest.rawValue, KafkaErrorCode.unknownTopicId.rawValue, KafkaErrorCode.invalidRequest.rawValue])
        #expect(harness.broker.topic("a") != nil && harness.broker.topic("b") != nil)
        let deleted = try await delete([(nil, idOfA), ("b", zero)])
        #expect(deleted.map(\.error) == [0, 0] && deleted[0].name == "a" && deleted[0].id == idOfA)
        #expect(harness.broker.topic("a") == nil && harness.broker.topic("b") == nil)
        #expect(try await delete([("b", zero)]).map(\.error) == [KafkaErrorCode.unknownTopicOrPartition.rawValue])
        try await harness.stop()
    }

    @Test func createTopicsV7AnswersWithTheTopic() async throws {
        let harness = try await Harness()
        let connection = try await RawConnection(port: harness.server.port)
        func create(_ name: String, validateOnly: Bool) async throws -> CreateTopicsResponse.Result {
            var decoder = try await Self.call(connection, .createTopics, 7) { encoder in
                encoder.array([name]) { encoder, name in
                    encoder.string(name); encoder.int32(3); encoder.int16(-1)
                    encoder.array([Int32]()) { $0.int32($1) }
                    encoder.array([("retention.ms", "1000")]) { encoder, config in
                        encoder.string(config.0); encoder.nullableString(config.1); encoder.taggedFields()
                    }
                    encoder.taggedFields()
                }
                encoder.int32(30_000); encoder.bool(validateOnly)
                encoder.taggedFields()
            }
            _ = try decoder.int32("throttle")
            let results = try decoder.array("topics") { decoder in
                var result = CreateTopicsResponse.Result(name: try decoder.string(), topicId: try decoder.uuid(),
                                                         errorCode: KafkaErrorCode(rawValue: try decoder.int16()) ?? .unknownServerError,
                                                         message: try decoder.nullableString())
                result.partitions = try decoder.int32()
                result.replicationFactor = try decoder.int16()
                result.configs = try decoder.nullableArray("configs") { decoder in
                    let config = DescribeConfigsResponse.Config(name: try decoder.string(), value: try decoder.nullableString(), readOnly: try decoder.bool(),
                                                                source: try decoder.int8(), isSensitive: try decoder.bool())
                    try decoder.taggedFields()
                    return config
                }
                try decoder.taggedFields()
                return result
            }
            try decoder.taggedFields()
            #expect(decoder.remaining == 0)
            return try #require(results.first)
        }
        let checked = try await create("v7", validateOnly: true)
        #expect(checked.errorCode == .none && checked.partitions == 3 && checked.topicId == [UInt8](repeating: 0, count: 16))
        #expect(harness.broker.topic("v7") == nil)
        let created = try await create("v7", validateOnly: false)
        let id = withUnsafeBytes(of: try #require(harness.broker.topic("v7")?.config.topicId).uuid) { Array($0) }
        #expect(created.errorCode == .none && created.topicId == id && created.partitions == 3 && created.replicationFactor == 1)
        // retention.ms as set on the topic (source 1, DYNAMIC_TOPIC_CONFIG), the rest from defaults.
        let retention = created.configs?.first { $0.name == "retention.ms" }
        #expect(retention?.value == "1000" && retention?.source == 1)
        let again = try await create("v7", validateOnly: false)
        #expect(again.errorCode == .topicAlreadyExists && again.partitions == -1 && again.configs == nil)
        try await harness.stop()
    }

    /// OffsetCommit v0 (no generation, no member) and v1 (with a commit time), and OffsetFetch
    /// v0: the versions of clients pinned to Kafka 0.8, kept in the one offset store and read
    /// back by any version.
    @Test func zooKeeperEraOffsetVersionsUseTheOneStore() async throws {
        let harness = try await Harness()
        try await harness.broker.createTopic("old", partitions: 2)
        let connection = try await RawConnection(port: harness.server.port)
        for (version, partition, offset) in [(Int16(0), Int32(0), Int64(3)), (Int16(1), Int32(1), Int64(4))] {
            var decoder = try await Self.call(connection, .offsetCommit, version) { encoder in
                encoder.string("zk")
                if version == 1 { encoder.int32(-1); encoder.string("") }
                encoder.array(["old"]) { encoder, topic in
                    encoder.string(topic)
                    encoder.array([partition]) { encoder, partition in
                        encoder.int32(partition); encoder.int64(offset)
                        if version == 1 { encoder.int64(-1) }
                        encoder.nullableString("m")
                    }
                }
            }
            let errors = try decoder.array("topics") { decoder in
                _ = try decoder.string()
                return try decoder.array("partitions") { decoder in _ = try decoder.int32(); return try decoder.int16() }
            }
            #expect(errors == [[0]] && decoder.remaining == 0, "OffsetCommit v\(version)")
        }
        var decoder = try await Self.call(connection, .offsetFetch, 0) { encoder in
            encoder.string("zk")
            encoder.array(["old"]) { encoder, topic in encoder.string(topic); encoder.array([Int32(0), 1]) { $0.int32($1) } }
        }
        let offsets = try decoder.array("topics") { decoder in
            _ = try decoder.string()
            return try decoder.array("partitions") { decoder in
                _ = try decoder.int32(); let offset = try decoder.int64(); _ = try decoder.nullableString(); #expect(try decoder.int16() == 0)
                return offset
            }
        }
        #expect(offsets == [[3, 4]] && decoder.remaining == 0)
        let committed = await harness.broker.groups.committed(group: "zk")
        #expect(committed.count == 2)
        try await harness.stop()
    }
}
