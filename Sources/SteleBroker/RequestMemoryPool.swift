import Synchronization

/// Bytes of requests held in memory by all connections together (Kafka `queued.max.request.bytes`):
/// requests read, or being read, and not yet answered. A connection reserves a request's whole
/// size when its 4-byte size prefix arrives, as Kafka allocates its buffer then; a reservation
/// is granted while the pool is under `capacity` (it may overdraw by that one request, so a
/// request larger than the pool still gets through alone) and otherwise waits for answered
/// requests to give bytes back. A connection in the middle of a granted request keeps reading it
/// (stopping there would hold its bytes forever); between requests it reads only while the pool
/// is under capacity. No I/O: the listener calls these as bytes arrive and requests are answered.
public final class RequestMemoryPool: Sendable {
    public let capacity: Int
    private struct State {
        var used = 0
        var reservedTotal = 0
        var waiters: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Bytes held now.
    public var used: Int { state.withLock { $0.used } }
    /// Bytes ever reserved (only grows): lets a test see a reservation however briefly it lasted.
    public var reservedTotal: Int { state.withLock { $0.reservedTotal } }
    /// Connections waiting for memory (a reservation or their next read).
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Reserves `bytes` if the pool is under capacity (overdrawing is allowed); if not,
    /// `resume` is called once it is, and the caller asks again.
    public func reserve(_ bytes: Int, orResume resume: @escaping @Sendable () -> Void) -> Bool {
        precondition(bytes >= 0)
        return state.withLock { state in
            guard state.used < capacity else {
                state.waiters.append(resume)
                return false
            }
            state.used += bytes
            state.reservedTotal += bytes
            return true
        }
    }

    /// Gives bytes back; if that brings the pool under capacity, everyone waiting resumes.
    public func release(_ bytes: Int) {
        precondition(bytes >= 0)
        let resumed = state.withLock { state -> [@Sendable () -> Void] in
            state.used -= bytes
            assert(state.used >= 0, "released more request bytes than were charged")
            guard state.used < capacity else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for resume in resumed { resume() }
    }

    /// Whether a read may go ahead now; if not, `resume` is called once the pool has room.
    public func admitRead(orResume resume: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            guard state.used >= capacity else { return true }
            state.waiters.append(resume)
            return false
        }
    }
}
