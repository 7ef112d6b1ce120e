import ArgumentParser
import Foundation
import SteleCore
import SteleStore
import SteleViews
import SteleEmbedded

/// Rebuilds under SIGKILL: a child rebuilds a view (new tables beside the live ones, then a swap)
/// and is killed at random moments. After every kill the rebuild's tables must hold exactly the
/// events before their checkpoint, and the checkpoint must never go back — the next child
/// resumes the rebuild, it does not start again from zero. At the end the swapped-in view
/// equals the view as first built.
enum RebuildCrashTest {
    static let events = 60_000

    static func location(_ path: String) throws -> SQLiteViewLocation {
        try SQLiteViewLocation(directory: path + "/views", name: "balances")
    }

    static func runParent(path: String, cycles: Int, maxLifetimeMs: Int, seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        print("stele-crashtest --view --rebuild: up to \(cycles) cycles, seed \(seed), directory \(path)")
        // The log and the view as first built.
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        for chunk in stride(from: 0, to: events, by: 100) {
            let batch = (chunk..<chunk + 100).map { EventData(type: "Deposited", data: Array(String($0 % 1000 - 300).utf8)) }
            try await store.append(batch, to: StreamName(category: "accounts", id: "account-\(Int(random.next() % 50))"))
        }
        let original = MaterializedView(projection: ViewCrashTest.Balances(), store: store, location: try location(path), batchSize: 500)
        try await original.start()
        try await original.waitUntilCaughtUp()
        let expected = try await rows(original)
        await original.stop()
        try await store.close()

        var resumedAt: Int64 = 0
        var kills = 0
        var killedMidRebuild = 0
        for cycle in 1...cycles {
            if try location(path).current() == 2 { break }
            let lifetime = 50 + Int(random.next() % UInt64(maxLifetimeMs))
            _ = try ChildProcess.runAndKill(arguments: ["--child", "--view", "--rebuild", "--directory", path], afterMilliseconds: lifetime,
                                            clock: ChildProcess.clock(forCycle: cycle))
            kills += 1
            guard try location(path).current() == 1 else { print("cycle \(cycle): the rebuild finished and was swapped in"); break }
            // (Looked at before `inspect`, which opens, and so creates, the generation's file.)
            if try await location(path).hasUnfinishedRebuild() { killedMidRebuild += 1 }
            let (applied, checkpoint) = try await ViewCrashTest.inspect(try location(path).path(of: 2))
            guard applied == checkpoint else {
                throw ValidationError("cycle \(cycle): the rebuild's tables hold \(applied) events but its checkpoint says \(checkpoint)")
            }
            guard checkpoint >= resumedAt else {
                throw ValidationError("cycle \(cycle): the rebuild went back from \(resumedAt) to \(checkpoint) events: it restarted instead of resuming")
            }
            print("cycle \(cycle): killed after \(lifetime) ms, rebuild at \(checkpoint) of \(events) events (was \(resumedAt))")
            resumedAt = checkpoint
        }
        // Let the last child finish the rebuild and swap, then compare with the first build.
        let reopened = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        let view = MaterializedView(projection: ViewCrashTest.Balances(), store: reopened, location: try location(path), batchSize: 500)
        try await view.start()
        // (Every child may have been killed before it began the rebuild: begin it here then.)
        if try location(path).current() == 1, try await !location(path).hasUnfinishedRebuild() { try await view.rebuild() }
        try await view.waitForRebuild()
        guard killedMidRebuild > 0 || kills == 1 else {
            throw ValidationError("none of \(kills) kills landed during the rebuild: the test tested nothing")
        }
        guard try location(path).current() == 2 else { throw ValidationError("the rebuild never swapped in") }
        let rebuilt = try await rows(view)
        await view.stop()
        try await reopened.close()
        guard rebuilt == expected else { throw ValidationError("the rebuilt view differs from the first build") }
        print("PASS: \(kills) SIGKILLs during a rebuild of \(events) events; each resumed where the last stopped; the swapped-in view equals the first build (CRC32C \(String(format: "%08x", CRC32C.checksum(Array(rebuilt.utf8)))))")
    }

    static func rows(_ view: MaterializedView) async throws -> String {
        try await view.query(SQLStatement("SELECT account, balance, events FROM balances ORDER BY account"))
            .map { "\($0["account"]!) \($0["balance"]!) \($0["events"]!)" }.joined(separator: "\n")
    }

    /// Resumes the rebuild (or starts it, the first time) and runs until it is swapped in.
    static func runChild(path: String) async throws {
        let store = EventStore(try await EmbeddedEventStorage.open(path: path + "/data", flushPolicy: .os))
        let location = try location(path)
        let view = MaterializedView(projection: ViewCrashTest.Balances(), store: store, location: location, batchSize: 200)
        try await view.start()
        if try location.current() == 1, try await !location.hasUnfinishedRebuild() { try await view.rebuild() }
        printReady()
        try await view.waitForRebuild()
        await view.stop()
        try await store.close()
    }
}
