import SteleStore

/// Several categories followed as one input, merged by event time: a page of each is held, and
/// the next event given is the earliest of the pages' heads (by `time`; an event without one
/// first). Over stored events the merged order is the same on every run, whatever was appended
/// when — so a replay meets its events in the order the first run did. A category found caught
/// up (an empty page) is read again only once every page is used up; then, when all are caught
/// up, the follower waits for appends. Pull-based and bounded: at most `pageSize` events per
/// category are held.
struct CategoriesFollower: Sendable {
    let store: EventStore
    let categories: [String]
    let pageSize: Int
    let time: @Sendable (String, RecordedEvent) -> Int64?
    /// After the last event delivered, per category.
    private(set) var delivered: [String: CategoryCheckpoint]
    /// Categories whose last page read was empty: nothing more was there to read.
    private(set) var caughtUp: Set<String> = []

    private struct Page: Sendable {
        var events: [RecordedEvent]
        var index = 0
        var end: CategoryCheckpoint
        var isUsedUp: Bool { index == events.count }
    }

    private var pages: [String: Page] = [:]
    private var round: UInt64

    init(store: EventStore, categories: [String], after start: [String: CategoryCheckpoint], pageSize: Int = 256,
         time: @escaping @Sendable (String, RecordedEvent) -> Int64?) {
        precondition(!categories.isEmpty && pageSize > 0)
        (self.store, self.categories, self.pageSize, self.time) = (store, categories, pageSize, time)
        delivered = Dictionary(uniqueKeysWithValues: categories.map { ($0, start[$0] ?? .start) })
        round = store.storage.appendGeneration
    }

    private mutating func read(_ category: String) async throws {
        let page = try await store.readCategory(category, after: delivered[category] ?? .start, limit: pageSize)
        if page.events.isEmpty {
            caughtUp.insert(category)
            // A page's end also passes records that are no events (transaction markers).
            delivered[category] = page.next
        } else {
            caughtUp.remove(category)
        }
        pages[category] = Page(events: page.events, end: page.next)
    }

    /// Whether every event read so far has been delivered.
    var isBufferEmpty: Bool { pages.values.allSatisfy(\.isUsedUp) }

    /// The next event and its category; nil once the task is cancelled.
    mutating func next() async throws -> (category: String, event: RecordedEvent)? {
        while true {
            if Task.isCancelled { return nil }
            // Pages used up are read again; the caught-up categories with them, once per such
            // pass (so one busy category never starves a quiet one, and a quiet one is not read
            // for every event).
            let wereCaughtUp = caughtUp
            var refilled = false
            for category in categories where !wereCaughtUp.contains(category) && (pages[category]?.isUsedUp ?? true) {
                try await read(category)
                refilled = true
            }
            if refilled { for category in categories where wereCaughtUp.contains(category) { try await read(category) } }
            var chosen: (category: String, time: Int64)?
            for category in categories {
                guard let page = pages[category], !page.isUsedUp else { continue }
                let head = time(category, page.events[page.index]) ?? .min
                if chosen.map({ head < $0.time }) ?? true { chosen = (category, head) }
            }
            guard let category = chosen?.category, var page = pages[category] else {
                // Everything read is delivered: wait for appends, then look at every category again.
                await store.storage.waitForAppends(after: round, until: .now + EventStore.caughtUpPollInterval)
                round = store.storage.appendGeneration
                caughtUp = []
                continue
            }
            let event = page.events[page.index]
            page.index += 1
            delivered[category]?.advance(past: event.position)
            if page.isUsedUp { delivered[category] = page.end }
            pages[category] = page
            return (category, event)
        }
    }
}
