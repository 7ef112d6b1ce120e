import Foundation
import SteleLog

/// Runs every consumer group of the broker (Stele is the coordinator of all of them): parks
/// JoinGroup and SyncGroup requests until their group's state machine releases them, drives
/// timeouts with a ticker, and stores committed offsets in the `OffsetStore`.
public actor GroupCoordinator {
    private var groups: [String: ConsumerGroup] = [:]
    /// Groups on the consumer protocol (KIP-848). A group id is in at most one of the two maps
    /// with members.
    private var consumerGroups: [String: ConsumerProtocolGroup] = [:]
    private let consumerSessionTimeoutMs: Int64
    private let consumerHeartbeatIntervalMs: Int32
    private var joinWaiters: [String: [String: CheckedContinuation<GroupJoinResult, Never>]] = [:]
    private var syncWaiters: [String: [String: CheckedContinuation<GroupSyncResult, Never>]] = [:]
    public let offsets: OffsetStore
    private let clock: @Sendable () -> Int64
    private let initialRebalanceDelayMs: Int64
    private var ticker: Task<Void, Never>?

    /// How often session and rebalance timeouts are checked.
    static let tickInterval: Duration = .milliseconds(100)

    public init(offsets: OffsetStore, initialRebalanceDelayMs: Int64, consumerSessionTimeoutMs: Int64 = 45_000,
                consumerHeartbeatIntervalMs: Int32 = 5_000, clock: @escaping @Sendable () -> Int64 = wallClockMilliseconds) {
        self.offsets = offsets
        self.initialRebalanceDelayMs = initialRebalanceDelayMs
        self.consumerSessionTimeoutMs = consumerSessionTimeoutMs
        self.consumerHeartbeatIntervalMs = consumerHeartbeatIntervalMs
        self.clock = clock
    }

    public func start() {
        ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.tickInterval)
                await self?.tick()
            }
        }
    }

    public func stop() {
        ticker?.cancel()
    }

    private func group(_ id: String) -> ConsumerGroup {
        groups[id] ?? ConsumerGroup(id: id, initialRebalanceDelayMs: initialRebalanceDelayMs)
    }

    public func join(_ request: GroupJoin) async -> GroupJoinResult {
        guard !request.groupId.isEmpty else { return .refused(.invalidGroupId, memberId: request.memberId) }
        // A group on the consumer protocol takes no classic members (Kafka's upgrade policy
        // "disabled"): the member learns its group.protocol disagrees with the others'.
        if consumerGroups[request.groupId]?.isEmpty == false { return .refused(.inconsistentGroupProtocol, memberId: request.memberId) }
        // Changed in place, never copied out and back: a copy would copy the group's members
        // and pending ids at every join (a client adding pending ids made that quadratic).
        if groups[request.groupId] == nil { groups[request.groupId] = group(request.groupId) }
        let outcome = groups[request.groupId]!.join(request, now: clock())
        switch outcome {
        case let .respond(response):
            return response
        case .wait:
            let memberId = request.memberId.isEmpty ? newestMember(of: request.groupId) : request.memberId
            // A parked join waits up to the rebalance timeout (minutes); a cancelled one (its
            // connection's listener is stopping) is answered at once.
            return await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    // A member re-sending JoinGroup replaces its earlier parked request.
                    joinWaiters[request.groupId, default: [:]].updateValue(continuation, forKey: memberId)?
                        .resume(returning: .refused(.rebalanceInProgress, memberId: memberId))
                    release(request.groupId, joins: groups[request.groupId]!.completeJoinIfReady(now: clock()), syncs: [:])
                }
            } onCancel: {
                Task { await self.cancelJoinWait(group: request.groupId, memberId: memberId) }
            }
        }
    }

    private func cancelJoinWait(group groupId: String, memberId: String) {
        joinWaiters[groupId]?.removeValue(forKey: memberId)?.resume(returning: .refused(.rebalanceInProgress, memberId: memberId))
    }

    private func cancelSyncWait(group groupId: String, memberId: String) {
        syncWaiters[groupId]?.removeValue(forKey: memberId)?.resume(returning: GroupSyncResult(error: .rebalanceInProgress))
    }

    /// The member a v0–3 join (or a static member) just added under a fresh id.
    private func newestMember(of groupId: String) -> String {
        let waiting = Set(joinWaiters[groupId]?.keys.map { $0 } ?? [])
        return groups[groupId]?.members.values.first { $0.awaitingJoin && !waiting.contains($0.id) }?.id ?? ""
    }

    /// The member's SyncGroup: the leader brings `assignments` (member id → its part).
    /// `protocolType` and `protocolName` (SyncGroup v5) must be the group's when given.
    public func sync(group groupId: String, memberId: String, generation: Int32, protocolType: String? = nil, protocolName: String? = nil,
                     assignments: [(memberId: String, assignment: [UInt8])]) async -> GroupSyncResult {
        guard groups[groupId] != nil else { return GroupSyncResult(error: .unknownMemberId) }
        let (outcome, released) = groups[groupId]!.sync(memberId: memberId, generation: generation, protocolType: protocolType, protocolName: protocolName,
                                                         assignments: assignments, now: clock())
        release(groupId, joins: [:], syncs: released)
        switch outcome {
        case let .respond(response): return response
        case .wait:
            return await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    syncWaiters[groupId, default: [:]].updateValue(continuation, forKey: memberId)?
                        .resume(returning: GroupSyncResult(error: .rebalanceInProgress))
                }
            } onCancel: {
                Task { await self.cancelSyncWait(group: groupId, memberId: memberId) }
            }
        }
    }

    /// `nil`: the member is in the current generation and nothing is asked of it.
    public func heartbeat(group groupId: String, memberId: String, generation: Int32) -> GroupError? {
        guard groups[groupId] != nil else { return .unknownMemberId }
        return groups[groupId]!.heartbeat(memberId: memberId, generation: generation, now: clock())
    }

    /// Removes each member from the group; one result per member (`nil`: it left).
    public func leave(group groupId: String, memberIds: [String]) -> [(memberId: String, error: GroupError?)] {
        leave(group: groupId, members: memberIds.map { ($0, nil) })
    }

    /// Removes members named by member id or, for static members (KIP-345), by instance id: an
    /// administrator removes a static member by its instance alone, and a member id given with an
    /// instance must be that instance's current member (else FENCED_INSTANCE_ID).
    public func leave(group groupId: String, members: [(memberId: String, instanceId: String?)]) -> [(memberId: String, error: GroupError?)] {
        if var state = consumerGroups[groupId] {
            // A consumer-protocol group: an administrator removes members (their partitions go
            // to the others at their next heartbeats).
            let results = members.map { ($0.memberId, state.removeMember(memberId: $0.memberId, instanceId: $0.instanceId)) }
            consumerGroups[groupId] = state
            return results
        }
        guard groups[groupId] != nil else { return members.map { ($0.memberId, .unknownMemberId) } }
        var results: [(memberId: String, error: GroupError?)] = []
        for (memberId, instanceId) in members {
            var id = memberId
            if let instanceId {
                guard let current = groups[groupId]!.members.values.first(where: { $0.instanceId == instanceId })?.id else {
                    results.append((memberId, .unknownMemberId))
                    continue
                }
                guard memberId.isEmpty || memberId == current else {
                    results.append((memberId, .fencedInstanceId))
                    continue
                }
                id = current
            }
            let (error, joins, syncs) = groups[groupId]!.leave(memberId: id, now: clock())
            release(groupId, joins: joins, syncs: syncs)
            results.append((memberId, error))
        }
        return results
    }

    /// Validates and stores a commit (kafka-protocol.md §4.6). Returns the error for all its
    /// offsets, if any.
    public func commit(_ commit: GroupCommit) async -> GroupError? {
        if let state = consumerGroups[commit.groupId], !state.isEmpty {
            // Consumer protocol: the generation field carries the member epoch. A commit from
            // outside the group (no member) is refused while it has members, as in Kafka.
            if commit.memberId.isEmpty && commit.generation < 0 { return .unknownMemberId }
            if let error = state.validate(memberId: commit.memberId, epoch: commit.generation) { return error }
        } else if let state = groups[commit.groupId] {
            if let error = state.commitError(memberId: commit.memberId, generation: commit.generation) { return error }
            groups[commit.groupId]?.touch(memberId: commit.memberId, now: clock())
        } else if commit.generation >= 0 {
            return .illegalGeneration
        }
        let now = clock()
        let entries: [(OffsetStore.Key, OffsetStore.Committed?)] = commit.offsets.map { entry in
            (OffsetStore.Key(group: commit.groupId, topic: entry.topic, partition: entry.partition),
             OffsetStore.Committed(offset: entry.offset, leaderEpoch: entry.leaderEpoch, metadata: entry.metadata, commitTimestamp: now))
        }
        do { try await offsets.store(entries) } catch { return .offsetsUnavailable }
        return nil
    }

    /// Checks a TxnOffsetCommit's member and generation (KIP-447) without storing anything:
    /// the offsets wait for the transaction. Generation -1 without a member is always accepted,
    /// as Kafka does for producers outside the group.
    public func validateTransactionalCommit(groupId: String, memberId: String, generation: Int32) -> GroupError? {
        if memberId.isEmpty && generation < 0 { return nil }
        if let state = consumerGroups[groupId], !state.isEmpty {
            return state.validate(memberId: memberId, epoch: generation)
        } else if let state = groups[groupId] {
            return state.commitError(memberId: memberId, generation: generation)
        }
        return generation >= 0 ? .illegalGeneration : nil
    }

    public func committed(group: String) -> [OffsetStore.Key: OffsetStore.Committed] {
        offsets.fetch(group: group)
    }

    /// OffsetFetch v9 from a member of a consumer-protocol group names itself and its epoch;
    /// anyone else (no member id, epoch -1) may read a group's offsets.
    public func validateOffsetFetch(group: String, memberId: String?, epoch: Int32) -> GroupError? {
        // As Kafka: only a request naming no member and no epoch goes unchecked.
        if memberId == nil && epoch < 0 { return nil }
        guard let state = consumerGroups[group] else { return nil }
        return state.validateOffsetFetch(memberId: memberId ?? "", epoch: epoch)
    }

    // MARK: Consumer protocol (KIP-848)

    /// Answers a ConsumerGroupHeartbeat. `partitionCounts`: every topic's partitions now.
    public func consumerHeartbeat(_ request: ConsumerHeartbeat, partitionCounts: [String: Int32]) -> ConsumerHeartbeatResult {
        guard !request.groupId.isEmpty else { return ConsumerHeartbeatResult(error: .invalidGroupId, memberId: request.memberId) }
        if groups[request.groupId]?.isEmpty == false {
            return ConsumerHeartbeatResult(error: .groupIdNotFound, memberId: request.memberId)
        }
        var state = consumerGroups[request.groupId]
            ?? ConsumerProtocolGroup(id: request.groupId, sessionTimeoutMs: consumerSessionTimeoutMs, heartbeatIntervalMs: consumerHeartbeatIntervalMs)
        let result = state.heartbeat(request, newMemberId: UUID().uuidString.lowercased(), partitionCounts: partitionCounts, now: clock())
        consumerGroups[request.groupId] = state.isEmpty ? nil : state
        return result
    }

    /// One pass of the ticker (internal so tests drive it without waiting).
    func tick() {
        let now = clock()
        for id in consumerGroups.keys {
            _ = consumerGroups[id]!.tick(now: now)
            if consumerGroups[id]!.isEmpty { consumerGroups[id] = nil }
        }
        for id in Array(groups.keys) {
            let (joins, syncs) = groups[id]!.tick(now: now)
            release(id, joins: joins, syncs: syncs)
            // A member id handed out with MEMBER_ID_REQUIRED keeps its group until it expires:
            // dropping the group before the member's second JoinGroup arrives answered it
            // UNKNOWN_MEMBER_ID, and a client slower than a tick never joined (found by review
            // of a client suite that hung under load).
            if let state = groups[id], state.state == .empty && state.isEmpty && !state.hasPendingMembers
                && joinWaiters[id]?.isEmpty != false && syncWaiters[id]?.isEmpty != false {
                groups[id] = nil
            }
        }
    }

    private func release(_ groupId: String, joins: [String: GroupJoinResult], syncs: [String: GroupSyncResult]) {
        for (member, response) in joins { joinWaiters[groupId]?.removeValue(forKey: member)?.resume(returning: response) }
        for (member, response) in syncs { syncWaiters[groupId]?.removeValue(forKey: member)?.resume(returning: response) }
        // Parked joiners the state machine dropped (timed out) get an error rather than silence.
        if let waiting = joinWaiters[groupId], groups[groupId]?.state != .preparingRebalance {
            for (member, continuation) in waiting {
                continuation.resume(returning: .refused(.unknownMemberId, memberId: member))
            }
            joinWaiters[groupId] = nil
        }
    }
}

