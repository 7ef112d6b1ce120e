import Foundation
import SteleCore
import Testing
@testable import SteleBroker

/// The consumer protocol (KIP-848) driven by hand, with time passed in: joins, revocations
/// before reassignment, leaves, fencing by session and rebalance timeouts, static members, regex
/// subscriptions, the assignors, and a seeded simulation of many members coming and going.
@Suite("Consumer protocol group (KIP-848)")
struct ConsumerProtocolGroupTests {
    static let topics: [String: Int32] = ["orders": 6]

    static func group(session: Int64 = 45_000) -> ConsumerProtocolGroup {
        ConsumerProtocolGroup(id: "g", sessionTimeoutMs: session, heartbeatIntervalMs: 5_000)
    }

    static func join(_ member: String, topics: [String] = ["orders"], regex: String? = nil, instance: String? = nil,
                     assignor: String? = nil, rebalance: Int32 = 30_000) -> ConsumerHeartbeat {
        ConsumerHeartbeat(groupId: "g", memberId: member, memberEpoch: 0, instanceId: instance, rebalanceTimeoutMs: rebalance,
                          subscribedTopicNames: regex == nil ? topics : nil, subscribedTopicRegex: regex, serverAssignor: assignor,
                          ownedPartitions: [])
    }

    static func beat(_ member: String, epoch: Int32, owned: Set<TopicPartition>? = nil) -> ConsumerHeartbeat {
        ConsumerHeartbeat(groupId: "g", memberId: member, memberEpoch: epoch, ownedPartitions: owned)
    }

    static func partitions(_ numbers: [Int32], of topic: String = "orders") -> Set<TopicPartition> {
        Set(numbers.map { TopicPartition(topic: topic, partition: $0) })
    }

    @Test func aLoneMemberGetsEveryPartitionAtTheFirstEpoch() {
        var group = Self.group()
        let joined = group.heartbeat(Self.join("a"), newMemberId: "unused", partitionCounts: Self.topics, now: 0)
        #expect(joined.error == nil && joined.memberId == "a" && joined.memberEpoch == 1)
        #expect(joined.assignment == Self.partitions([0, 1, 2, 3, 4, 5]))
        // Nothing changed: the next heartbeat carries no assignment.
        let next = group.heartbeat(Self.beat("a", epoch: 1), newMemberId: "", partitionCounts: Self.topics, now: 10)
        #expect(next.error == nil && next.memberEpoch == 1 && next.assignment == nil)
        #expect(group.stateName == "Stable")
    }

    @Test func v0JoinsAreNamedByTheCoordinator() {
        var group = Self.group()
        let joined = group.heartbeat(Self.join(""), newMemberId: "named", partitionCounts: Self.topics, now: 0)
        #expect(joined.memberId == "named" && group.members["named"] != nil)
    }

    @Test func aPartitionMovesOnlyAfterItsOwnerReleasedIt() {
        var group = Self.group()
        _ = group.heartbeat(Self.join("a"), newMemberId: "", partitionCounts: Self.topics, now: 0)
        // b joins: epoch 2's target splits the six partitions, but a still owns them all.
        let b = group.heartbeat(Self.join("b"), newMemberId: "", partitionCounts: Self.topics, now: 1)
        #expect(b.memberEpoch == 2 && b.assignment == [])
        #expect(group.stateName == "Reconciling")
        // a is told to keep three: its epoch stays 1 until it reports the others released.
        let aRevoking = group.heartbeat(Self.beat("a", epoch: 1), newMemberId: "", partitionCounts: Self.topics, now: 2)
        #expect(aRevoking.memberEpoch == 1 && aRevoking.assignment?.count == 3)
        let kept = aRevoking.assignment!
        // b asks again before a released anything: still nothing for b.
        #expect(group.heartbeat(Self.beat("b", epoch: 2), newMemberId: "", partitionCounts: Self.topics, now: 3).assignment == nil)
        // a reports owning what it kept: it moves to epoch 2.
        let aMoved = group.heartbeat(Self.beat("a", epoch: 1, owned: kept), newMemberId: "", partitionCounts: Self.topics, now: 4)
        #expect(aMoved.memberEpoch == 2 && aMoved.error == nil)
        // Now b gets the other three.
        let bGets = group.heartbeat(Self.beat("b", epoch: 2), newMemberId: "", partitionCounts: Self.topics, now: 5)
        #expect(bGets.assignment == Self.partitions([0, 1, 2, 3, 4, 5]).subtracting(kept))
        #expect(group.stateName == "Stable")
    }

