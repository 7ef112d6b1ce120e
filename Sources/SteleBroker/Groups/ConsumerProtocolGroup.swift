/// One consumer group under the consumer protocol of KIP-848 (Kafka 4.0; AK `ConsumerGroup` and
/// `CurrentAssignmentBuilder`), as a state machine without I/O: each heartbeat takes the time and
/// the topics' partition counts, and returns the answer.
///
/// Epochs: the *group epoch* grows with every change of membership, subscriptions or subscribed
/// topics' partitions; the *target assignment* is computed for it by the group's
/// ``ServerAssignor``; each member then moves to it on its own: first it gives up the partitions
/// it must lose (the answer assigns only what it keeps and the member's epoch stays), and once it
/// reports them released it takes the target's epoch and every new partition no other member
/// still owns. No partition is ever owned by two members (``checkInvariants()``).
struct ConsumerProtocolGroup: Sendable {
    enum MemberState: String, Sendable {
        /// At its epoch's assignment.
        case stable = "STABLE"
        /// Must release partitions before it moves on.
        case unrevokedPartitions = "UNREVOKED_PARTITIONS"
        /// At the target's epoch, waiting for partitions other members still own.
        case unreleasedPartitions = "UNRELEASED_PARTITIONS"
    }

    struct Member: Sendable {
        let id: String
        var instanceId: String?
        var rackId: String?
        var clientId: String
        var epoch: Int32 = 0
        var previousEpoch: Int32 = -1
        var state: MemberState = .stable
        var subscribedNames: Set<String> = []
        var subscribedRegex: String?
        var serverAssignor: ServerAssignor?
        var rebalanceTimeoutMs: Int64
        var sessionDeadline: Int64
        /// Set while partitions are pending revocation: past it the member is fenced.
        var revocationDeadline: Int64?
        /// The partitions the member may consume.
        var assigned: Set<TopicPartition> = []
        /// The partitions it must give up before it moves on.
        var pendingRevocation: Set<TopicPartition> = []
        /// A static member that left with epoch -2: its partitions wait for its instance to come back.
        var departed = false
    }

    let id: String
    let sessionTimeoutMs: Int64
    let heartbeatIntervalMs: Int32
    private(set) var groupEpoch: Int32 = 0
    private(set) var assignmentEpoch: Int32 = 0
    private(set) var members: [String: Member] = [:]
    private(set) var target: [String: Set<TopicPartition>] = [:]
    /// The subscribed topics' partition counts the target was computed from.
    private var subscribedPartitionCounts: [String: Int32] = [:]
    /// Each member pattern compiled once, with the topics it was matched against: a name is
    /// matched once per pattern, not at every heartbeat (a pattern may cost 5,000 steps per
    /// character). Only the patterns members hold now are kept.
    private var patterns: [String: (regex: TopicRegex, matches: [String: Bool])] = [:]

    init(id: String, sessionTimeoutMs: Int64, heartbeatIntervalMs: Int32) {
        (self.id, self.sessionTimeoutMs, self.heartbeatIntervalMs) = (id, sessionTimeoutMs, heartbeatIntervalMs)
    }

    var isEmpty: Bool { members.isEmpty }

    /// Kafka's group states for this protocol, as DescribeGroups and ListGroups show them.
    var stateName: String {
        if members.isEmpty { return "Empty" }
        if assignmentEpoch < groupEpoch { return "Assigning" }
        if members.values.contains(where: { $0.epoch != assignmentEpoch || $0.state != .stable }) { return "Reconciling" }
        return "Stable"
    }

    /// The assignor most members ask for (Kafka's rule), else ``ServerAssignor/uniform``.
    var assignor: ServerAssignor {
        let votes = Dictionary(grouping: members.values.compactMap(\.serverAssignor), by: { $0 }).mapValues(\.count)
        return votes.max { ($0.value, $1.key.rawValue) < ($1.value, $0.key.rawValue) }?.key ?? .uniform
    }

    // MARK: Heartbeat

