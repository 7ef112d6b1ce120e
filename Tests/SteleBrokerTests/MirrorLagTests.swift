import Testing
import SteleBroker

/// The lag a mirror in the node reports: records summed over a topic's partitions; seconds how
/// stale the target is (its worst partition), with the wall clock passed in.
@Suite("Mirror lag")
struct MirrorLagTests {
    @Test func recordsAndSecondsFollowWhatTheMirrorSaw() {
        let board = MirrorLagBoard()
        let t: Int64 = 1_800_000_000_000
        #expect(board.lag(nowMs: t).isEmpty)
        // Partition 0 caught up at t; partition 1 ten records behind, its newest copied record
        // from t - 2 s.
        board.observe(topic: "orders", partition: 0, sourceEnd: 50, copiedTo: 50, newestCopiedMs: t - 100, nowMs: t)
        board.observe(topic: "orders", partition: 1, sourceEnd: 40, copiedTo: 30, newestCopiedMs: t - 2000, nowMs: t)
        #expect(board.lag(nowMs: t + 1000) == ["orders": .init(records: 10, seconds: 3)])
        // More copied, still behind: complete as of its newest copied record.
        board.observe(topic: "orders", partition: 1, sourceEnd: 45, copiedTo: 38, newestCopiedMs: t + 500, nowMs: t + 1500)
        #expect(board.lag(nowMs: t + 2000) == ["orders": .init(records: 7, seconds: 2)])
        // Both caught up: as stale as the last look.
        board.observe(topic: "orders", partition: 0, sourceEnd: 50, copiedTo: 50, newestCopiedMs: nil, nowMs: t + 3000)
        board.observe(topic: "orders", partition: 1, sourceEnd: 45, copiedTo: 45, newestCopiedMs: t + 2900, nowMs: t + 3000)
        #expect(board.lag(nowMs: t + 3000) == ["orders": .init(records: 0, seconds: 0)])
        // No look at all (the link is down): the seconds keep growing.
        #expect(board.lag(nowMs: t + 33_000) == ["orders": .init(records: 0, seconds: 30)])
        // A source end below what was copied (a source that lost data) is not negative lag.
        board.observe(topic: "other", partition: 0, sourceEnd: 5, copiedTo: 9, newestCopiedMs: nil, nowMs: t)
        #expect(board.lag(nowMs: t)["other"] == .init(records: 0, seconds: 0))
        // A record stamped in the future (a producer's clock ahead) does not make the lag negative.
        board.observe(topic: "ahead", partition: 0, sourceEnd: 9, copiedTo: 5, newestCopiedMs: t + 60_000, nowMs: t)
        #expect(board.lag(nowMs: t)["ahead"] == .init(records: 4, seconds: 0))
        board.forget(topic: "orders")
        #expect(board.lag(nowMs: t)["orders"] == nil)
    }
}
