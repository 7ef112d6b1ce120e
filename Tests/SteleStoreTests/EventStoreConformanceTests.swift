import Foundation
import Testing
import SteleTestSupport
import SteleStore

/// What every backend must do the same way.
struct EventStoreConformanceTests {
    let account = StreamName(category: "accounts", id: "account-1")

    @Test(arguments: StoreBackend.all)
    func expectedVersionsAreCheckedAndAConflictWritesNothing(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            let opened = try await store.append([event("AccountOpened", #"{"amount":100}"#)], to: account, expected: .noStream)
            #expect(opened.firstVersion == 0 && opened.lastVersion == 0 && !opened.wasAlreadyAppended)
            await #expect(throws: EventStoreError.wrongExpectedVersion(stream: account, expected: .noStream, actual: 0)) {
                try await store.append([event("AccountOpened")], to: account, expected: .noStream)
            }
            let two = try await store.append([event("MoneyDeposited"), event("MoneyWithdrawn")], to: account, expected: .exact(0))
            #expect(two.firstVersion == 1 && two.lastVersion == 2)
            await #expect(throws: EventStoreError.wrongExpectedVersion(stream: account, expected: .exact(1), actual: 2)) {
                try await store.append([event("MoneyDeposited"), event("MoneyDeposited")], to: account, expected: .exact(1))
            }
            let other = StreamName(category: "accounts", id: "account-2")
            await #expect(throws: EventStoreError.wrongExpectedVersion(stream: other, expected: .streamExists, actual: -1)) {
                try await store.append([event("MoneyDeposited")], to: other, expected: .streamExists)
            }
            #expect(try await store.append([event("MoneyDeposited")], to: account, expected: .streamExists).firstVersion == 3)
            #expect(try await store.append([event("MoneyDeposited")], to: account, expected: .any).firstVersion == 4)
            #expect(try await store.version(of: account) == 4)
            #expect(try await store.version(of: other) == -1)
            let read = try await store.read(account)
            #expect(read.map(\.version) == [0, 1, 2, 3, 4], "refused appends wrote nothing")
            #expect(read.map(\.type) == ["AccountOpened", "MoneyDeposited", "MoneyWithdrawn", "MoneyDeposited", "MoneyDeposited"])
        }
    }

    @Test(arguments: StoreBackend.all)
    func eventsSayWhereTheyAreAndWhatTheyCarry(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            let id = UUID()
            let occurred = Date(timeIntervalSince1970: 1_700_000_000.123)
            let before = Date()
            let metadata = EventMetadata(correlationId: "corr-1", causationId: "cmd-9", occurredAt: occurred)
            var data = event("MoneyDeposited", #"{"amount":50}"#, id: id, metadata: metadata)
            data.schemaVersion = 2
            let outcome = try await store.append([data], to: account, expected: .noStream)
            let read = try #require(try await store.read(account).first)
            #expect(read.stream == account && read.version == 0 && read.position == outcome.firstPosition)
            #expect(read.id == id && read.type == "MoneyDeposited" && read.schemaVersion == 2)
            #expect(read.data == Array(#"{"amount":50}"#.utf8))
            #expect(read.metadata == metadata && read.occurredAt == occurred)
            #expect(read.appendedAt >= before.addingTimeInterval(-0.002) && read.appendedAt <= Date().addingTimeInterval(0.002))
        }
    }

    @Test(arguments: StoreBackend.all)
    func repeatedAppendsAreRecognisedAndPartialOverlapsRefused(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            let first = [event("A"), event("B")]
            let original = try await store.append(first, to: account, expected: .noStream)
            let again = try await store.append(first, to: account, expected: .noStream)
            #expect(again.wasAlreadyAppended && again.firstVersion == original.firstVersion && again.firstPosition == original.firstPosition)
            let next = [event("C")]
            _ = try await store.append(next, to: account, expected: .exact(1))
            #expect(try await store.append(next, to: account, expected: .exact(1)).wasAlreadyAppended)
            // Without an exact expectation the recent events are searched.
            #expect(try await store.append(next, to: account, expected: .any) == AppendOutcome(
                firstVersion: 2, lastVersion: 2, firstPosition: try await store.read(account)[2].position, wasAlreadyAppended: true))
            #expect(try await store.append(first, to: account, expected: .streamExists).wasAlreadyAppended)
            await #expect(throws: EventStoreError.self) {
                try await store.append([first[1], event("D")], to: account, expected: .exact(0))
            }
            await #expect(throws: EventStoreError.self) { try await store.append([event("E"), next[0]], to: account, expected: .any) }
            #expect(try await store.version(of: account) == 2, "repeats and partial overlaps wrote nothing")
            await #expect(throws: EventStoreError.invalidRequest("an append needs at least one event")) {
                try await store.append([], to: account, expected: .any)
            }
            let twice = event("X")
            await #expect(throws: EventStoreError.self) { try await store.append([twice, twice], to: account, expected: .any) }
        }
    }

    @Test(arguments: StoreBackend.all)
    func streamsReadForwardAndBackwardWithLimits(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            for index in 0..<10 { try await store.append([event("E\(index)")], to: account, expected: .exact(Int64(index) - 1)) }
            try await store.append([event("Other")], to: StreamName(category: "accounts", id: "account-2"))
            #expect(try await store.read(account).map(\.version) == Array(0...9))
            #expect(try await store.read(account, from: .version(4), limit: 3).map(\.version) == [4, 5, 6])
            #expect(try await store.read(account, from: .end, direction: .backward, limit: 3).map(\.version) == [9, 8, 7])
            #expect(try await store.read(account, from: .version(2), direction: .backward, limit: 5).map(\.version) == [2, 1, 0])
            #expect(try await store.read(account, from: .version(20)).isEmpty)
            #expect(try await store.read(StreamName(category: "accounts", id: "nobody")).isEmpty)
            #expect(try await store.read(StreamName(category: "nothing-here", id: "x")).isEmpty)
            await #expect(throws: EventStoreError.self) { try await store.read(account, from: .version(-2)) }
            await #expect(throws: EventStoreError.self) { try await store.append([event("E")], to: StreamName(category: "bad name!", id: "x")) }
            await #expect(throws: EventStoreError.self) { try await store.append([event("E")], to: StreamName(category: "accounts", id: "")) }
        }
    }

    @Test(arguments: StoreBackend.all)
    func categoriesReadFromCheckpoints(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            var appended: [(String, Int64)] = []
            for index in 0..<30 {
                let stream = StreamName(category: "carts", id: "cart-\(index % 7)")
                let outcome = try await store.append([event("ItemAdded", #"{"n":\#(index)}"#)], to: stream)
                appended.append((stream.id, outcome.firstVersion))
            }
            var position = CategoryCheckpoint.start
            var read: [RecordedEvent] = []
            // PostgreSQL delivers an event once every transaction older than it has ended, in
            // the whole cluster (other tests' included): an empty page means "not yet" there.
            var watch = StallWatch("the category's events")
            while read.count < appended.count {
                try watch.check(read.count)
                let page = try await store.readCategory("carts", after: position, limit: 4)
                if page.events.isEmpty { try await Task.sleep(for: .milliseconds(20)); continue }
                #expect(page.events.count <= 4)
                read += page.events
                position = page.next
            }
            #expect(read.map { [$0.stream.id, String($0.version)] } == appended.map { [$0.0, String($0.1)] })
            #expect(position == (try await store.endCheckpoint(of: "carts")))
            let resumed = try await store.readCategory("carts", after: CategoryCheckpoint(position.description)!)
            #expect(resumed.events.isEmpty)
        }
    }

    @Test(arguments: StoreBackend.all)
    func temporalReadsFoldUpToAPoint(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            let monday = Date(timeIntervalSince1970: 1_700_000_000)
            let tuesday = monday.addingTimeInterval(86_400)
            try await store.append([event("Deposited", #"{"amount":100}"#, metadata: EventMetadata(occurredAt: monday))], to: account)
            try await store.append([event("Deposited", #"{"amount":50}"#)], to: account)
            let afterTwo = Date()
            try await Task.sleep(for: .milliseconds(20))
            // Recorded now, but it happened on Tuesday.
            try await store.append([event("Withdrawn", #"{"amount":20}"#, metadata: EventMetadata(occurredAt: tuesday))], to: account)
            let balance = { (total: Int, event: RecordedEvent) -> Int in
                let amount = (try! JSONSerialization.jsonObject(with: Data(event.data)) as! [String: Int])["amount"]!
                return event.type == "Withdrawn" ? total - amount : total + amount
            }
            #expect(try await store.state(of: account, initial: 0, evolve: balance) == 130)
            #expect(try await store.state(of: account, asOf: .version(0), initial: 0, evolve: balance) == 100)
            #expect(try await store.state(of: account, asOf: .time(afterTwo), initial: 0, evolve: balance) == 150)
            let events = try await store.read(account)
            #expect(try await store.state(of: account, asOf: .offset(events[1].position.offset), initial: 0, evolve: balance) == 150)
            // Known now, about Tuesday: the deposit of 50 happened today, after Tuesday.
            #expect(try await store.state(of: account, asOf: .known(at: Date(), about: tuesday), initial: 0, evolve: balance) == 80)
            #expect(try await store.state(of: account, asOf: .time(Date(timeIntervalSince1970: 0)), initial: 0, evolve: balance) == 0)
        }
    }

    @Test(arguments: StoreBackend.all)
    func temporalPagesWalkALongStreamEitherWay(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            // 2,500 events (pages of the storage are 1,000); every third happened "yesterday".
            let yesterday = Date(timeIntervalSince1970: 1_700_000_000)
            let tomorrow = Date().addingTimeInterval(86_400)
            for chunk in 0..<25 {
                try await store.append((0..<100).map { index in
                    let n = chunk * 100 + index
                    return event("Deposited", #"{"amount":\#(n)}"#, metadata: EventMetadata(occurredAt: n % 3 == 0 ? yesterday : tomorrow))
                }, to: account)
            }
            let all = try await store.read(account)
            func page(_ point: AsOf, _ from: StreamPoint, _ direction: ReadDirection, _ limit: Int) async throws -> [Int64] {
                try await store.read(account, asOf: point, from: from, direction: direction, limit: limit).map(\.version)
            }
            let upTo = AsOf.version(1_700)
            #expect(try await page(upTo, .start, .forward, 5) == [0, 1, 2, 3, 4])
            #expect(try await page(upTo, .version(995), .forward, 10) == Array(995...1_004))
            #expect(try await page(upTo, .version(1_698), .forward, 10) == [1_698, 1_699, 1_700], "the page ends at the point")
            #expect(try await page(upTo, .end, .backward, 3) == [1_700, 1_699, 1_698], "backward starts at the point, not the stream's end")
            #expect(try await page(upTo, .version(2_400), .backward, 2) == [1_700, 1_699])
            #expect(try await page(upTo, .version(1_001), .backward, 3) == [1_001, 1_000, 999])
            // Valid time cuts inside pages: only what happened by yesterday, across page boundaries.
            let knownAboutYesterday = AsOf.known(at: Date(), about: yesterday)
            let forward = try await page(knownAboutYesterday, .version(990), .forward, 10)
            #expect(forward == Array(stride(from: 990, to: 1_020, by: 3)))
            #expect(try await page(knownAboutYesterday, .end, .backward, 2) == [2_499, 2_496])
            // Walking every page equals the whole read.
            var walked: [Int64] = []
            var next: StreamPoint = .start
            while true {
                let chunk = try await page(.now, next, .forward, 333)
                walked += chunk
                guard chunk.count == 333 else { break }
                next = .version(chunk.last! + 1)
            }
            #expect(walked == all.map(\.version))
            #expect(try await store.state(of: account, asOf: upTo, initial: 0) { total, _ in total + 1 } == 1_701, "a fold reads page by page")
            #expect(try await page(.now, .end, .backward, 1) == [2_499])
        }
    }

    @Test(arguments: StoreBackend.all)
    func snapshotsAreKeptApartAndFoundByVersion(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            #expect(try await store.latestSnapshot(of: account, name: "balance") == nil)
            for version in [9, 19, 29] as [Int64] {
                try await store.saveSnapshot(Snapshot(stream: account, name: "balance", version: version, state: Array("\(version)".utf8)))
            }
            try await store.saveSnapshot(Snapshot(stream: account, name: "other", version: 40, state: []))
            try await store.saveSnapshot(Snapshot(stream: account, name: "balance", version: 39, schemaVersion: 2, state: []))
            #expect(try await store.latestSnapshot(of: account, name: "balance")?.version == 29)
            #expect(try await store.latestSnapshot(of: account, name: "balance", atOrBefore: 25)?.state == Array("19".utf8))
            #expect(try await store.latestSnapshot(of: account, name: "balance", schemaVersion: 2)?.version == 39)
            #expect(try await store.latestSnapshot(of: account, name: "balance", atOrBefore: 5) == nil)
            #expect(try await store.read(account).isEmpty, "snapshots are not events")
        }
    }

    @Test(arguments: StoreBackend.all)
    func subscriptionsCatchUpThenFollowWithoutGapOrDuplicate(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            for index in 0..<25 { try await store.append([event("Before\(index)")], to: account) }
            let total = 60
            let streamTask = Task {
                var versions: [Int64] = []
                for try await event in store.subscribe(to: account, from: 3, bufferSize: 4) {
                    versions.append(event.version)
                    if versions.count == total - 3 { break }
                }
                return versions
            }
            let categoryTask = Task {
                var seen: [String] = []
                for try await event in store.subscribe(toCategory: "accounts", bufferSize: 7) {
                    seen.append(event.type ?? "")
                    if seen.count == total { break }
                }
                return seen
            }
            for index in 25..<total {
                try await store.append([event("After\(index)")], to: account)
                if index % 10 == 0 { try await Task.sleep(for: .milliseconds(30)) }
            }
            #expect(try await streamTask.value == Array(3..<Int64(total)))
            #expect(try await categoryTask.value == (0..<25).map { "Before\($0)" } + (25..<total).map { "After\($0)" })
        }
    }

    @Test(arguments: StoreBackend.all)
    func thirtyTwoWritersRacingOnOneStreamLeaveItContiguous(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            let perWriter = 20
            let ids = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for writer in 0..<32 {
                    group.addTask {
                        var mine: [UUID] = []
                        for _ in 0..<perWriter {
                            let data = event("Tick", #"{"writer":\#(writer)}"#)
                            while true {
                                let current = try await store.version(of: account)
                                do {
                                    try await store.append([data], to: account, expected: .exact(current))
                                    mine.append(data.id)
                                    break
                                } catch EventStoreError.wrongExpectedVersion { continue }
                            }
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let events = try await store.read(account)
            #expect(events.map(\.version) == Array(0..<Int64(32 * perWriter)), "contiguous, no gap")
            #expect(Set(events.compactMap(\.id)) == Set(ids) && events.count == ids.count, "exactly the successful appends, no duplicate")
        }
    }

    @Test(arguments: StoreBackend.all)
    func tenThousandStreamsWithRacingWriters(backend: StoreBackend) async throws {
        try await OpenedStore.with(backend) { store in
            let streams = 10_000
            let appendsPerWriter = 625
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<32 {
                    group.addTask {
                        var generator = SystemRandomNumberGenerator()
                        for _ in 0..<appendsPerWriter {
                            let stream = StreamName(category: "carts", id: "cart-\(Int.random(in: 0..<streams, using: &generator))")
                            while true {
                                let current = try await store.version(of: stream)
                                do {
                                    try await store.append([event("Tick", #"{"writer":\#(writer)}"#)], to: stream, expected: .exact(current))
                                    break
                                } catch EventStoreError.wrongExpectedVersion { continue }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            var count = 0
            var position = CategoryCheckpoint.start
            var perStream: [String: [Int64]] = [:]
            // (On PostgreSQL an empty page may mean "not yet": see categoriesReadFromCheckpoints.)
            var watch = StallWatch("the category's events")
            while count < 32 * appendsPerWriter {
                try watch.check(count)
                let page = try await store.readCategory("carts", after: position, limit: 5000)
                if page.events.isEmpty { try await Task.sleep(for: .milliseconds(20)); continue }
                for event in page.events { perStream[event.stream.id, default: []].append(event.version) }
                count += page.events.count
                position = page.next
            }
            #expect(count == 32 * appendsPerWriter)
            for (id, versions) in perStream {
                #expect(versions == Array(0..<Int64(versions.count)), "stream \(id) is contiguous")
                #expect(try await store.version(of: StreamName(category: "carts", id: id)) == Int64(versions.count - 1))
            }
        }
    }
}
