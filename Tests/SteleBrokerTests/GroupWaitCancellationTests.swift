import Foundation
import Testing
import SteleTestSupport
@testable import SteleBroker

/// A JoinGroup parked for the rebalance (up to the rebalance timeout: minutes) is answered at
/// once when its task is cancelled, so a stopping listener is not held by it.
struct GroupWaitCancellationTests {
    @Test func aCancelledParkedJoinIsAnsweredAtOnce() async throws {
        let directory = NSTemporaryDirectory() + "stele-groupwait-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = BrokerConfig(dataDirectory: directory)
        // The first join of a new group waits this long for others: ten minutes here.
        config.groupInitialRebalanceDelayMs = 600_000
        let broker = try await Broker.open(config)
        let join = Task {
            await broker.groups.join(GroupJoin(groupId: "g", memberId: "", clientId: "test", sessionTimeoutMs: 30_000,
                                               rebalanceTimeoutMs: 600_000, protocolType: "consumer",
                                               protocols: [GroupProtocol(name: "range", metadata: [])], acceptsMemberIdRequired: false))
        }
        try await waitUntil("the join to be parked") { await broker.groups.describe("g") != nil }
        join.cancel()
        let result = try await withHangLimit("the cancelled join's answer") { await join.value }
        #expect(result.error == .rebalanceInProgress, "\(result)")
        try await broker.close()
    }
}

/// KIP-394's two-step join survives the coordinator's ticks: the member id handed out with
/// MEMBER_ID_REQUIRED keeps its group, so the second JoinGroup is accepted however long the
/// client took to send it (under load a client slower than a tick never joined).
struct MemberIdRequiredTests {
    @Test func aPendingMemberIdOutlivesATick() async throws {
        let directory = NSTemporaryDirectory() + "stele-pending-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = BrokerConfig(dataDirectory: directory)
        config.groupInitialRebalanceDelayMs = 0
        let broker = try await Broker.open(config)
        func join(_ member: String) async -> GroupJoinResult {
            await broker.groups.join(GroupJoin(groupId: "g", memberId: member, clientId: "test", sessionTimeoutMs: 30_000,
                                               rebalanceTimeoutMs: 30_000, protocolType: "consumer",
                                               protocols: [GroupProtocol(name: "range", metadata: [])], acceptsMemberIdRequired: true))
        }
        let first = await join("")
        #expect(first.error == .memberIdRequired)
        await broker.groups.tick()
        let second = await join(first.memberId)
        #expect(second.error == nil, "\(second)")
        #expect(second.leader == first.memberId)
        try await broker.close()
    }
}