// MARK: Administration

extension GroupCoordinator {
    /// What `DescribeGroups` and `stele groups` show of one group.
    public struct GroupDescription: Sendable {
        public var groupId: String
        public var state: String
        public var protocolType: String
        public var protocolName: String
        public var generation: Int32
        public var members: [(memberId: String, instanceId: String?, clientId: String, metadata: [UInt8], assignment: [UInt8])]
    }

    /// One group as ListGroups shows it.
    public struct GroupListing: Sendable, Equatable {
        public var groupId: String
        public var protocolType: String
        /// Kafka's state name: Empty, PreparingRebalance, CompletingRebalance, Stable (classic);
        /// Empty, Assigning, Reconciling, Stable (consumer protocol).
        public var state: String
        /// "classic" or "consumer" (the protocol, KIP-848).
        public var type: String
    }

    /// Groups with members, and groups that only have committed offsets (Empty, classic).
    public func listGroups() -> [GroupListing] {
        var all: [String: GroupListing] = [:]
        for group in offsets.groups {
            all[group] = GroupListing(groupId: group, protocolType: "consumer", state: ConsumerGroup.State.empty.rawValue, type: "classic")
        }
        for (id, group) in groups where group.state != .dead {
            all[id] = GroupListing(groupId: id, protocolType: group.protocolType ?? all[id]?.protocolType ?? "consumer",
                                   state: group.state.rawValue, type: "classic")
        }
        for (id, group) in consumerGroups { all[id] = GroupListing(groupId: id, protocolType: "consumer", state: group.stateName, type: "consumer") }
        return all.values.sorted { $0.groupId < $1.groupId }
    }

