import Testing
@testable import SteleBroker

/// The group state machine driven by hand, with time passed in (no clocks, no sockets).
@Suite("Consumer group state machine")
struct ConsumerGroupTests {
    /// A JoinGroup; `knowsMemberIdRequired` false is a client older than KIP-394 (JoinGroup v0–3).
    static func join(_ member: String = "", session: Int64 = 10_000, rebalance: Int64 = 30_000, protocols: [String] = ["range"],
                     instance: String? = nil, knowsMemberIdRequired: Bool = true) -> GroupJoin {
        GroupJoin(groupId: "g", memberId: member, instanceId: instance, clientId: "c", sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance,
                  protocolType: "consumer", protocols: protocols.map { GroupProtocol(name: $0, metadata: Array($0.utf8)) },
                  acceptsMemberIdRequired: knowsMemberIdRequired)
    }

    /// Joins through KIP-394: the first JoinGroup gets MEMBER_ID_REQUIRED and an id to come back with.
    static func newMember(_ group: inout ConsumerGroup, now: Int64, protocols: [String] = ["range"]) -> String {
        guard case let .respond(required) = group.join(join(protocols: protocols), now: now) else {
            Issue.record("expected MEMBER_ID_REQUIRED")
            return ""
        }
        #expect(required.error == .memberIdRequired)
        guard case .wait = group.join(join(required.memberId, protocols: protocols), now: now) else {
            Issue.record("a known member's join waits for the rebalance")
            return required.memberId
        }
        return required.memberId
    }

