import ArgumentParser
import Foundation
import SteleCore
import SteleStore
#if canImport(Glibc)
import Glibc
import SteleEmbedded
#endif

/// The event store under SIGKILL: a child appends events to 50 streams with exact expected
/// versions (retrying conflicts) and prints each acknowledged append; after each kill the
/// parent reopens the store and checks that every acknowledged event is at its version, every
/// stream's versions are contiguous, and no event was stored twice. With `--multi`, half the
/// appends are multi-stream appends to the same stream id in two categories (`crash` and
/// `mirror`: two partition logs, so a transaction): each one's events share a correlation id,
/// and after every kill each correlation id is in both streams or in neither.
enum StoreCrashTest {
    static let streams = 50

    static func categories(multi: Bool) -> [String] { multi ? ["crash", "mirror"] : ["crash"] }

    static func runParent(path: String, cycles: Int, writers: Int, maxLifetimeMs: Int, seed: UInt64, multi: Bool = false) async throws {
        var random = SplitMix64(seed: seed)
        var acknowledged: [String: [Int64: String]] = [:] // stream → version → event id
        var total = 0
        print("stele-crashtest --store\(multi ? " --multi" : ""): \(cycles) cycles, \(writers) writers, seed \(seed), directory \(path)")
        var multiAcknowledged = 0
        for cycle in 1...cycles {
            let lifetime = 20 + Int(random.next() % UInt64(maxLifetimeMs))
            let acks = try runChild(path: path, cycle: cycle, writers: writers, lifetimeMs: lifetime, clock: ChildProcess.clock(forCycle: cycle), multi: multi)
            for ack in acks {
                for (index, id) in ack.ids.enumerated() { acknowledged[ack.stream, default: [:]][ack.firstVersion + Int64(index)] = id }
                total += 1
            }
            let storage = try await EmbeddedEventStorage.open(path: path)
            let store = EventStore(storage)
            var seenIds = Set<UUID>()
            var events = 0
            var correlations: [String: Set<String>] = [:] // correlation id → categories holding it
            for category in categories(multi: multi) {
            for index in 0..<streams {
                let stream = StreamName(category: category, id: "stream-\(index)")
                let read = try await store.read(stream)
                guard read.map(\.version) == Array(0..<Int64(read.count)) else {
                    throw ValidationError("cycle \(cycle): \(stream) versions are not contiguous")
                }
                guard try await store.version(of: stream) == Int64(read.count) - 1 else {
                    throw ValidationError("cycle \(cycle): \(stream) version disagrees with its events")
                }
                for event in read {
                    guard let id = event.id, seenIds.insert(id).inserted else { throw ValidationError("cycle \(cycle): event \(event.id?.uuidString ?? "without id") stored twice") }
                }
                events += read.count
                for event in read { if let correlation = event.metadata.correlationId { correlations[correlation, default: []].insert(category) } }
                for (version, id) in acknowledged[stream.description] ?? [:] {
                    guard version < read.count, read[Int(version)].id?.uuidString == id else {
                        throw ValidationError("cycle \(cycle): acknowledged event \(id) missing at \(stream) version \(version)")
                    }
                }
            }
            }
            if let partial = correlations.first(where: { $0.value.count != categories(multi: multi).count }), multi {
                throw ValidationError("cycle \(cycle): multi-stream append \(partial.key) is only in \(partial.value.sorted())")
            }
            multiAcknowledged = correlations.count
            try await store.close()
            print("cycle \(cycle): killed after \(lifetime) ms, \(acks.count) new acks, \(events) events in \(streams) streams verified")
        }
        print("PASS: \(cycles) SIGKILL cycles, \(total) acknowledged appends at their versions, every stream contiguous, no duplicates"
              + (multi ? "; \(multiAcknowledged) multi-stream appends stored, each in both categories" : ""))
    }

    struct Ack {
        var stream: String
        var firstVersion: Int64
        var ids: [String]

        init?(_ line: Substring) {
            let parts = line.split(separator: " ")
            guard parts.count == 4, parts[0] == "APPENDED", let first = Int64(parts[2]) else { return nil }
            (stream, firstVersion, ids) = (String(parts[1]), first, parts[3].split(separator: ",").map(String.init))
        }
    }

    private static func runChild(path: String, cycle: Int, writers: Int, lifetimeMs: Int, clock: ChildProcess.Clock, multi: Bool) throws -> [Ack] {
        try ChildProcess.runAndKill(arguments: ["--child", "--store", "--directory", path, "--cycle", "\(cycle)", "--writers", "\(writers)"] + (multi ? ["--multi"] : []),
                                    afterMilliseconds: lifetimeMs, clock: clock).compactMap(Ack.init)
    }

    static func report(_ stream: StreamName, _ outcome: AppendOutcome, _ events: [EventData]) {
        let line = "APPENDED \(stream.description) \(outcome.firstVersion) \(events.map(\.id.uuidString).joined(separator: ","))\n"
        line.utf8CString.withUnsafeBufferPointer { _ = write(1, $0.baseAddress, $0.count - 1) }
    }

    static func runChild(path: String, writers: Int, multi: Bool = false) async throws {
        let store = EventStore(try await EmbeddedEventStorage.open(path: path))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<writers {
                group.addTask {
                    while true {
                        let id = "stream-\(Int.random(in: 0..<streams))"
                        let category = categories(multi: multi).randomElement()!
                        let stream = StreamName(category: category, id: id)
                        func events(_ correlation: String? = nil) -> [EventData] {
                            (0..<Int.random(in: 1...3)).map { _ in
                                var metadata = EventMetadata()
                                metadata.correlationId = correlation
                                return EventData(type: "Tick", data: Array(repeating: UInt8(ascii: "x"), count: Int.random(in: 10...600)), metadata: metadata)
                            }
                        }
                        func expectation(_ version: Int64) -> ExpectedVersion { version == -1 ? .noStream : .exact(version) }
                        do {
                            if multi && Bool.random() {
                                let correlation = "m-\(UUID().uuidString)"
                                let pair = [StreamName(category: "crash", id: id), StreamName(category: "mirror", id: id)]
                                let parts = try await pair.asyncMap { StreamAppend(events(correlation), to: $0, expected: expectation(try await store.version(of: $0))) }
                                let outcomes = try await store.append(parts)
                                for (part, outcome) in zip(parts, outcomes) { report(part.stream, outcome, part.events) }
                            } else {
                                let single = events()
                                let outcome = try await store.append(single, to: stream, expected: expectation(try await store.version(of: stream)))
                                report(stream, outcome, single)
                            }
                        } catch EventStoreError.wrongExpectedVersion {
                            continue
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
