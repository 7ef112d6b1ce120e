import Foundation

/// One consumer group under Kafka's classic group protocol (kafka-protocol.md §4; AK
/// `ClassicGroup`), as a state machine without I/O: every method takes the time and returns
/// what to answer now; requests that must wait (JoinGroup during a rebalance, SyncGroup before
/// the leader's) are answered later through the results of `completeJoinIfReady` and `tick`.
///
/// States: Empty → PreparingRebalance → CompletingRebalance → Stable (and back), plus Dead
/// after deletion. The generation increases each time a join phase completes.
struct ConsumerGroup: Sendable {
    enum State: String, Sendable {
        case empty = "Empty", preparingRebalance = "PreparingRebalance", completingRebalance = "CompletingRebalance"
        case stable = "Stable", dead = "Dead"
    }

    struct Member: Sendable {
        let id: String
        var instanceId: String?
        var clientId: String
        var sessionTimeoutMs: Int64
        var rebalanceTimeoutMs: Int64
        var protocols: [GroupProtocol]
        var lastSeen: Int64
        /// Sent JoinGroup in the current join phase and waits for its result.
        var awaitingJoin = false
        /// Sent SyncGroup in the current phase and waits for the leader's assignment.
        var awaitingSync = false
        var assignment: [UInt8] = []
    }

    /// Session timeouts outside this range are refused (Kafka's group.min/max.session.timeout.ms).
    static let sessionTimeoutRange: ClosedRange<Int64> = 6000...1_800_000

    let id: String
    let initialRebalanceDelayMs: Int64
    private(set) var state: State = .empty
    private(set) var generation: Int32 = 0 {
        didSet { assert(generation > oldValue, "a group's generation only grows (members fence old ones by it)") }
    }
    private(set) var protocolType: String?
    private(set) var protocolName: String?
    private(set) var leader: String?
    private(set) var members: [String: Member] = [:]
    /// Join order, for electing a new leader.
    private var order: [String] = []
    /// Member ids handed out with MEMBER_ID_REQUIRED (KIP-394) and their expiry.
    private var pending: [String: Int64] = [:]
    private var joinDeadline: Int64?
    private var initialDelayUntil: Int64?
    private var syncDeadline: Int64?

    init(id: String, initialRebalanceDelayMs: Int64) {
        self.id = id
        self.initialRebalanceDelayMs = initialRebalanceDelayMs
    }

    var isEmpty: Bool { members.isEmpty }
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used or expired.
    var hasPendingMembers: Bool { !pending.isEmpty }

    enum Outcome<Response> {
        case respond(Response)
        /// Answer later (the coordinator parks the request).
        case wait
    }

    // MARK: JoinGroup