    @Test func aLeavingMembersPartitionsGoToTheOthers() {
        var group = Self.group()
        _ = group.heartbeat(Self.join("a"), newMemberId: "", partitionCounts: Self.topics, now: 0)
        _ = group.heartbeat(Self.join("b"), newMemberId: "", partitionCounts: Self.topics, now: 0)
        let kept = group.heartbeat(Self.beat("a", epoch: 1), newMemberId: "", partitionCounts: Self.topics, now: 1).assignment!
        _ = group.heartbeat(Self.beat("a", epoch: 1, owned: kept), newMemberId: "", partitionCounts: Self.topics, now: 2)
        let left = group.heartbeat(Self.beat("b", epoch: -1), newMemberId: "", partitionCounts: Self.topics, now: 3)
        #expect(left.memberEpoch == -1 && left.error == nil && group.members["b"] == nil)
        let all = group.heartbeat(Self.beat("a", epoch: 2), newMemberId: "", partitionCounts: Self.topics, now: 4)
        #expect(all.memberEpoch == 3 && all.assignment == Self.partitions([0, 1, 2, 3, 4, 5]))
        // A heartbeat from the member that left: unknown.
        #expect(group.heartbeat(Self.beat("b", epoch: 2), newMemberId: "", partitionCounts: Self.topics, now: 5).error == .unknownMemberId)
    }

    @Test func aSilentMemberIsFencedAfterItsSession() {
        var group = Self.group(session: 1_000)
        _ = group.heartbeat(Self.join("a"), newMemberId: "", partitionCounts: Self.topics, now: 0)
        #expect(group.tick(now: 1_000).isEmpty)
        #expect(group.tick(now: 1_001) == ["a"])
        #expect(group.isEmpty)
        #expect(group.heartbeat(Self.beat("a", epoch: 1), newMemberId: "", partitionCounts: Self.topics, now: 1_002).error == .unknownMemberId)
    }

    @Test func aMemberThatNeverRevokesIsFencedAfterItsRebalanceTimeout() {
        var group = Self.group()
        _ = group.heartbeat(Self.join("a", rebalance: 500), newMemberId: "", partitionCounts: Self.topics, now: 0)
        _ = group.heartbeat(Self.join("b"), newMemberId: "", partitionCounts: Self.topics, now: 0)
        // a hears it must give up three partitions at t=10, and keeps heartbeating without doing so.
        _ = group.heartbeat(Self.beat("a", epoch: 1), newMemberId: "", partitionCounts: Self.topics, now: 10)
        _ = group.heartbeat(Self.beat("a", epoch: 1, owned: Self.partitions([0, 1, 2, 3, 4, 5])), newMemberId: "", partitionCounts: Self.topics, now: 400)
        #expect(group.tick(now: 510).isEmpty)
        #expect(group.tick(now: 511) == ["a"])
        let b = group.heartbeat(Self.beat("b", epoch: 2), newMemberId: "", partitionCounts: Self.topics, now: 512)
        #expect(b.assignment == Self.partitions([0, 1, 2, 3, 4, 5]))
    }