    /// Answers one heartbeat. `newMemberId` names a member joining under v0 without an id;
    /// `partitionCounts` are every topic's partition counts now.
    mutating func heartbeat(_ request: ConsumerHeartbeat, newMemberId: String, partitionCounts: [String: Int32], now: Int64) -> ConsumerHeartbeatResult {
        defer { checkInvariants() }
        func refuse(_ error: GroupError) -> ConsumerHeartbeatResult {
            ConsumerHeartbeatResult(error: error, memberId: request.memberId, memberEpoch: -1, heartbeatIntervalMs: heartbeatIntervalMs)
        }
        var assignor: ServerAssignor?
        if let name = request.serverAssignor {
            guard let known = ServerAssignor(rawValue: name) else { return refuse(.unsupportedAssignor) }
            assignor = known
        }
        if let regex = request.subscribedTopicRegex {
            do { _ = try TopicRegex(regex) } catch {
                return refuse(.invalidRequest("SubscribedTopicRegex \(regex) is not a regular expression: \(error)"))
            }
        }

        switch request.memberEpoch {
        case -1:
            guard members[request.memberId] != nil else { return refuse(.unknownMemberId) }
            remove(request.memberId)
            return ConsumerHeartbeatResult(memberId: request.memberId, memberEpoch: -1, heartbeatIntervalMs: 0)
        case -2:
            guard var member = members[request.memberId] else { return refuse(.unknownMemberId) }
            guard member.instanceId != nil else { return refuse(.invalidRequest("MemberEpoch -2 is for static members (an InstanceId)")) }
            member.departed = true
            member.sessionDeadline = now + sessionTimeoutMs
            members[request.memberId] = member
            return ConsumerHeartbeatResult(memberId: request.memberId, memberEpoch: -2, heartbeatIntervalMs: 0)
        case 0:
            guard request.rebalanceTimeoutMs >= 0 else { return refuse(.invalidRequest("RebalanceTimeoutMs must be given when joining")) }
            guard request.subscribedTopicNames != nil || request.subscribedTopicRegex != nil else {
                return refuse(.invalidRequest("SubscribedTopicNames or SubscribedTopicRegex must be given when joining"))
            }
            let memberId = request.memberId.isEmpty ? newMemberId : request.memberId
            if let instance = request.instanceId, let holder = members.values.first(where: { $0.instanceId == instance && $0.id != memberId }) {
                guard holder.departed else { return refuse(.unreleasedInstanceId) }
                // The static member came back under a new id: it takes over its partitions and epoch.
                members[holder.id] = nil
                members[memberId] = Member(replacing: holder, id: memberId)
                target[memberId] = target.removeValue(forKey: holder.id)
            } else {
                // A member joining again with an id it had starts over: what it held is released.
                if members[memberId] != nil { remove(memberId) }
                members[memberId] = Member(id: memberId, instanceId: request.instanceId, clientId: request.clientId,
                                           rebalanceTimeoutMs: Int64(request.rebalanceTimeoutMs), sessionDeadline: now + sessionTimeoutMs)
                return heartbeat(known: memberId, request, assignor: assignor, partitionCounts: partitionCounts, now: now, full: true, joined: true)
            }
            return heartbeat(known: memberId, request, assignor: assignor, partitionCounts: partitionCounts, now: now, full: true)
        default:
            guard let member = members[request.memberId], !member.departed else { return refuse(.unknownMemberId) }
            if request.memberEpoch > member.epoch { return refuse(.fencedMemberEpoch) }
            if request.memberEpoch < member.epoch {
                // The member missed the answer that moved it to its epoch: it may carry on if it
                // owns nothing beyond what it was given then.
                guard request.memberEpoch == member.previousEpoch, let owned = request.ownedPartitions, owned.isSubset(of: member.assigned) else {
                    return refuse(.fencedMemberEpoch)
                }
            }
            let full = request.rebalanceTimeoutMs >= 0 && request.subscribedTopicNames != nil && request.ownedPartitions != nil
            return heartbeat(known: request.memberId, request, assignor: assignor, partitionCounts: partitionCounts, now: now, full: full)
        }
    }

