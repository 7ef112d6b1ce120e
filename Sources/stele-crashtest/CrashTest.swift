import ArgumentParser
import Foundation
import SteleCore
import SteleLog
#if canImport(Glibc)
import Glibc
#endif

/// Kills a real appending process with SIGKILL at random moments and checks, after each
/// restart, that every append it acknowledged is in the log byte for byte.
///
/// The child appends with `flush=always` from several tasks and prints `ACK offset cycle writer
/// sequence` after each acknowledged append. Batch contents are a function of (cycle, writer,
/// sequence), so the parent rebuilds the exact bytes it expects at each acknowledged offset.
@main
struct CrashTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stele-crashtest",
        abstract: "SIGKILL an appending process at random moments and verify every acknowledged record.")

    @Option(help: "Kill/restart cycles.")
    var cycles = 20

    @Option(help: "Partition directory (default: a fresh temporary one, removed on success).")
    var directory: String?

    @Option(help: "Concurrent appenders in the child.")
    var writers = 4

    @Option(help: "Longest time the child runs before it is killed, in milliseconds.")
    var maxLifetimeMs = 400

    @Option(help: "Start a new log every N cycles (0: never), so long runs verify in bounded time.")
    var freshEvery = 0

    @Option(help: "Random seed for kill times.")
    var seed: UInt64 = UInt64(UInt32.random(in: 0...UInt32.max))

    @Flag(help: "Crash the event store (streams with expected versions) instead of the raw log.")
    var store = false

    @Flag(help: "With --store: half the appends are multi-stream appends across two categories (a transaction).")
    var multi = false

    @Flag(help: "Crash a projection folding a category into a SQLite view.")
    var view = false

    @Flag(help: "With --view: crash a rebuild of the view instead (it must resume, not restart).")
    var rebuild = false

    @Flag(help: "Crash a windowed processor (WindowProcessor) over a category.")
    var processor = false

    @Flag(help: "With --processor: session windows rather than tumbling ones.")
    var session = false

    @Flag(help: "With --processor: a row pattern (PatternProcessor) rather than windows.")
    var pattern = false

    @Flag(help: "With --processor: an interval join of the category with itself (JoinProcessor) rather than windows.")
    var join = false

    @Flag(help: .hidden)
    var final = false

    @Flag(help: .hidden)
    var child = false

    @Option(help: .hidden)
    var cycle = 0

    static func config() -> LogConfig {
        var config = LogConfig()
        config.flushPolicy = .always
        // Small segments so that kills also land in rolls.
        config.segmentBytes = 256 << 10
        return config
    }

    func run() async throws {
        if processor {
            let path = directory ?? NSTemporaryDirectory() + "stele-crashtest-processor-\(getpid())"
            let mode: ProcessorCrashTest.Mode = join ? .join : pattern ? .pattern : (session ? .session : .tumbling)
            if child { return try await ProcessorCrashTest.runChild(path: path, final: final, mode: mode) }
            try await ProcessorCrashTest.runParent(path: path, cycles: cycles, maxLifetimeMs: maxLifetimeMs, seed: seed, mode: mode)
            if directory == nil { try? FileManager.default.removeItem(atPath: path) }
            return
        }
        if view {
            let path = directory ?? NSTemporaryDirectory() + "stele-crashtest-view-\(getpid())"
            if rebuild {
                if child { return try await RebuildCrashTest.runChild(path: path) }
                try await RebuildCrashTest.runParent(path: path, cycles: cycles, maxLifetimeMs: maxLifetimeMs, seed: seed)
            } else {
                if child { return try await ViewCrashTest.runChild(path: path) }
                try await ViewCrashTest.runParent(path: path, cycles: cycles, maxLifetimeMs: maxLifetimeMs, seed: seed)
            }
            if directory == nil { try? FileManager.default.removeItem(atPath: path) }
            return
        }
        if store {
            let path = directory ?? NSTemporaryDirectory() + "stele-crashtest-store-\(getpid())"
            if child { return try await StoreCrashTest.runChild(path: path, writers: writers, multi: multi) }
            try await StoreCrashTest.runParent(path: path, cycles: cycles, writers: writers, maxLifetimeMs: maxLifetimeMs, seed: seed, multi: multi)
            if directory == nil { try? FileManager.default.removeItem(atPath: path) }
            return
        }
        if child {
            try await ChildAppender(directory: directory!, cycle: cycle, writers: writers).run()
        } else {
            try await runParent()
        }
    }

    private func runParent() async throws {
        let path = directory ?? NSTemporaryDirectory() + "stele-crashtest-\(getpid())"
        var random = SplitMix64(seed: seed)
        var acknowledged: [Int64: Acknowledgement] = [:]
        var truncations = 0
        print("stele-crashtest: \(cycles) cycles, \(writers) appenders, seed \(seed), directory \(path)")
        var totalVerified = 0
        for cycle in 1...cycles {
            if freshEvery > 0 && cycle > 1 && (cycle - 1) % freshEvery == 0 {
                totalVerified += acknowledged.count
                acknowledged.removeAll()
                try FileManager.default.removeItem(atPath: path)
            }
            let lifetime = 20 + Int(random.next() % UInt64(maxLifetimeMs))
            let acks = try runChild(path: path, cycle: cycle, lifetimeMs: lifetime, clock: ChildProcess.clock(forCycle: cycle))
            for ack in acks { acknowledged[ack.offset] = ack }
            let log = try await PartitionLog.open(directory: path, config: Self.config())
            if log.recoveryReport.truncatedBytes > 0 { truncations += 1 }
            guard log.recoveryReport.corruptions.isEmpty else {
                throw ValidationError("cycle \(cycle): recovery found corruption \(log.recoveryReport.corruptions)")
            }
            try await Verifier.check(log, acknowledged: acknowledged, cycle: cycle)
            try await log.close()
            print("cycle \(cycle): killed after \(lifetime) ms, \(acks.count) new acks, \(acknowledged.count) verified, log end \(log.logEndOffset)"
                  + (log.recoveryReport.truncatedBytes > 0 ? ", torn tail of \(log.recoveryReport.truncatedBytes) B truncated" : ""))
        }
        totalVerified += acknowledged.count
        print("PASS: \(cycles) SIGKILL cycles, \(totalVerified) acknowledged appends verified byte for byte, \(truncations) torn tails truncated")
        if directory == nil { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Starts the child, lets it append for `lifetimeMs` (from its start or its first ack),
    /// kills it with SIGKILL, returns its acks.
    private func runChild(path: String, cycle: Int, lifetimeMs: Int, clock: ChildProcess.Clock) throws -> [Acknowledgement] {
        try ChildProcess.runAndKill(arguments: ["--child", "--directory", path, "--cycle", "\(cycle)", "--writers", "\(writers)"],
                                    afterMilliseconds: lifetimeMs, clock: clock).compactMap(Acknowledgement.init)
    }
}

struct Acknowledgement {
    var offset: Int64
    var cycle: Int
    var writer: Int
    var sequence: Int

    init?(_ line: Substring) {
        let parts = line.split(separator: " ")
        guard parts.count == 5, parts[0] == "ACK", let offset = Int64(parts[1]), let cycle = Int(parts[2]),
              let writer = Int(parts[3]), let sequence = Int(parts[4]) else { return nil }
        (self.offset, self.cycle, self.writer, self.sequence) = (offset, cycle, writer, sequence)
    }

    init(offset: Int64, cycle: Int, writer: Int, sequence: Int) {
        (self.offset, self.cycle, self.writer, self.sequence) = (offset, cycle, writer, sequence)
    }

    /// The batch the child appended for this acknowledgement, with the offset the log gave it.
    var expectedBytes: [UInt8] {
        var bytes = Self.batch(cycle: cycle, writer: writer, sequence: sequence)
        bytes.withUnsafeMutableBytes { RecordBatch.setBaseOffset(offset, in: $0) }
        return bytes
    }

    /// 1–3 records, values of 10–1,500 bytes: contents and sizes vary but are reproducible.
    static func batch(cycle: Int, writer: Int, sequence: Int) -> [UInt8] {
        var random = SplitMix64(seed: UInt64(cycle) << 40 ^ UInt64(writer) << 32 ^ UInt64(sequence))
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000 + Int64(cycle) * 1_000_000 + Int64(sequence))
        for record in 0..<(1 + Int(random.next() % 3)) {
            let length = 10 + Int(random.next() % 1490)
            let value = (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ Int(random.next() % 7) &+ record) }
            builder.append(key: Array("writer-\(writer)".utf8), value: value,
                           headers: [RecordHeader(key: "cycle", value: Array("\(cycle)".utf8))])
        }
        return builder.build()
    }
}