    mutating func join(_ request: GroupJoin, now: Int64) -> Outcome<GroupJoinResult> {
        defer { checkInvariants() }
        func failure(_ error: GroupError) -> Outcome<GroupJoinResult> { .respond(.refused(error, memberId: request.memberId)) }
        guard state != .dead else { return failure(.unknownMemberId) }
        guard Self.sessionTimeoutRange.contains(request.sessionTimeoutMs) else { return failure(.invalidSessionTimeout) }
        guard !request.protocols.isEmpty, request.protocolType.isEmpty == false else { return failure(.inconsistentGroupProtocol) }
        if !members.isEmpty {
            let shared = Set(request.protocols.map(\.name)).intersection(commonProtocols())
            guard request.protocolType == protocolType, !shared.isEmpty else { return failure(.inconsistentGroupProtocol) }
        }
        var memberId = request.memberId
        if memberId.isEmpty {
            if let instance = request.instanceId, let existing = members.values.first(where: { $0.instanceId == instance }) {
                // Static membership (KIP-345): the new incarnation takes over the old member's
                // place; the old id is fenced from now on.
                memberId = instance + "-" + UUID().uuidString
                replace(existing.id, with: memberId)
            } else {
                memberId = (request.instanceId ?? request.clientId) + "-" + UUID().uuidString
                if request.acceptsMemberIdRequired && request.instanceId == nil {
                    pending[memberId] = now + request.sessionTimeoutMs
                    return .respond(.refused(.memberIdRequired, memberId: memberId))
                }
            }
        } else if members[memberId] == nil && pending[memberId] == nil {
            return failure(.unknownMemberId)
        }
        pending[memberId] = nil
        let previous = members[memberId]
        var member = previous ?? Member(id: memberId, instanceId: request.instanceId, clientId: request.clientId,
                                        sessionTimeoutMs: request.sessionTimeoutMs, rebalanceTimeoutMs: request.rebalanceTimeoutMs,
                                        protocols: request.protocols, lastSeen: now)
        if previous == nil { order.append(memberId) }
        let unchanged = previous?.protocols == request.protocols
        member.protocols = request.protocols
        member.sessionTimeoutMs = request.sessionTimeoutMs
        member.rebalanceTimeoutMs = request.rebalanceTimeoutMs
        member.lastSeen = now
        members[memberId] = member
        protocolType = request.protocolType
        if leader == nil { leader = memberId }

        switch state {
        case .stable where unchanged && memberId != leader, .completingRebalance where unchanged:
            // Nothing changed for this member: it gets the current generation again.
            return .respond(joinResponse(for: memberId))
        default:
            members[memberId]!.awaitingJoin = true
            prepareRebalance(now: now)
            return .wait
        }
    }

    private mutating func prepareRebalance(now: Int64) {
        guard state != .preparingRebalance else { return }
        if state == .empty && initialRebalanceDelayMs > 0 { initialDelayUntil = now + initialRebalanceDelayMs }
        state = .preparingRebalance
        joinDeadline = now + (members.values.map(\.rebalanceTimeoutMs).max() ?? 0)
        for id in members.keys { members[id]!.awaitingSync = false }
    }

    /// Ends the join phase when every member has rejoined (and the initial delay of a new group
    /// has passed) or the rebalance timeout expired. Returns the responses for parked joiners.
    mutating func completeJoinIfReady(now: Int64) -> [String: GroupJoinResult] {
        defer { checkInvariants() }
        guard state == .preparingRebalance else { return [:] }
        let everyoneJoined = members.values.allSatisfy(\.awaitingJoin) && pending.isEmpty
        let delayOver = initialDelayUntil.map { now >= $0 } ?? true
        let timedOut = joinDeadline.map { now >= $0 } ?? false
        guard (everyoneJoined && delayOver) || timedOut else { return [:] }
        // Members that did not rejoin in time leave the group.
        for (id, member) in members where !member.awaitingJoin { remove(id) }
        pending.removeAll()
        initialDelayUntil = nil
        joinDeadline = nil
        generation += 1
        guard !members.isEmpty else {
            state = .empty
            protocolName = nil
            leader = nil
            return [:]
        }
        protocolName = selectProtocol()
        if leader == nil || members[leader!] == nil { leader = order.first { members[$0] != nil } }
        state = .completingRebalance
        syncDeadline = now + (members.values.map(\.rebalanceTimeoutMs).max() ?? 0)
        var responses: [String: GroupJoinResult] = [:]
        for id in members.keys {
            members[id]!.awaitingJoin = false
            members[id]!.assignment = []
            responses[id] = joinResponse(for: id)
        }
        return responses
    }

    private func joinResponse(for memberId: String) -> GroupJoinResult {
        let name = protocolName ?? ""
        let everyone = memberId == leader
            ? order.compactMap { members[$0] }.map { member in
                GroupJoinResult.Member(memberId: member.id, instanceId: member.instanceId,
                                         metadata: member.protocols.first { $0.name == name }?.metadata ?? [])
            }
            : []
        return GroupJoinResult(generation: generation, protocolName: name, leader: leader ?? "", memberId: memberId, members: everyone)
    }