    /// One heartbeat of a known member: its changes bump the group epoch once (a new member too,
    /// when `joined`), then the member moves toward the target.
    private mutating func heartbeat(known memberId: String, _ request: ConsumerHeartbeat, assignor: ServerAssignor?,
                                    partitionCounts: [String: Int32], now: Int64, full: Bool, joined: Bool = false) -> ConsumerHeartbeatResult {
        var member = members[memberId]!
        var changed = joined
        let before = member.assigned
        member.sessionDeadline = now + sessionTimeoutMs
        if let instance = request.instanceId { member.instanceId = instance }
        if let rack = request.rackId { member.rackId = rack }
        if !request.clientId.isEmpty { member.clientId = request.clientId }
        if request.rebalanceTimeoutMs >= 0 { member.rebalanceTimeoutMs = Int64(request.rebalanceTimeoutMs) }
        if let assignor, assignor != member.serverAssignor {
            member.serverAssignor = assignor
            changed = true
        }
        if let names = request.subscribedTopicNames, Set(names) != member.subscribedNames {
            member.subscribedNames = Set(names)
            changed = true
        }
        if let regex = request.subscribedTopicRegex {
            let value = regex.isEmpty ? nil : regex
            if value != member.subscribedRegex {
                member.subscribedRegex = value
                changed = true
            }
        }
        members[memberId] = member
        refreshTarget(partitionCounts: partitionCounts, membershipChanged: changed)
        reconcile(memberId, owned: request.ownedPartitions, now: now)
        member = members[memberId]!
        let moved = member.assigned != before
        return ConsumerHeartbeatResult(memberId: memberId, memberEpoch: member.epoch, heartbeatIntervalMs: heartbeatIntervalMs,
                                       assignment: full || moved ? member.assigned : nil)
    }

    // MARK: Target assignment

    /// The topics a member subscribes to, among those that exist.
    private mutating func subscription(of member: Member, partitionCounts: [String: Int32]) -> Set<String> {
        var topics = member.subscribedNames.filter { partitionCounts[$0] != nil }
        guard let pattern = member.subscribedRegex else { return topics }
        if patterns[pattern] == nil {
            guard let regex = try? TopicRegex(pattern) else { return topics }
            patterns[pattern] = (regex, [:])
        }
        // Internal topics (`__…`) are never matched by a pattern, as in Kafka.
        for topic in partitionCounts.keys where !topic.hasPrefix("__") {
            if let known = patterns[pattern]!.matches[topic] {
                if known { topics.insert(topic) }
                continue
            }
            let matched = patterns[pattern]!.regex.wholeMatch(topic)
            patterns[pattern]!.matches[topic] = matched
            if matched { topics.insert(topic) }
        }
        return topics
    }

    /// Bumps the group epoch when members or subscriptions changed or a subscribed topic
    /// appeared, vanished or grew, and computes the target assignment when the group epoch is
    /// ahead of it.
    private mutating func refreshTarget(partitionCounts: [String: Int32], membershipChanged: Bool) {
        // A departed static member keeps its share until its session ends.
        let held = Set(members.values.compactMap(\.subscribedRegex))
        patterns = patterns.filter { held.contains($0.key) }
        if patterns.values.contains(where: { $0.matches.count > partitionCounts.count }) {
            for pattern in patterns.keys { patterns[pattern]!.matches = patterns[pattern]!.matches.filter { partitionCounts[$0.key] != nil } }
        }
        var subscriptions: [String: Set<String>] = [:]
        for member in members.values { subscriptions[member.id] = subscription(of: member, partitionCounts: partitionCounts) }
        let subscribed = subscriptions.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let counts = partitionCounts.filter { subscribed.contains($0.key) }
        if counts != subscribedPartitionCounts || membershipChanged {
            subscribedPartitionCounts = counts
            groupEpoch += 1
        }
        guard assignmentEpoch < groupEpoch else { return }
        target = assignor.assign(subscriptions: subscriptions, partitionCounts: counts, previous: target)
        assignmentEpoch = groupEpoch
    }

    // MARK: Reconciliation (AK CurrentAssignmentBuilder)

    private mutating func reconcile(_ memberId: String, owned: Set<TopicPartition>?, now: Int64) {
        var member = members[memberId]!
        switch member.state {
        case .stable where member.epoch == assignmentEpoch:
            return
        case .unrevokedPartitions:
            // It moves on once it reports owning none of what it had to give up.
            guard let owned, owned.isDisjoint(with: member.pendingRevocation) else { return }
            member.pendingRevocation = []
        case .stable, .unreleasedPartitions:
            break
        }
        let goal = target[memberId] ?? []
        let kept = member.assigned.intersection(goal)
        let revoked = member.assigned.subtracting(goal)
        if !revoked.isEmpty {
            member.state = .unrevokedPartitions
            member.assigned = kept
            member.pendingRevocation = revoked
            member.revocationDeadline = now + member.rebalanceTimeoutMs
        } else {
            let owners = ownership(except: memberId)
            let unreleased = goal.subtracting(kept).filter { owners.contains($0) }
            member.assigned = goal.subtracting(unreleased)
            if member.epoch != assignmentEpoch {
                member.previousEpoch = member.epoch
                member.epoch = assignmentEpoch
            }
            member.state = unreleased.isEmpty ? .stable : .unreleasedPartitions
            member.revocationDeadline = nil
        }
        members[memberId] = member
    }