struct ChildAppender {
    let directory: String
    let cycle: Int
    let writers: Int

    func run() async throws {
        let log = try await PartitionLog.open(directory: directory, config: CrashTest.config())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var sequence = 0
                    while true {
                        let result = try await log.append(Acknowledgement.batch(cycle: cycle, writer: writer, sequence: sequence))
                        // One write(2) per line, so a kill never leaves a buffered ack unprinted
                        // that the parent should have seen, nor prints one that was not acknowledged.
                        let line = "ACK \(result.baseOffset) \(cycle) \(writer) \(sequence)\n"
                        line.utf8CString.withUnsafeBufferPointer { _ = write(1, $0.baseAddress, $0.count - 1) }
                        sequence += 1
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

enum Verifier {
    /// One sequential pass over the whole log: every batch is valid, offsets have no holes,
    /// and the batch at each acknowledged offset is byte for byte the one the child appended.
    static func check(_ log: PartitionLog, acknowledged: [Int64: Acknowledgement], cycle: Int) async throws {
        var offset: Int64 = 0
        var found = 0
        while offset < log.highWatermark {
            let read = try await log.read(from: offset, maxBytes: 1 << 20)
            var position = 0
            while position < read.batches.count {
                let header = try RecordBatchHeader(parsing: Array(read.batches[position..<(position + RecordBatchHeader.size)]))
                guard header.baseOffset == offset else { throw ValidationError("cycle \(cycle): hole or overlap at offset \(offset)") }
                let batch = Array(read.batches[position..<(position + header.totalSize)])
                try RecordBatch.validate(batch, origin: .stored)
                if let ack = acknowledged[offset] {
                    guard batch == ack.expectedBytes else {
                        throw ValidationError("cycle \(cycle): acknowledged batch at offset \(offset) (cycle \(ack.cycle), writer \(ack.writer), seq \(ack.sequence)) differs")
                    }
                    found += 1
                }
                offset = header.nextOffset
                position += header.totalSize
            }
        }
        guard found == acknowledged.count else {
            let missing = acknowledged.keys.filter { $0 >= offset }.sorted().prefix(3)
            throw ValidationError("cycle \(cycle): \(acknowledged.count - found) acknowledged batches missing, e.g. offsets \(Array(missing))")
        }
    }
}

