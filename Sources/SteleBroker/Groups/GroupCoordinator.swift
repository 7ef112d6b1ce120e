import Foundation
import SteleKafkaProtocol
import SteleLog

/// Runs every consumer group of the broker (Stele is the coordinator of all of them): parks
/// JoinGroup and SyncGroup requests until their group's state machine releases them, drives
/// timeouts with a ticker, and stores committed offsets in the `OffsetStore`.
public actor GroupCoordinator {
    private var groups: [String: ConsumerGroup] = [:]
    private var joinWaiters: [String: [String: CheckedContinuation<JoinGroupResponse, Never>]] = [:]
    private var syncWaiters: [String: [String: CheckedContinuation<SyncGroupResponse, Never>]] = [:]
    public let offsets: OffsetStore
    private let clock: @Sendable () -> Int64
    private let initialRebalanceDelayMs: Int64
    private var ticker: Task<Void, Never>?

    /// How often session and rebalance timeouts are checked.
    static let tickInterval: Duration = .milliseconds(100)

    public init(offsets: OffsetStore, initialRebalanceDelayMs: Int64, clock: @escaping @Sendable () -> Int64 = wallClockMilliseconds) {
        self.offsets = offsets
        self.initialRebalanceDelayMs = initialRebalanceDelayMs
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

    public func join(_ request: JoinGroupRequest, clientId: String, version: Int16) async -> JoinGroupResponse {
        guard !request.groupId.isEmpty else { return JoinGroupResponse(errorCode: .invalidGroupId, memberId: request.memberId) }
        var state = group(request.groupId)
        let outcome = state.join(request, clientId: clientId, version: version, now: clock())
        groups[request.groupId] = state
        switch outcome {
        case let .respond(response):
            return response
        case .wait:
            return await withCheckedContinuation { continuation in
                let memberId = request.memberId.isEmpty ? self.newestMember(of: request.groupId) : request.memberId
                // A member re-sending JoinGroup replaces its earlier parked request.
                joinWaiters[request.groupId, default: [:]].updateValue(continuation, forKey: memberId)?
                    .resume(returning: JoinGroupResponse(errorCode: .rebalanceInProgress, memberId: memberId))
                release(request.groupId, joins: groups[request.groupId]!.completeJoinIfReady(now: clock()), syncs: [:])
            }
        }
    }

    /// The member a v0–3 join (or a static member) just added under a fresh id.
    private func newestMember(of groupId: String) -> String {
        let waiting = Set(joinWaiters[groupId]?.keys.map { $0 } ?? [])
        return groups[groupId]?.members.values.first { $0.awaitingJoin && !waiting.contains($0.id) }?.id ?? ""
    }

    public func sync(_ request: SyncGroupRequest) async -> SyncGroupResponse {
        guard var state = groups[request.groupId] else { return SyncGroupResponse(errorCode: .unknownMemberId) }
        let (outcome, released) = state.sync(memberId: request.memberId, generation: request.generationId,
                                             assignments: request.assignments, now: clock())
        groups[request.groupId] = state
        release(request.groupId, joins: [:], syncs: released)
        switch outcome {
        case let .respond(response): return response
        case .wait:
            return await withCheckedContinuation { continuation in
                syncWaiters[request.groupId, default: [:]].updateValue(continuation, forKey: request.memberId)?
                    .resume(returning: SyncGroupResponse(errorCode: .rebalanceInProgress))
            }
        }
    }

    public func heartbeat(_ request: HeartbeatRequest) -> KafkaErrorCode {
        guard var state = groups[request.groupId] else { return .unknownMemberId }
        let code = state.heartbeat(memberId: request.memberId, generation: request.generationId, now: clock())
        groups[request.groupId] = state
        return code
    }

    public func leave(_ request: LeaveGroupRequest) -> [(memberId: String, errorCode: KafkaErrorCode)] {
        guard var state = groups[request.groupId] else { return request.memberIds.map { ($0, .unknownMemberId) } }
        var results: [(memberId: String, errorCode: KafkaErrorCode)] = []
        for member in request.memberIds {
            let (code, joins, syncs) = state.leave(memberId: member, now: clock())
            groups[request.groupId] = state
            release(request.groupId, joins: joins, syncs: syncs)
            results.append((member, code))
        }
        return results
    }

    /// Validates and stores a commit (kafka-protocol.md §4.6). Returns the error for all partitions, if any.
    public func commit(_ request: OffsetCommitRequest, version: Int16) async -> KafkaErrorCode? {
        if let state = groups[request.groupId] {
            if let error = state.commitError(memberId: request.memberId, generation: request.generationId) { return error }
            groups[request.groupId]?.touch(memberId: request.memberId, now: clock())
        } else if request.generationId >= 0 {
            return .illegalGeneration
        }
        let now = clock()
        var entries: [(OffsetStore.Key, OffsetStore.Committed?)] = []
        for topic in request.topics {
            for partition in topic.partitions {
                entries.append((OffsetStore.Key(group: request.groupId, topic: topic.name, partition: partition.partition),
                                OffsetStore.Committed(offset: partition.offset, leaderEpoch: partition.leaderEpoch,
                                                      metadata: partition.metadata, commitTimestamp: now)))
            }
        }
        do { try await offsets.store(entries) } catch { return .coordinatorNotAvailable }
        return nil
    }

    public func committed(group: String) -> [OffsetStore.Key: OffsetStore.Committed] {
        offsets.fetch(group: group)
    }

    private func tick() {
        let now = clock()
        for id in groups.keys {
            var state = groups[id]!
            let (joins, syncs) = state.tick(now: now)
            groups[id] = state
            release(id, joins: joins, syncs: syncs)
            if state.state == .empty && state.isEmpty && joinWaiters[id]?.isEmpty != false && syncWaiters[id]?.isEmpty != false {
                groups[id] = nil
            }
        }
    }

    private func release(_ groupId: String, joins: [String: JoinGroupResponse], syncs: [String: SyncGroupResponse]) {
        for (member, response) in joins { joinWaiters[groupId]?.removeValue(forKey: member)?.resume(returning: response) }
        for (member, response) in syncs { syncWaiters[groupId]?.removeValue(forKey: member)?.resume(returning: response) }
        // Parked joiners the state machine dropped (timed out) get an error rather than silence.
        if let waiting = joinWaiters[groupId], groups[groupId]?.state != .preparingRebalance {
            for (member, continuation) in waiting {
                continuation.resume(returning: JoinGroupResponse(errorCode: .unknownMemberId, memberId: member))
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

    /// Groups with members, and groups that only have committed offsets (Empty).
    public func listGroups() -> [(groupId: String, protocolType: String)] {
        var all: [String: String] = [:]
        for group in offsets.groups { all[group] = "consumer" }
        for (id, group) in groups where group.state != .dead { all[id] = group.protocolType ?? all[id] ?? "consumer" }
        return all.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
    }

    public func describe(_ groupId: String) -> GroupDescription? {
        if let group = groups[groupId] {
            let members = group.members.values.sorted { $0.id < $1.id }.map { member in
                (memberId: member.id, instanceId: member.instanceId, clientId: member.clientId,
                 metadata: member.protocols.first { $0.name == group.protocolName }?.metadata ?? [], assignment: member.assignment)
            }
            return GroupDescription(groupId: groupId, state: group.state.rawValue, protocolType: group.protocolType ?? "",
                                    protocolName: group.protocolName ?? "", generation: group.generation, members: members)
        }
        guard offsets.groups.contains(groupId) else { return nil }
        return GroupDescription(groupId: groupId, state: ConsumerGroup.State.empty.rawValue, protocolType: "consumer",
                                protocolName: "", generation: 0, members: [])
    }

    /// Deletes groups without members, with their committed offsets.
    public func deleteGroups(_ ids: [String]) async -> [(groupId: String, errorCode: KafkaErrorCode)] {
        var results: [(groupId: String, errorCode: KafkaErrorCode)] = []
        for id in ids {
            if let group = groups[id], !group.isEmpty {
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
                results.append((id, .none))
            } catch {
                results.append((id, .coordinatorNotAvailable))
            }
        }
        return results
    }

    /// Drops committed offsets of groups without members once their last commit is older than
    /// `retention` (Kafka `offsets.retention.minutes`; an active group keeps its offsets).
    public func expireOffsets(olderThan retention: Duration) async {
        let cutoff = clock() - Int64(retention.components.seconds) * 1000 - retention.components.attoseconds / 1_000_000_000_000_000
        for group in offsets.groups where groups[group].map({ $0.isEmpty }) ?? true {
            let committed = offsets.fetch(group: group)
            guard let newest = committed.values.map(\.commitTimestamp).max(), newest < cutoff else { continue }
            try? await offsets.store(committed.keys.map { ($0, nil) })
        }
    }

    /// Deletes committed offsets of an Empty group (OffsetDelete).
    public func deleteOffsets(group id: String, partitions: [OffsetStore.Key]) async -> KafkaErrorCode {
        if let group = groups[id], !group.isEmpty { return .nonEmptyGroup }
        guard groups[id] != nil || offsets.groups.contains(id) else { return .groupIdNotFound }
        do {
            try await offsets.store(partitions.map { ($0, nil) })
            return .none
        } catch {
            return .coordinatorNotAvailable
        }
    }
}
