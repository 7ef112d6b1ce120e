import SteleStore

/// Several categories followed as one input: a page from each in turn, then a wait for appends
/// once all are caught up — as a view follows its categories. Pull-based and bounded: a page of
/// at most `pageSize` events per category is read only when the consumer has taken the last.
struct CategoriesFollower: Sendable {
    let store: EventStore
    let categories: [String]
    let pageSize: Int
    /// After the last event delivered, per category.
    private(set) var delivered: [String: CategoryCheckpoint]
    private var pageEnds: [String: CategoryCheckpoint] = [:]
    /// Categories whose last page read was empty: nothing more was there to read.
    private(set) var caughtUp: Set<String> = []
    private var buffer: [(category: String, event: RecordedEvent)] = []
    private var index = 0

    init(store: EventStore, categories: [String], after start: [String: CategoryCheckpoint], pageSize: Int = 256) {
        precondition(!categories.isEmpty && pageSize > 0)
        (self.store, self.categories, self.pageSize) = (store, categories, pageSize)
        delivered = Dictionary(uniqueKeysWithValues: categories.map { ($0, start[$0] ?? .start) })
    }

    /// Whether every event read so far has been delivered (the next call reads or waits).
    var isBufferEmpty: Bool { index == buffer.count }

    /// The next event and its category; nil once the task is cancelled.
    mutating func next() async throws -> (category: String, event: RecordedEvent)? {
        while index == buffer.count {
            if Task.isCancelled { return nil }
            // Every page read is delivered: each category is at its page's end (which also
            // passes records that are no events, such as transaction markers).
            for (category, end) in pageEnds { delivered[category] = end }
            let generation = store.storage.appendGeneration
            buffer = []
            index = 0
            for category in categories {
                let page = try await store.readCategory(category, after: delivered[category] ?? .start, limit: pageSize)
                buffer += page.events.map { (category, $0) }
                pageEnds[category] = page.next
                if page.events.isEmpty { caughtUp.insert(category) } else { caughtUp.remove(category) }
            }
            if buffer.isEmpty {
                for (category, end) in pageEnds { delivered[category] = end }
                await store.storage.waitForAppends(after: generation, until: .now + EventStore.caughtUpPollInterval)
            }
        }
        let next = buffer[index]
        index += 1
        delivered[next.category]?.advance(past: next.event.position)
        if index == buffer.count { for (category, end) in pageEnds { delivered[category] = end } }
        return next
    }
}