    @Test func epochsFromTheFutureAreFencedAndAMissedAnswerIsForgiven() {
        var group = Self.group()
        _ = group.heartbeat(Self.join("a"), newMemberId: "", partitionCounts: Self.topics, now: 0)
        #expect(group.heartbeat(Self.beat("a", epoch: 7), newMemberId: "", partitionCounts: Self.topics, now: 1).error == .fencedMemberEpoch)
        // The topic grows: a moves to epoch 2; the answer is lost, a heartbeats at epoch 1 owning
        // what it had: accepted. Owning something it was never given: fenced.
        let grown = ["orders": Int32(8)]
        #expect(group.heartbeat(Self.beat("a", epoch: 1), newMemberId: "", partitionCounts: grown, now: 2).memberEpoch == 2)
        #expect(group.heartbeat(Self.beat("a", epoch: 1, owned: Self.partitions([0, 1])), newMemberId: "", partitionCounts: grown, now: 3).error == nil)
        let stranger = Self.partitions([0]).union([TopicPartition(topic: "other", partition: 0)])
        #expect(group.heartbeat(Self.beat("a", epoch: 1, owned: stranger), newMemberId: "", partitionCounts: grown, now: 4).error == .fencedMemberEpoch)
        // Commits: the current epoch passes, an older one is stale, a future one fenced.
        #expect(group.validate(memberId: "a", epoch: 2) == nil)
        #expect(group.validate(memberId: "a", epoch: 1) == .staleMemberEpoch)
        #expect(group.validate(memberId: "a", epoch: 3) == .fencedMemberEpoch)
        #expect(group.validate(memberId: "zz", epoch: 2) == .unknownMemberId)
    }