    @Test func firstMemberBecomesLeaderAndGetsTheMemberList() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 0)
        let a = Self.newMember(&group, now: 0)
        let joined = group.completeJoinIfReady(now: 0)
        #expect(joined[a]?.generation == 1 && joined[a]?.leader == a && joined[a]?.members.map(\.memberId) == [a])
        #expect(group.state == .completingRebalance)
        let (outcome, _) = group.sync(memberId: a, generation: 1, assignments: [(a, [1, 2])], now: 1)
        guard case let .respond(sync) = outcome else { Issue.record("leader's sync answers at once"); return }
        #expect(sync.assignment == [1, 2] && group.state == .stable)
        #expect(group.heartbeat(memberId: a, generation: 1, now: 2) == nil)
    }

    @Test func aSecondMemberTriggersARebalanceAndFollowersWaitForTheLeadersAssignment() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 0)
        let a = Self.newMember(&group, now: 0)
        _ = group.completeJoinIfReady(now: 0)
        _ = group.sync(memberId: a, generation: 1, assignments: [(a, [1])], now: 0)
        let b = Self.newMember(&group, now: 10)
        #expect(group.state == .preparingRebalance)
        #expect(group.heartbeat(memberId: a, generation: 1, now: 11) == .rebalanceInProgress, "a's heartbeat tells it to rejoin")
        #expect(group.completeJoinIfReady(now: 11).isEmpty, "still waiting for a")
        guard case .wait = group.join(Self.join(a), now: 12) else { Issue.record("rejoin waits"); return }
        let joined = group.completeJoinIfReady(now: 12)
        #expect(Set(joined.keys) == [a, b] && joined[a]?.generation == 2)
        #expect(joined[a]?.members.count == 2 && joined[b]?.members.isEmpty == true, "only the leader gets the members")
        let (follower, _) = group.sync(memberId: b, generation: 2, assignments: [], now: 13)
        guard case .wait = follower else { Issue.record("a follower waits for the leader"); return }
        let (leader, released) = group.sync(memberId: a, generation: 2, assignments: [(a, [1]), (b, [2])], now: 14)
        guard case let .respond(own) = leader else { Issue.record("the leader is answered"); return }
        #expect(own.assignment == [1] && released[b]?.assignment == [2])
        #expect(group.sync(memberId: b, generation: 1, assignments: [], now: 15).0.isError(.illegalGeneration))
    }

    @Test func membersThatMissTheirSessionAreRemoved() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 0)
        let a = Self.newMember(&group, now: 0)
        _ = group.completeJoinIfReady(now: 0)
        _ = group.sync(memberId: a, generation: 1, assignments: [], now: 0)
        _ = group.tick(now: 5_000)
        #expect(group.state == .stable)
        _ = group.tick(now: 10_001)
        #expect(group.state == .empty && group.isEmpty && group.generation == 2)
        #expect(group.heartbeat(memberId: a, generation: 1, now: 10_002) == .unknownMemberId)
    }

    @Test func theJoinPhaseEndsAtTheRebalanceTimeoutWithoutLaggards() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 0)
        let a = Self.newMember(&group, now: 0)
        let b = Self.newMember(&group, now: 0)
        _ = group.completeJoinIfReady(now: 0)
        _ = group.sync(memberId: a, generation: 1, assignments: [], now: 0)
        _ = group.leave(memberId: b, now: 1)
        #expect(group.state == .preparingRebalance)
        let released = group.tick(now: 30_002).joins
        #expect(released.isEmpty && group.isEmpty, "a never rejoined, so it is gone too")
    }

    @Test func anInitialDelayGathersMembersOfANewGroup() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 3000)
        let a = Self.newMember(&group, now: 0)
        #expect(group.completeJoinIfReady(now: 1000).isEmpty)
        let b = Self.newMember(&group, now: 2000)
        let joined = group.completeJoinIfReady(now: 3000)
        #expect(Set(joined.keys) == [a, b])
    }

    @Test func protocolsAreChosenByVoteAmongThoseEveryoneSupports() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 0)
        let a = Self.newMember(&group, now: 0, protocols: ["cooperative-sticky", "range"])
        _ = Self.newMember(&group, now: 0, protocols: ["range", "cooperative-sticky"])
        _ = Self.newMember(&group, now: 0, protocols: ["range"])
        #expect(group.completeJoinIfReady(now: 0)[a]?.protocolName == "range")
        let stranger = group.join(Self.join(protocols: ["roundrobin"]), now: 1)
        #expect(stranger.isError(.inconsistentGroupProtocol))
    }

    @Test func badJoinsAreRefused() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 0)
        #expect(group.join(Self.join(session: 100), now: 0).isError(.invalidSessionTimeout))
        #expect(group.join(Self.join("nobody"), now: 0).isError(.unknownMemberId))
        // Before v4 a member is added at once, without MEMBER_ID_REQUIRED.
        guard case .wait = group.join(Self.join(knowsMemberIdRequired: false), now: 0) else { Issue.record("v3 joins directly"); return }
    }

    @Test func aStaticMemberRestartingTakesOverItsPlace() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 0)
        guard case .wait = group.join(Self.join(instance: "pod-1"), now: 0) else { Issue.record("static members join directly"); return }
        let first = group.completeJoinIfReady(now: 0).keys.first!
        _ = group.sync(memberId: first, generation: 1, assignments: [], now: 0)
        guard case .wait = group.join(Self.join(instance: "pod-1"), now: 5) else { Issue.record("rejoin waits"); return }
        #expect(group.heartbeat(memberId: first, generation: 1, now: 6) == .unknownMemberId, "the old incarnation is fenced")
        #expect(group.members.count == 1)
    }

    @Test func commitsFromManualAssignmentNeedAnEmptyGroup() {
        var group = ConsumerGroup(id: "g", initialRebalanceDelayMs: 0)
        #expect(group.commitError(memberId: "", generation: -1) == nil)
        let a = Self.newMember(&group, now: 0)
        #expect(group.commitError(memberId: "", generation: -1) == .unknownMemberId)
        _ = group.completeJoinIfReady(now: 0)
        #expect(group.commitError(memberId: a, generation: 1) == .rebalanceInProgress)
        _ = group.sync(memberId: a, generation: 1, assignments: [], now: 0)
        #expect(group.commitError(memberId: a, generation: 1) == nil)
        #expect(group.commitError(memberId: a, generation: 7) == .illegalGeneration)
    }
}

extension ConsumerGroup.Outcome {
    func isError(_ error: GroupError) -> Bool {
        switch self {
        case let .respond(response as GroupJoinResult): response.error == error
        case let .respond(response as GroupSyncResult): response.error == error
        default: false
        }
    }
}