    private func commonProtocols() -> Set<String> {
        var common: Set<String>?
        for member in members.values {
            let names = Set(member.protocols.map(\.name))
            common = common.map { $0.intersection(names) } ?? names
        }
        return common ?? []
    }

    /// Each member votes for its first protocol that every member supports; most votes wins
    /// (AK `ClassicGroup.selectProtocol`), ties broken by name for determinism.
    private func selectProtocol() -> String {
        let candidates = commonProtocols()
        var votes: [String: Int] = [:]
        for member in members.values {
            if let choice = member.protocols.first(where: { candidates.contains($0.name) }) { votes[choice.name, default: 0] += 1 }
        }
        return votes.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key ?? ""
    }

    // MARK: SyncGroup

    /// The leader's assignments end the rebalance: every member waiting in SyncGroup gets its part.
    mutating func sync(memberId: String, generation requested: Int32, protocolType requestedType: String? = nil, protocolName requestedName: String? = nil,
                       assignments: [(memberId: String, assignment: [UInt8])],
                       now: Int64) -> (Outcome<GroupSyncResult>, released: [String: GroupSyncResult]) {
        guard let member = members[memberId] else { return (.respond(GroupSyncResult(error: .unknownMemberId)), [:]) }
        guard requested == generation else { return (.respond(GroupSyncResult(error: .illegalGeneration)), [:]) }
        // AK `isProtocolTypeAndNameValid`: checked after the member and its generation, and a
        // mismatch only when both sides name one.
        if let requestedType, let protocolType, requestedType != protocolType { return (.respond(GroupSyncResult(error: .inconsistentGroupProtocol)), [:]) }
        if let requestedName, let protocolName, requestedName != protocolName { return (.respond(GroupSyncResult(error: .inconsistentGroupProtocol)), [:]) }
        members[memberId]!.lastSeen = now
        func assigned(_ assignment: [UInt8]) -> GroupSyncResult {
            GroupSyncResult(assignment: assignment, protocolType: protocolType, protocolName: protocolName)
        }
        switch state {
        case .empty, .dead:
            return (.respond(GroupSyncResult(error: .unknownMemberId)), [:])
        case .preparingRebalance:
            return (.respond(GroupSyncResult(error: .rebalanceInProgress)), [:])
        case .stable:
            return (.respond(assigned(member.assignment)), [:])
        case .completingRebalance:
            members[memberId]!.awaitingSync = true
            guard memberId == leader else { return (.wait, [:]) }
            let byMember = Dictionary(assignments.map { ($0.memberId, $0.assignment) }, uniquingKeysWith: { first, _ in first })
            var released: [String: GroupSyncResult] = [:]
            for id in members.keys {
                members[id]!.assignment = byMember[id] ?? []
                if members[id]!.awaitingSync && id != memberId {
                    released[id] = assigned(members[id]!.assignment)
                }
                members[id]!.awaitingSync = false
            }
            state = .stable
            syncDeadline = nil
            return (.respond(assigned(members[memberId]!.assignment)), released)
        }
    }

    // MARK: Heartbeat, LeaveGroup, commits

    /// `nil`: the member is in the group's current generation and nothing is asked of it.
    mutating func heartbeat(memberId: String, generation requested: Int32, now: Int64) -> GroupError? {
        guard members[memberId] != nil else { return .unknownMemberId }
        members[memberId]!.lastSeen = now
        guard requested == generation else { return .illegalGeneration }
        switch state {
        case .preparingRebalance: return .rebalanceInProgress
        case .completingRebalance, .stable: return nil
        case .empty, .dead: return .unknownMemberId
        }
    }

    /// Removes a member; the others rebalance (or the group becomes Empty).
    mutating func leave(memberId: String, now: Int64) -> (GroupError?, [String: GroupJoinResult], [String: GroupSyncResult]) {
        defer { checkInvariants() }
        guard members[memberId] != nil || pending[memberId] != nil else { return (.unknownMemberId, [:], [:]) }
        pending[memberId] = nil
        remove(memberId)
        let (joins, syncs) = afterMembershipChange(now: now)
        return (nil, joins, syncs)
    }

