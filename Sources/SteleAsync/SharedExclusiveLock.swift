import Synchronization

/// A lock held by many at once (shared) or by one alone (exclusive), for async code: waiters
/// queue in arrival order and no thread blocks. A queued exclusive waiter holds back shared
/// acquirers that arrive after it, so a stream of shared holders cannot starve it.
public final class SharedExclusiveLock: Sendable {
    private struct Waiter {
        var exclusive: Bool
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State: ~Copyable {
        var shared = 0
        var exclusive = false
        var queue: [Waiter] = []

        /// Waiters that may go now, removed from the queue and counted as holders.
        mutating func admit() -> [CheckedContinuation<Void, Never>] {
            var admitted: [CheckedContinuation<Void, Never>] = []
            while let next = queue.first, !exclusive {
                if next.exclusive {
                    guard shared == 0 else { break }
                    exclusive = true
                } else {
                    shared += 1
                }
                admitted.append(queue.removeFirst().continuation)
                if next.exclusive { break }
            }
            return admitted
        }
    }

    private let state = Mutex(State())

    public init() {}

    public func withShared<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire(exclusive: false)
        defer { release(exclusive: false) }
        return try await body()
    }

    public func withExclusive<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire(exclusive: true)
        defer { release(exclusive: true) }
        return try await body()
    }

    public func acquire(exclusive: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.queue.append(Waiter(exclusive: exclusive, continuation: continuation))
                return state.admit()
            }
            for waiter in admitted { waiter.resume() }
        }
    }

    public func release(exclusive: Bool) {
        let admitted = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if exclusive {
                assert(state.exclusive, "released an exclusive hold that was not taken")
                state.exclusive = false
            } else {
                assert(state.shared > 0, "released a shared hold that was not taken")
                state.shared -= 1
            }
            return state.admit()
        }
        for waiter in admitted { waiter.resume() }
    }
}