    /// A consumer-protocol group as ConsumerGroupDescribe shows it; `nil` when the group is
    /// not on that protocol (or does not exist).
    public func describeConsumerGroup(_ groupId: String) -> ConsumerGroupDescription? {
        guard let group = consumerGroups[groupId] else { return nil }
        return ConsumerGroupDescription(
            groupId: groupId, state: group.stateName, groupEpoch: group.groupEpoch, assignmentEpoch: group.assignmentEpoch,
            assignor: group.assignor.rawValue,
            members: group.members.values.sorted { $0.id < $1.id }.map { member in
                ConsumerGroupDescription.Member(
                    memberId: member.id, instanceId: member.instanceId, rackId: member.rackId, epoch: member.epoch, clientId: member.clientId,
                    subscribedNames: member.subscribedNames.sorted(), subscribedRegex: member.subscribedRegex,
                    assigned: member.assigned.sorted(), target: (group.target[member.id] ?? []).sorted())
            })
    }

    public func describe(_ groupId: String) -> GroupDescription? {
        if let group = consumerGroups[groupId] {
            // Members' subscriptions and assignments in the classic consumer encoding, so tools
            // that read DescribeGroups show them as for any consumer group.
            let members = group.members.values.sorted { $0.id < $1.id }.map { member in
                (memberId: member.id, instanceId: member.instanceId, clientId: member.clientId,
                 metadata: ConsumerProtocolEncoding.subscription(member.subscribedNames.sorted()),
                 assignment: ConsumerProtocolEncoding.assignment(member.assigned))
            }
            return GroupDescription(groupId: groupId, state: group.stateName, protocolType: "consumer",
                                    protocolName: group.assignor.rawValue, generation: group.groupEpoch, members: members)
        }
        if let group = groups[groupId] {
            let members = group.members.values.sorted { $0.id < $1.id }.map { member in
                (memberId: member.id, instanceId: member.instanceId, clientId: member.clientId,
                 metadata: member.protocols.first { $0.name == group.protocolName }?.metadata ?? [], assignment: member.assignment)
            }
            return GroupDescription(groupId: groupId, state: group.state.rawValue, protocolType: group.protocolType ?? "",
                                    protocolName: group.protocolName ?? "", generation: group.generation, members: members)
        }
        guard offsets.hasOffsets(group: groupId) else { return nil }
        return GroupDescription(groupId: groupId, state: ConsumerGroup.State.empty.rawValue, protocolType: "consumer",
                                protocolName: "", generation: 0, members: [])
    }

