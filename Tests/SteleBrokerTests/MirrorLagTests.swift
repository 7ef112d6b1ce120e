import Testing
import SteleBroker

/// The lag a mirror in the node reports: records summed over a topic's partitions, seconds the
/// worst partition's time since it last had nothing to copy; with a clock passed in.
@Suite("Mirror lag")
struct MirrorLagTests {
    @Test func recordsAndSecondsFollowWhatTheMirrorSaw() {
        let board = MirrorLagBoard()
        let start = ContinuousClock.now
        #expect(board.lag(now: start).isEmpty)
        // Partition 0 caught up, partition 1 ten records behind.
        board.observe(topic: "orders", partition: 0, sourceEnd: 50, copiedTo: 50, now: start)
        board.observe(topic: "orders", partition: 1, sourceEnd: 40, copiedTo: 30, now: start)
        #expect(board.lag(now: start + .seconds(3)) == ["orders": .init(records: 10, seconds: 3)])
        // More arrives at the source: still behind since the first look.
        board.observe(topic: "orders", partition: 1, sourceEnd: 45, copiedTo: 38, now: start + .seconds(4))
        #expect(board.lag(now: start + .seconds(5)) == ["orders": .init(records: 7, seconds: 5)])
        // Caught up: nothing behind, no seconds.
        board.observe(topic: "orders", partition: 1, sourceEnd: 45, copiedTo: 45, now: start + .seconds(6))
        #expect(board.lag(now: start + .seconds(9)) == ["orders": .init(records: 0, seconds: 0)])
        // Behind again: counted from the last time it had nothing to copy.
        board.observe(topic: "orders", partition: 0, sourceEnd: 70, copiedTo: 60, now: start + .seconds(10))
        #expect(board.lag(now: start + .seconds(12)) == ["orders": .init(records: 10, seconds: 12)])
        // A source end below what was copied (a source that lost data) is not negative lag.
        board.observe(topic: "other", partition: 0, sourceEnd: 5, copiedTo: 9, now: start)
        #expect(board.lag(now: start)["other"] == .init(records: 0, seconds: 0))
        board.forget(topic: "orders")
        #expect(board.lag(now: start)["orders"] == nil)
    }
}
