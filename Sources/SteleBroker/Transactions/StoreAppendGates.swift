import Synchronization
import SteleAsync

/// One ``SharedExclusiveLock`` per partition of a category, made on first use (bounded by the
/// partitions that exist): the event store's appends hold their partition's gate shared, a
/// multi-stream append every gate it needs exclusively. The broker's, so every store on it
/// shares them.
public final class PartitionGates: Sendable {
    private let gates = Mutex<[String: SharedExclusiveLock]>([:])

    public func gate(_ category: String, _ partition: Int32) -> SharedExclusiveLock {
        gates.withLock { gates in
            let key = "\(category)/\(partition)"
            if let gate = gates[key] { return gate }
            let gate = SharedExclusiveLock()
            gates[key] = gate
            return gate
        }
    }
}

/// A few transactional ids, each used by one multi-stream append at a time. The broker's, so two
/// stores on one broker never fence each other's transactions.
public final class TransactionalIdPool: Sendable {
    private struct State {
        var free: [String]
        var waiting: [CheckedContinuation<String, Never>] = []
    }

    private let state: Mutex<State>

    init(prefix: String, count: Int) {
        state = Mutex(State(free: (0..<count).map { "\(prefix)\($0)" }))
    }

    public func take() async -> String {
        await withCheckedContinuation { continuation in
            let id = state.withLock { state -> String? in
                if let id = state.free.popLast() { return id }
                state.waiting.append(continuation)
                return nil
            }
            if let id { continuation.resume(returning: id) }
        }
    }

    public func give(_ id: String) {
        let next = state.withLock { state -> CheckedContinuation<String, Never>? in
            // Returned ids go to the back: one that keeps failing is not the next one handed out.
            if state.waiting.isEmpty { state.free.insert(id, at: 0); return nil }
            return state.waiting.removeFirst()
        }
        next?.resume(returning: id)
    }
}