    /// Partitions some member other than `memberId` still owns (assigned or not yet released).
    private func ownership(except memberId: String) -> Set<TopicPartition> {
        members.values.filter { $0.id != memberId }.reduce(into: Set<TopicPartition>()) {
            $0.formUnion($1.assigned)
            $0.formUnion($1.pendingRevocation)
        }
    }

    // MARK: Leaving and timeouts

    /// Removes a member on an administrator's LeaveGroup (KIP-345 by instance id, as AK
    /// `classicGroupLeaveToConsumerGroup`): a member id, when given, must be the instance's.
    mutating func removeMember(memberId: String, instanceId: String?) -> GroupError? {
        defer { checkInvariants() }
        var id = memberId
        if let instanceId {
            guard let current = members.values.first(where: { $0.instanceId == instanceId })?.id else { return .unknownMemberId }
            guard memberId.isEmpty || memberId == current else { return .fencedInstanceId }
            id = current
        }
        guard members[id] != nil else { return .unknownMemberId }
        remove(id)
        return nil
    }

    /// An OffsetFetch v9 from a member (AK `ConsumerGroup.validateOffsetFetch`): any epoch other
    /// than the member's is stale.
    func validateOffsetFetch(memberId: String, epoch: Int32) -> GroupError? {
        guard let member = members[memberId], !member.departed else { return .unknownMemberId }
        return epoch == member.epoch ? nil : .staleMemberEpoch
    }

    private mutating func remove(_ memberId: String) {
        members[memberId] = nil
        target[memberId] = nil
        groupEpoch += 1
    }

    /// Fences members whose session expired (no heartbeat within the session timeout) and members
    /// that did not release partitions within their rebalance timeout. Returns their ids.
    mutating func tick(now: Int64) -> [String] {
        defer { checkInvariants() }
        let expired = members.values.filter { member in
            member.sessionDeadline < now || (member.revocationDeadline.map { $0 < now } ?? false)
        }.map(\.id)
        for id in expired { remove(id) }
        return expired
    }

    /// Whether a commit or an offset fetch from this member at this epoch may go ahead (AK
    /// `ConsumerGroup.validateMemberEpoch`): an epoch from the future is fenced, an old one stale
    /// (the client refreshes its epoch by a heartbeat and tries again).
    func validate(memberId: String, epoch: Int32) -> GroupError? {
        guard let member = members[memberId], !member.departed else { return .unknownMemberId }
        if epoch > member.epoch { return .fencedMemberEpoch }
        if epoch < member.epoch { return .staleMemberEpoch }
        return nil
    }

    func checkInvariants() {
        #if DEBUG
        var seen = Set<TopicPartition>()
        for member in members.values {
            for partition in member.assigned.union(member.pendingRevocation) {
                assert(seen.insert(partition).inserted, "\(partition) owned by two members of \(id)")
            }
            assert(member.epoch <= groupEpoch, "a member ahead of its group")
            assert(member.pendingRevocation.isEmpty || member.state == .unrevokedPartitions, "partitions pending revocation outside UNREVOKED")
        }
        assert(assignmentEpoch <= groupEpoch, "a target assignment ahead of its group")
        #endif
    }
}

extension ConsumerProtocolGroup.Member {
    init(id: String, instanceId: String?, clientId: String, rebalanceTimeoutMs: Int64, sessionDeadline: Int64) {
        self.id = id
        self.instanceId = instanceId
        self.clientId = clientId
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.sessionDeadline = sessionDeadline
    }

    /// A static member's new incarnation: the same partitions, epoch and subscription under a new id.
    init(replacing old: Self, id: String) {
        self.init(id: id, instanceId: old.instanceId, clientId: old.clientId, rebalanceTimeoutMs: old.rebalanceTimeoutMs,
                    sessionDeadline: old.sessionDeadline)
        (epoch, previousEpoch, state, subscribedNames, subscribedRegex) = (old.epoch, old.previousEpoch, old.state, old.subscribedNames, old.subscribedRegex)
        (serverAssignor, revocationDeadline, assigned, pendingRevocation, rackId) = (old.serverAssignor, old.revocationDeadline, old.assigned, old.pendingRevocation, old.rackId)
    }
}