    @Test func badJoinsAreRefusedAndChangeNothing() {
        var group = Self.group()
        #expect(group.heartbeat(Self.join("a", assignor: "sticky-ish"), newMemberId: "", partitionCounts: Self.topics, now: 0).error == .unsupportedAssignor)
        #expect(group.heartbeat(Self.join("a", regex: "orders("), newMemberId: "", partitionCounts: Self.topics, now: 0).error
            == .invalidRequest("SubscribedTopicRegex orders( is not a regular expression: missing ) at offset 7"))
        var noSubscription = Self.join("a")
        noSubscription.subscribedTopicNames = nil
        if case .invalidRequest? = group.heartbeat(noSubscription, newMemberId: "", partitionCounts: Self.topics, now: 0).error {} else {
            Issue.record("a join without a subscription must be refused")
        }
        #expect(group.isEmpty && group.groupEpoch == 0)
    }

    @Test func aStaticMemberComingBackKeepsItsPartitions() {
        var group = Self.group(session: 1_000)
        _ = group.heartbeat(Self.join("a1", instance: "host-a"), newMemberId: "", partitionCounts: Self.topics, now: 0)
        _ = group.heartbeat(Self.join("b", instance: "host-b"), newMemberId: "", partitionCounts: Self.topics, now: 0)
        let kept = group.heartbeat(Self.beat("a1", epoch: 1), newMemberId: "", partitionCounts: Self.topics, now: 1).assignment!
        _ = group.heartbeat(Self.beat("a1", epoch: 1, owned: kept), newMemberId: "", partitionCounts: Self.topics, now: 2)
        // Another process claiming host-a while a1 lives is refused.
        #expect(group.heartbeat(Self.join("a2", instance: "host-a"), newMemberId: "", partitionCounts: Self.topics, now: 3).error == .unreleasedInstanceId)
        // a1 restarts: leaves with -2, comes back as a2 with the same partitions and no rebalance.
        #expect(group.heartbeat(Self.beat("a1", epoch: -2), newMemberId: "", partitionCounts: Self.topics, now: 4).memberEpoch == -2)
        let epoch = group.groupEpoch
        let back = group.heartbeat(Self.join("a2", instance: "host-a"), newMemberId: "", partitionCounts: Self.topics, now: 5)
        #expect(back.error == nil && back.assignment == kept && back.memberEpoch == 2 && group.groupEpoch == epoch)
        #expect(group.members["a1"] == nil)
    }

    @Test func aRegexSubscriptionFollowsNewTopicsButNotInternalOnes() {
        var group = Self.group()
        let first = group.heartbeat(Self.join("a", regex: "orders-.*"), newMemberId: "",
                                    partitionCounts: ["orders-eu": 2, "payments": 3, "__internal-orders-x": 1], now: 0)
        #expect(first.assignment == Self.partitions([0, 1], of: "orders-eu"))
        let grown = group.heartbeat(Self.beat("a", epoch: first.memberEpoch), newMemberId: "",
                                    partitionCounts: ["orders-eu": 2, "orders-us": 1, "payments": 3], now: 1)
        #expect(grown.memberEpoch == first.memberEpoch + 1)
        #expect(grown.assignment == Self.partitions([0, 1], of: "orders-eu").union(Self.partitions([0], of: "orders-us")))
    }

    /// A client chooses the pattern: one that makes a backtracking engine take exponential time
    /// against a long name is matched in linear time, and the coordinator goes on.
    @Test func aPatternChosenToBacktrackDoesNotStopTheCoordinator() {
        var group = Self.group()
        let long = String(repeating: "a", count: 240) + "c"
        let joined = group.heartbeat(Self.join("a", regex: "(a|aa)+c?|orders"), newMemberId: "",
                                     partitionCounts: [long: 1, "orders": 2, String(repeating: "a", count: 240) + "d": 1], now: 0)
        #expect(joined.assignment == Self.partitions([0, 1], of: "orders").union(Self.partitions([0], of: long)))
    }

    @Test func theAssignorsBalanceAndUniformKeepsWhatItCan() {
        let counts: [String: Int32] = ["a": 5, "b": 1, "c": 1, "d": 1]
        let everyone = Set(counts.keys)
        let subscriptions = ["m1": everyone, "m2": everyone, "m3": everyone]
        let first = ServerAssignor.uniform.assign(subscriptions: subscriptions, partitionCounts: counts, previous: [:])
        let sizes = first.values.map(\.count).sorted()
        #expect(sizes.last! - sizes.first! <= 1 && sizes.reduce(0, +) == 8)
        // A fourth member: the others keep everything they still may hold.
        let second = ServerAssignor.uniform.assign(subscriptions: subscriptions.merging(["m4": everyone]) { $1 }, partitionCounts: counts, previous: first)
        let moved = first.reduce(0) { $0 + $1.value.subtracting(second[$1.key]!).count }
        #expect(moved == 2 && second["m4"]!.count == 2 && second.values.allSatisfy { $0.count == 2 })
        // Different subscriptions: balanced topic by topic.
        let mixed = ServerAssignor.uniform.assign(subscriptions: ["m1": ["a"], "m2": ["a", "b"]], partitionCounts: counts, previous: [:])
        #expect(mixed["m1"]!.count + mixed["m2"]!.count == 6 && mixed["m2"]!.contains(TopicPartition(topic: "b", partition: 0)))
        let ranges = ServerAssignor.range.assign(subscriptions: ["x": ["a"], "y": ["a"]], partitionCounts: ["a": 5], previous: [:])
        #expect(ranges["x"] == Self.partitions([0, 1, 2], of: "a") && ranges["y"] == Self.partitions([3, 4], of: "a"))
    }

    /// Honest clients (they release at once what they are told to drop) joining, leaving, dying
    /// and heartbeating in a seeded random order while topics grow: the state machine's
    /// invariants hold at every step (it asserts them), and once everyone heartbeats the group
    /// settles with every subscribed partition owned by exactly one member, balanced.
    @Test(arguments: 0..<40)
    func aSeededCrowdSettles(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var group = Self.group(session: 10_000)
        var counts: [String: Int32] = ["t1": 4, "t2": 3]
        var clients: [String: (epoch: Int32, owned: Set<TopicPartition>)] = [:]
        var now: Int64 = 0
        var next = 0

        func beat(_ id: String) {
            guard let client = clients[id] else { return }
            let answer = group.heartbeat(Self.beat(id, epoch: client.epoch, owned: client.owned), newMemberId: "", partitionCounts: counts, now: now)
            if answer.error != nil { clients[id] = nil; return }
            clients[id] = (answer.memberEpoch, answer.assignment ?? client.owned)
        }

        for _ in 0..<200 {
            now += Int64(random.next() % 2_000)
            switch random.next() % 10 {
            case 0, 1:
                next += 1
                let id = "m\(next)"
                let answer = group.heartbeat(Self.join(id, topics: ["t1", "t2"]), newMemberId: "", partitionCounts: counts, now: now)
                if answer.error == nil { clients[id] = (answer.memberEpoch, answer.assignment ?? []) }
            case 2 where !clients.isEmpty:
                let id = clients.keys.sorted()[Int(random.next() % UInt64(clients.count))]
                _ = group.heartbeat(Self.beat(id, epoch: -1), newMemberId: "", partitionCounts: counts, now: now)
                clients[id] = nil
            case 3:
                for id in group.tick(now: now) { clients[id] = nil }
            case 4:
                counts["t\(1 + random.next() % 2)", default: 1] += 1
            default:
                for id in clients.keys.sorted() where random.next() % 2 == 0 { beat(id) }
            }
        }
        // Settle: everyone heartbeats until nothing moves.
        for _ in 0..<10 { for id in clients.keys.sorted() { beat(id) } }
        let owned = clients.values.flatMap(\.owned)
        #expect(owned.count == Set(owned).count, "a partition owned twice (seed \(seed))")
        if !clients.isEmpty {
            let expected = Set(counts.flatMap { topic, count in (0..<count).map { TopicPartition(topic: topic, partition: $0) } })
            #expect(Set(owned) == expected, "seed \(seed)")
            #expect(group.stateName == "Stable", "seed \(seed)")
            #expect(Set(clients.values.map(\.epoch)) == [group.groupEpoch], "seed \(seed)")
            let sizes = clients.values.map(\.owned.count)
            #expect(sizes.max()! - sizes.min()! <= 1, "seed \(seed): \(sizes)")
        }
    }
}