    /// Who may commit offsets (AK `validateOffsetCommit`): members of the current generation,
    /// or anyone with generation -1 while the group has no members (manual assignment).
    func commitError(memberId: String, generation requested: Int32) -> GroupError? {
        if requested < 0 && memberId.isEmpty {
            return members.isEmpty ? nil : .unknownMemberId
        }
        guard members[memberId] != nil else { return requested < 0 && members.isEmpty ? nil : .unknownMemberId }
        guard requested == generation else { return .illegalGeneration }
        if state == .completingRebalance { return .rebalanceInProgress }
        return nil
    }

    mutating func touch(memberId: String, now: Int64) {
        members[memberId]?.lastSeen = now
    }

    mutating func markDead() {
        defer { checkInvariants() }
        state = .dead
        members.removeAll()
        order.removeAll()
        pending.removeAll()
    }

    // MARK: Timers

    /// Expires sessions, pending member ids and rebalance deadlines. Returns the parked
    /// requests this releases: join results, and sync errors for a rebalance that restarted.
    mutating func tick(now: Int64) -> (joins: [String: GroupJoinResult], syncs: [String: GroupSyncResult]) {
        defer { checkInvariants() }
        pending = pending.filter { $0.value > now }
        var changed = false
        for (id, member) in members where !member.awaitingJoin && !member.awaitingSync && member.lastSeen + member.sessionTimeoutMs < now {
            remove(id)
            changed = true
        }
        if state == .completingRebalance, let deadline = syncDeadline, now >= deadline {
            // The leader never sent its assignment: members that did not sync leave, the rest rejoin.
            for (id, member) in members where !member.awaitingSync { remove(id) }
            changed = true
        }
        if changed { return afterMembershipChange(now: now) }
        return (completeJoinIfReady(now: now), [:])
    }

    private mutating func afterMembershipChange(now: Int64) -> ([String: GroupJoinResult], [String: GroupSyncResult]) {
        var syncs: [String: GroupSyncResult] = [:]
        if state == .completingRebalance || state == .stable {
            // Members waiting in SyncGroup must rejoin: the rebalance starts over.
            for (id, member) in members where member.awaitingSync {
                syncs[id] = GroupSyncResult(error: .rebalanceInProgress)
                members[id]!.awaitingSync = false
            }
        }
        if members.isEmpty && state != .preparingRebalance {
            if state != .empty { generation += 1 }
            state = .empty
            leader = nil
            protocolName = nil
            return ([:], syncs)
        }
        prepareRebalance(now: now)
        return (completeJoinIfReady(now: now), syncs)
    }

    /// What holds between any two calls: the join order lists exactly the members, once each;
    /// a leader is a member; a dead group has none.
    private func checkInvariants() {
        assert(order.count == members.count && Set(order) == Set(members.keys), "join order \(order) is not the members \(members.keys.sorted())")
        assert(leader.map { members[$0] != nil } ?? true, "leader \(leader ?? "") is not a member")
        assert(state != .dead || members.isEmpty, "a dead group has members")
    }

    private mutating func remove(_ id: String) {
        members[id] = nil
        order.removeAll { $0 == id }
        if leader == id { leader = nil }
    }

    private mutating func replace(_ old: String, with new: String) {
        guard var member = members.removeValue(forKey: old) else { return }
        member = Member(id: new, instanceId: member.instanceId, clientId: member.clientId, sessionTimeoutMs: member.sessionTimeoutMs,
                        rebalanceTimeoutMs: member.rebalanceTimeoutMs, protocols: member.protocols, lastSeen: member.lastSeen,
                        awaitingJoin: member.awaitingJoin, awaitingSync: member.awaitingSync, assignment: member.assignment)
        members[new] = member
        order = order.map { $0 == old ? new : $0 }
        if leader == old { leader = new }
    }
}
