import Testing
@testable import SteleBroker

/// A consumer retrying a fetch of damaged data many times a second makes one log line per
/// partition per interval, which says how many were held back.
struct RepeatThrottleTests {
    @Test func oneLinePerKeyPerIntervalWithTheCountHeldBack() {
        let throttle = RepeatThrottle(interval: .seconds(60), maxKeys: 2)
        let start = ContinuousClock.now
        #expect(throttle.admit("orders-0", now: start) == 0)
        for second in 1...100 { #expect(throttle.admit("orders-0", now: start + .milliseconds(second * 500)) == nil) }
        #expect(throttle.admit("orders-1", now: start + .seconds(1)) == 0, "another partition is logged at once")
        #expect(throttle.admit("orders-0", now: start + .seconds(60)) == 100, "the next line says how many were held back")
        // Keys are bounded: a third one pushes out the oldest.
        #expect(throttle.admit("carts-0", now: start + .seconds(61)) == 0)
        #expect(throttle.admit("orders-1", now: start + .seconds(62)) == 0, "forgotten, so logged again")
    }
}