/// The coordinator with a real broker: a group id is on one protocol at a time, commits carry the
/// member epoch, and tools see the group.
struct ConsumerProtocolCoordinatorTests {
    @Test func aGroupIsClassicOrConsumerAndCommitsCarryTheEpoch() async throws {
        let directory = NSTemporaryDirectory() + "stele-kip848-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = BrokerConfig(dataDirectory: directory)
        config.groupInitialRebalanceDelayMs = 0
        let broker = try await Broker.open(config)
        try await broker.createTopic("orders", partitions: 2)
        let groups = broker.groups
        let joined = await groups.consumerHeartbeat(ConsumerProtocolGroupTests.join("a"), partitionCounts: broker.partitionCounts)
        #expect(joined.error == nil && joined.memberEpoch == 1 && joined.assignment?.count == 2)

        // A classic member may not join it, nor may a consumer-protocol member join a classic group.
        let classic = await groups.join(GroupJoin(groupId: "g", memberId: "", clientId: "old", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
                                                  protocolType: "consumer", protocols: [GroupProtocol(name: "range", metadata: [])],
                                                  acceptsMemberIdRequired: false))
        #expect(classic.error == .inconsistentGroupProtocol)

        // Commits: the member at its epoch, yes; at another epoch or from outside the group, no.
        let offset = GroupCommit.Offset(topic: "orders", partition: 0, offset: 5, leaderEpoch: -1, metadata: nil)
        #expect(await groups.commit(GroupCommit(groupId: "g", memberId: "a", generation: 1, offsets: [offset])) == nil)
        #expect(await groups.commit(GroupCommit(groupId: "g", memberId: "a", generation: 0, offsets: [offset])) == .staleMemberEpoch)
        #expect(await groups.commit(GroupCommit(groupId: "g", memberId: "", generation: -1, offsets: [offset])) == .unknownMemberId)
        #expect(await groups.validateOffsetFetch(group: "g", memberId: "a", epoch: 2) == .staleMemberEpoch, "any epoch but the member's is stale for a fetch (AK validateOffsetFetch)")
        #expect(await groups.validateOffsetFetch(group: "g", memberId: nil, epoch: -1) == nil)

        // Tools: listed as a consumer group, described with its member's partitions; not deletable while it has members.
        #expect(await groups.listGroups().contains { $0.groupId == "g" && $0.protocolType == "consumer" })
        let described = try #require(await groups.describe("g"))
        #expect(described.state == "Stable" && described.protocolName == "uniform" && described.members.map(\.memberId) == ["a"])
        #expect(await groups.deleteGroups(["g"]).first?.error == .nonEmptyGroup)

        // Once the member leaves, the group is empty: a classic member may take the id, offsets stay.
        _ = await groups.consumerHeartbeat(ConsumerProtocolGroupTests.beat("a", epoch: -1), partitionCounts: broker.partitionCounts)
        #expect(await groups.committed(group: "g").values.map(\.offset) == [5])
        let other = await groups.consumerHeartbeat(ConsumerHeartbeat(groupId: "", memberId: "x", memberEpoch: 0), partitionCounts: [:])
        #expect(other.error == .invalidGroupId)
        try await broker.close()
    }
}
