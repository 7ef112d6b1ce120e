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
/// stream's versions are contiguous, and no event was stored twice.
enum StoreCrashTest {
    static let streams = 50

    static func runParent(path: String, cycles: Int, writers: Int, maxLifetimeMs: Int, seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        var acknowledged: [String: [Int64: String]] = [:] // stream → version → event id
        var total = 0
        print("stele-crashtest --store: \(cycles) cycles, \(writers) writers, seed \(seed), directory \(path)")
        for cycle in 1...cycles {
            let lifetime = 20 + Int(random.next() % UInt64(maxLifetimeMs))
            let acks = try runChild(path: path, cycle: cycle, writers: writers, lifetimeMs: lifetime, clock: ChildProcess.clock(forCycle: cycle))
            for ack in acks {
                for (index, id) in ack.ids.enumerated() { acknowledged[ack.stream, default: [:]][ack.firstVersion + Int64(index)] = id }
                total += 1
            }
            let storage = try await EmbeddedEventStorage.open(path: path)
            let store = EventStore(storage)
            var seenIds = Set<UUID>()
            var events = 0
            for index in 0..<streams {
                let stream = StreamName(category: "crash", id: "stream-\(index)")
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
                for (version, id) in acknowledged[stream.id] ?? [:] {
                    guard version < read.count, read[Int(version)].id?.uuidString == id else {
                        throw ValidationError("cycle \(cycle): acknowledged event \(id) missing at \(stream) version \(version)")
                    }
                }
            }
            try await store.close()
            print("cycle \(cycle): killed after \(lifetime) ms, \(acks.count) new acks, \(events) events in \(streams) streams verified")
        }
        print("PASS: \(cycles) SIGKILL cycles, \(total) acknowledged appends at their versions, every stream contiguous, no duplicates")
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

    private static func runChild(path: String, cycle: Int, writers: Int, lifetimeMs: Int, clock: ChildProcess.Clock) throws -> [Ack] {
        try ChildProcess.runAndKill(arguments: ["--child", "--store", "--directory", path, "--cycle", "\(cycle)", "--writers", "\(writers)"],
                                    afterMilliseconds: lifetimeMs, clock: clock).compactMap(Ack.init)
    }

    static func runChild(path: String, writers: Int) async throws {
        let store = EventStore(try await EmbeddedEventStorage.open(path: path))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<writers {
                group.addTask {
                    while true {
                        let stream = StreamName(category: "crash", id: "stream-\(Int.random(in: 0..<streams))")
                        let events = (0..<Int.random(in: 1...3)).map { _ in
                            EventData(type: "Tick", data: Array(repeating: UInt8(ascii: "x"), count: Int.random(in: 10...600)))
                        }
                        let current = try await store.version(of: stream)
                        do {
                            let outcome = try await store.append(events, to: stream, expected: current == -1 ? .noStream : .exact(current))
                            let line = "APPENDED \(stream.id) \(outcome.firstVersion) \(events.map(\.id.uuidString).joined(separator: ","))\n"
                            line.utf8CString.withUnsafeBufferPointer { _ = write(1, $0.baseAddress, $0.count - 1) }
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
