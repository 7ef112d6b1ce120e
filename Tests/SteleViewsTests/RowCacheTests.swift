import Testing
@testable import SteleViews

/// The row cache is bounded by bytes as well as by rows: a client chooses the keys it asks for.
struct RowCacheTests {
    @Test func missesForLongKeysStayWithinTheByteBudget() {
        let cache = RowCache(capacity: 100_000, capacityBytes: 100_000)
        let generation = cache.lookup(.init(table: "t", key: .null)).generation
        for index in 0..<1_000 {
            let key = RowCache.Key(table: "t", key: .text(String(repeating: "k", count: 10_000) + "\(index)"))
            cache.store(nil, for: key, readAt: generation)
            // The newest answer is kept.
            if case .some(.none) = cache.lookup(key).answer {} else { Issue.record("the answer for key \(index) was not kept") }
        }
        // Within the budget: at most ten such keys are held at once.
        let held = (0..<1_000).filter { index in
            cache.lookup(.init(table: "t", key: .text(String(repeating: "k", count: 10_000) + "\(index)"))).answer != nil
        }
        #expect(held.count <= 10 && held.contains(999), "\(held.count)")
        // An answer larger than the whole budget is not kept at all.
        let huge = RowCache.Key(table: "t", key: .text(String(repeating: "x", count: 200_000)))
        cache.store(["v": .integer(1)], for: huge, readAt: generation)
        #expect(cache.lookup(huge).answer == nil)
    }
}
