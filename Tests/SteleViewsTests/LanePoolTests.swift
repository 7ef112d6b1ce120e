import Dispatch
import Synchronization
import Testing
@testable import SteleViews

/// The pool that runs view queries: a job takes the first free lane, so a slow query holds up
/// nobody while another lane is idle (the round-robin it replaced queued a query behind a slow
/// one, and on a busy machine the wait ran out its time limit).
struct LanePoolTests {
    @Test func aJobRunsOnAFreeLaneWhileAnotherIsHeld() async throws {
        let pool = LanePool(lanes: 2, maxWaiting: 10)
        let release = DispatchSemaphore(value: 0)
        let held = DispatchSemaphore(value: 0)
        #expect(pool.submit { held.signal(); release.wait() })
        held.wait()
        // With one lane held, each of these runs on the other one, in turn, without waiting for it.
        for _ in 0..<3 {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                #expect(pool.submit { done.resume() })
            }
        }
        release.signal()
    }

    @Test func jobsBeyondTheLanesWaitInOrderAndBeyondTheLimitAreRefused() async throws {
        let pool = LanePool(lanes: 1, maxWaiting: 3)
        let release = DispatchSemaphore(value: 0)
        let held = DispatchSemaphore(value: 0)
        let order = Mutex<[Int]>([])
        #expect(pool.submit { held.signal(); release.wait() })
        held.wait()
        let finished = DispatchSemaphore(value: 0)
        for index in 0..<3 {
            #expect(pool.submit { order.withLock { $0.append(index) }; finished.signal() })
        }
        #expect(pool.waitingCount == 3)
        #expect(!pool.submit { Issue.record("a refused job ran") }, "the fourth waiting job is refused")
        release.signal()
        for _ in 0..<3 { finished.wait() }
        #expect(order.withLock { $0 } == [0, 1, 2])
        #expect(pool.waitingCount == 0)
        // The lane is free again.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            #expect(pool.submit { done.resume() })
        }
    }
}