    /// Deletes groups without members, with their committed offsets.
    public func deleteGroups(_ ids: [String]) async -> [(groupId: String, error: GroupError?)] {
        var results: [(groupId: String, error: GroupError?)] = []
        for id in ids {
            if let group = groups[id], !group.isEmpty {
                results.append((id, .nonEmptyGroup))
                continue
            }
            if let group = consumerGroups[id], !group.isEmpty {
                results.append((id, .nonEmptyGroup))
                continue
            }
            let committed = offsets.fetch(group: id)
            guard groups[id] != nil || !committed.isEmpty else {
                results.append((id, .groupIdNotFound))
                continue
            }
            do {
                try await offsets.store(committed.keys.map { ($0, nil) })
                groups[id]?.markDead()
                groups[id] = nil
                results.append((id, nil))
            } catch {
                results.append((id, .offsetsUnavailable))
            }
        }
        return results
    }

    /// Drops committed offsets of groups without members once their last commit is older than
    /// `retention` (Kafka `offsets.retention.minutes`; an active group keeps its offsets).
    public func expireOffsets(olderThan retention: Duration) async {
        let cutoff = clock() - Int64(retention.components.seconds) * 1000 - retention.components.attoseconds / 1_000_000_000_000_000
        for group in offsets.groups where (groups[group].map({ $0.isEmpty }) ?? true) && consumerGroups[group] == nil {
            let committed = offsets.fetch(group: group)
            guard let newest = committed.values.map(\.commitTimestamp).max(), newest < cutoff else { continue }
            try? await offsets.store(committed.keys.map { ($0, nil) })
        }
    }

    /// Deletes committed offsets of an Empty group (OffsetDelete).
    public func deleteOffsets(group id: String, partitions: [OffsetStore.Key]) async -> GroupError? {
        if let group = groups[id], !group.isEmpty { return .nonEmptyGroup }
        if let group = consumerGroups[id], !group.isEmpty { return .nonEmptyGroup }
        guard groups[id] != nil || offsets.hasOffsets(group: id) else { return .groupIdNotFound }
        do {
            try await offsets.store(partitions.map { ($0, nil) })
            return nil
        } catch {
            return .offsetsUnavailable
        }
    }
}
