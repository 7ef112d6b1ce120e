import Dispatch
import Synchronization

/// A fixed set of serial dispatch queues ("lanes") that run blocking jobs, each job on the
/// first lane free; jobs beyond the lanes wait in a bounded first-in, first-out queue.
///
/// Why not round-robin over the lanes: a job placed behind a slow one waits for it even while
/// the other lanes are idle, and a query's wait counts against its time limit.
final class LanePool: Sendable {
    let maxWaiting: Int
    private let lanes: [DispatchQueue]
    private struct State {
        var free: [Int]
        var waiting: [@Sendable () -> Void] = []
        var head = 0 // index of the oldest waiting job; the array is compacted when half is spent
    }
    private let state: Mutex<State>

    init(lanes count: Int, maxWaiting: Int) {
        precondition(count > 0 && maxWaiting >= 0)
        self.maxWaiting = maxWaiting
        lanes = (0..<count).map { DispatchQueue(label: "stele.view-queries.\($0)") }
        state = Mutex(State(free: Array((0..<count).reversed())))
    }

    /// Runs `job` on a free lane, or queues it; returns false (and drops `job`) when
    /// ``maxWaiting`` jobs are already queued.
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        enum Placement { case lane(Int), queued, refused }
        let placement: Placement = state.withLock { state in
            if let lane = state.free.popLast() { return .lane(lane) }
            guard state.waiting.count - state.head < maxWaiting else { return .refused }
            state.waiting.append(job)
            return .queued
        }
        switch placement {
        case let .lane(lane): run(job, on: lane); return true
        case .queued: return true
        case .refused: return false
        }
    }

    /// Jobs waiting for a lane (for tests and metrics).
    var waitingCount: Int { state.withLock { $0.waiting.count - $0.head } }

    private func run(_ job: @escaping @Sendable () -> Void, on lane: Int) {
        lanes[lane].async { [self] in
            job()
            // The lane takes the oldest waiting job, or goes back to the free list.
            let next: (@Sendable () -> Void)? = state.withLock { state in
                guard state.head < state.waiting.count else {
                    state.free.append(lane)
                    return nil
                }
                let next = state.waiting[state.head]
                state.head += 1
                if state.head == state.waiting.count {
                    state.waiting.removeAll(keepingCapacity: true)
                    state.head = 0
                } else if state.head >= 64 && state.head * 2 >= state.waiting.count {
                    state.waiting.removeFirst(state.head)
                    state.head = 0
                }
                return next
            }
            if let next { run(next, on: lane) }
        }
    }
}
