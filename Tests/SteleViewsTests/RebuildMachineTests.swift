import Testing
import SteleStore
@testable import SteleViews

/// The rebuild's decisions, step by step, with time passed in: no store, no tables, no clock.
@Suite struct RebuildMachineTests {
    let t0 = ContinuousClock.now

    func at(_ offsets: [Int32: Int64], transactions: [Int32: Int64] = [:]) -> [String: CategoryCheckpoint] {
        ["accounts": CategoryCheckpoint(nextOffsets: offsets, transactions: transactions)]
    }

    @Test func replaysUntilWithinABatchThenStopsLivePassesItAndPromotes() {
        var machine = RebuildMachine(batchSize: 100, started: t0)
        // Not opened yet, then far behind: wait.
        #expect(machine.observe(.init(opened: false, checkpoints: [:])) == .waitForProgress)
        #expect(machine.needsRemaining)
        #expect(machine.observe(.init(opened: true, checkpoints: at([0: 10]), remaining: 5_000)) == .waitForProgress)
        #expect(machine.reported == .replaying)
        // Within one batch of the end: stop the live projection.
        #expect(machine.observe(.init(opened: true, checkpoints: at([0: 4_950]), remaining: 100)) == .stopLive)
        #expect(machine.reported == .swapping)
        #expect(!machine.needsRemaining)
        machine.liveStopped(at: at([0: 5_020, 1: 7]))
        // Behind the live projection in one partition: wait; past it in all: promote.
        #expect(machine.observe(.init(opened: true, checkpoints: at([0: 5_020, 1: 6]))) == .waitForProgress)
        #expect(machine.observe(.init(opened: true, checkpoints: at([0: 5_021, 1: 7]))) == .promote)
        machine.promoted()
        #expect(machine.phase == .promoted)
    }

    @Test func passingTheLiveProjectionComparesTransactionThenOffset() {
        // PostgreSQL: the replay at transaction 90, offset 40 has passed live's transaction 80,
        // offset 55 (events come in transaction order), though its offset is smaller.
        var machine = RebuildMachine(batchSize: 10, started: t0)
        #expect(machine.observe(.init(opened: true, checkpoints: at([0: 0]), remaining: 3)) == .stopLive)
        machine.liveStopped(at: at([0: 55], transactions: [0: 80]))
        #expect(machine.observe(.init(opened: true, checkpoints: at([0: 60], transactions: [0: 79]))) == .waitForProgress,
                "a larger offset in an older transaction has not passed")
        #expect(machine.observe(.init(opened: true, checkpoints: at([0: 40], transactions: [0: 90]))) == .promote)
    }

    @Test func aLiveProjectionThatWasNotRunningIsPassedAtOnce() {
        var machine = RebuildMachine(batchSize: 10, started: t0)
        #expect(machine.observe(.init(opened: true, checkpoints: [:], remaining: 0)) == .stopLive)
        machine.liveStopped(at: [:])
        #expect(machine.observe(.init(opened: true, checkpoints: [:])) == .promote)
    }

    @Test func aReplayFailureFailsTheRebuildInAnyPhase() {
        var replaying = RebuildMachine(batchSize: 10, started: t0)
        #expect(replaying.observe(.init(failure: "disk full", opened: true, checkpoints: [:], remaining: 1_000)) == .fail("disk full"))
        #expect(replaying.reported == .failed("disk full"))
        var swapping = RebuildMachine(batchSize: 10, started: t0)
        _ = swapping.observe(.init(opened: true, checkpoints: [:], remaining: 1))
        swapping.liveStopped(at: at([0: 5]))
        #expect(swapping.observe(.init(failure: "bad event", opened: true, checkpoints: at([0: 2]))) == .fail("bad event"))
    }

    @Test func theEstimateCountsOnlyWhatThisRunApplied() {
        // Resumed at 1,000 of 6,000; 10 s later at 3,000: 200 events/s, 15 s left.
        let estimate = RebuildMachine.estimate(started: t0, applied: 3_000, base: 1_000, total: 6_000, now: t0 + .seconds(10))
        #expect(estimate.eventsPerSecond == 200)
        #expect(estimate.secondsLeft == 15)
        let none = RebuildMachine.estimate(started: t0, applied: 1_000, base: 1_000, total: 6_000, now: t0 + .seconds(10))
        #expect(none.eventsPerSecond == 0 && none.secondsLeft == nil)
    }
}
