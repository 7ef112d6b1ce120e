import Synchronization

/// A mutual-exclusion lock for async code: waiters queue in order, no thread blocks.
public final class AsyncLock: Sendable {
    private struct State: ~Copyable {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                if state.locked { state.waiters.append(continuation); return false }
                state.locked = true
                return true
            }
            if granted { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty { state.locked = false; return nil }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// Wakes parked fetches when records arrive. A fetch that found too few bytes waits here until
/// anything is appended anywhere (then re-reads) or its deadline passes: simple, and a wake-up
/// costs each parked fetch one re-read, which is cheap next to the wait it ends.
public final class ArrivalNotifier: Sendable {
    private struct State: ~Copyable {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextId: UInt64 = 0
        /// Waits cancelled before they parked: they must not park.
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// The current generation; pass it to `wait` so an arrival between reading and parking is not missed.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// How many waits are pending (tests observe a waiter before they wake it).
    public var waiting: Int { state.withLock { $0.waiters.count } }

    public func notifyAll() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when something arrives after `generation`, at `deadline`, or when the task is
    /// cancelled.
    public func wait(after generation: UInt64, until deadline: ContinuousClock.Instant) async {
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            self.resume(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let already = state.withLock { state -> Bool in
                    if state.cancelled.remove(id) != nil || state.generation != generation || ContinuousClock.now >= deadline { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if already { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                let waiter = state.waiters.removeValue(forKey: id)
                if waiter == nil { state.cancelled.insert(id) }
                return waiter
            }
            waiter?.resume()
        }
        // A cancellation that came after the wait ended leaves no mark behind.
        _ = state.withLock { $0.cancelled.remove(id) }
        timer.cancel()
    }

    private func resume(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}
