import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
import SteleCore
@testable import SteleLog
import SteleLogTesting

/// A deterministic simulation: from a seed, a random schedule of appends, flushes and faults —
/// a process crash, a power cut (torn tails), a full disk, a failed fsync, a bit flipped at rest
/// — against the log on `SimulatedFileSystem`, checking after every recovery that every
/// acknowledged append is there byte for byte (or, after damage at rest, refused or reported,
/// never served wrong), that no offset is ever handed out twice, and that an idempotent
/// producer retrying across the faults never gets a batch written twice (the producer state is
/// recovered from its snapshots and the log). A failing seed reproduces:
/// `STELE_SIM_SEED=N swift test --filter FaultSchedule`. `STELE_SIM_SEEDS` sets how many run.
@Suite("Fault-schedule simulation")
struct FaultScheduleSimulationTests {
    static let executor = IOExecutor(threadCount: 1, name: "simulation")
    static let directory = "/data/p-0"

    enum Fault: CustomStringConvertible {
        case process, power, diskFull, fsyncFails, bitFlip(String, Int)
        var description: String {
            switch self {
            case .process: "crash(process)"
            case .power: "crash(power, torn)"
            case .diskFull: "disk full"
            case .fsyncFails: "fsync fails"
            case let .bitFlip(file, at): "bit flip in \((file as NSString).lastPathComponent) at \(at)"
            }
        }
    }

    @Test func randomFaultSchedulesNeverLoseOrReuseAcknowledgedOffsets() async throws {
        let environment = ProcessInfo.processInfo.environment
        if let seed = environment["STELE_SIM_SEED"].flatMap(UInt64.init) {
            try await Self.run(seed: seed)
            return
        }
        // 2,000 schedules: about 30 s of one core (`STELE_SIM_SEEDS=50000` for a longer search).
        let count = environment["STELE_SIM_SEEDS"].flatMap(Int.init) ?? 2_000
        for seed in 0..<UInt64(count) {
            try await Self.run(seed: seed)
            await Task.yield() // the cooperative pool is shared with the suites running beside
        }
    }

    static func config() -> LogConfig {
        var config = LogConfig.tiny
        config.flushPolicy = .always
        return config
    }

    /// One schedule. Throws (naming the seed and the schedule so far) when an invariant breaks.
    static func run(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 1)
        var fileSystem = SimulatedFileSystem(seed: seed)
        var log = try await PartitionLog.open(directory: directory, config: config(), fileSystem: fileSystem, executor: executor)
        var acknowledged: [Int64: String] = [:]
        var highestAssigned: Int64 = -1
        var damagedAtRest = false
        var history: [String] = []
        func fail(_ message: String) -> any Error {
            CrashSimulationFailure(description: "seed \(seed): \(message)\n  schedule: \(history.joined(separator: ", "))")
        }

        // One idempotent producer (id 7, epoch 0): its batch in flight is retried until it is
        // acknowledged, through crashes — as a client retries a request it got no answer to.
        var sequence: Int32 = 0
        var inFlight: String?
        var idempotentAcknowledged: [String] = []
        func idempotentBatch(_ value: String) -> [UInt8] {
            var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
            builder.producerId = 7
            builder.producerEpoch = 0
            builder.baseSequence = sequence
            builder.append(key: Array("p".utf8), value: Array(value.utf8))
            return builder.build()
        }

        for step in 0..<40 {
            let draw = random.next() % 100
            if draw < 20 {
                let value = inFlight ?? "idempotent-s\(seed)-\(sequence)"
                inFlight = value
                do {
                    let result = try await log.append(idempotentBatch(value))
                    if result.baseOffset > highestAssigned {
                        highestAssigned = result.baseOffset
                    }
                    acknowledged[result.baseOffset] = value
                    idempotentAcknowledged.append(value)
                    sequence += 1
                    inFlight = nil
                    history.append("idempotent@\(result.baseOffset)")
                } catch let error as CrashSimulationFailure { throw error } catch {
                    history.append("idempotent refused")
                }
                continue
            }
            if draw < 70 {
                let value = "s\(seed)-\(step)-" + String(repeating: "v", count: Int(random.next() % 300))
                do {
                    let result = try await log.append(Batches.single(key: "k\(random.next() % 4)", value: value))
                    guard result.baseOffset > highestAssigned else { throw fail("offset \(result.baseOffset) handed out again (highest so far \(highestAssigned))") }
                    highestAssigned = result.baseOffset
                    acknowledged[result.baseOffset] = value
                    history.append("append@\(result.baseOffset)")
                } catch let error as CrashSimulationFailure { throw error } catch {
                    history.append("append refused")
                }
                continue
            }
            let fault: Fault
            switch draw {
            case 70..<78: fault = .process
            case 78..<86: fault = .power
            case 86..<92: fault = .diskFull
            case 92..<96: fault = .fsyncFails
            default:
                let segments = (try? fileSystem.contentsOfDirectory(directory).filter { $0.hasSuffix(".log") }.sorted()) ?? []
                guard let name = segments.isEmpty ? nil : segments[Int(random.next() % UInt64(segments.count))],
                      let bytes = fileSystem.contents(of: directory + "/" + name), !bytes.isEmpty else { continue }
                fault = .bitFlip(directory + "/" + name, Int(random.next() % UInt64(bytes.count)))
            }
            history.append("\(fault)")
            switch fault {
            case .diskFull:
                fileSystem.failWrites = ENOSPC
                _ = try? await log.append(Batches.single(key: "k", value: "refused while full"))
                fileSystem.failWrites = nil
                continue // the next append recovers in place (no clock needed: the first attempt is due)
            case .fsyncFails:
                fileSystem.failSyncs = true
                _ = try? await log.append(Batches.single(key: "k", value: "refused: sync fails"))
                fileSystem.failSyncs = false
                // Final: only a restart brings the partition back.
                fileSystem = fileSystem.crashImage(.process, seed: random.next())
            case .process:
                fileSystem = fileSystem.crashImage(.process, seed: random.next())
            case .power:
                fileSystem = fileSystem.crashImage(.power(tornTail: true), seed: random.next())
            case let .bitFlip(path, at):
                // Damage at rest comes long after the write: by then the recovery point (written
                // at most a second after a sync) covers it. Within that second a flipped last
                // batch still looks like a torn write (README, "Faults").
                try? log.writeRecoveryPoint()
                fileSystem = fileSystem.crashImage(.process, seed: random.next())
                var bytes = fileSystem.contents(of: path)!
                bytes[at] ^= UInt8(1 << (random.next() % 8))
                fileSystem.setContents(of: path, to: bytes)
                damagedAtRest = true
            }
            // Recovery, as a restart.
            do {
                log = try await PartitionLog.open(directory: directory, config: config(), fileSystem: fileSystem, executor: executor)
            } catch let LogError.corruption(corruption) {
                guard damagedAtRest else { throw fail("an ordinary crash made recovery refuse: \(corruption)") }
                // Damage at rest in acknowledged data: the operator repairs, losing a reported range.
                guard let report = try await LogRepair.setAsideDamage(directory: directory, fileSystem: fileSystem) else {
                    throw fail("refused (\(corruption)) but repair found nothing to do")
                }
                history.append("repair lost \(report.lost)")
                for offset in acknowledged.keys where offset >= report.lost.lowerBound { acknowledged[offset] = nil }
                highestAssigned = max(highestAssigned, report.lost.upperBound - 1)
                log = try await PartitionLog.open(directory: directory, config: config(), fileSystem: fileSystem, executor: executor)
            }
            // Every acknowledged append is served byte for byte — or, after damage at rest, refused
            // with a corruption error; never something else.
            for (offset, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                do {
                    let read = try await log.read(from: offset, maxBytes: 1) // one batch
                    let record = try Batches.decode(read.batches).first { $0.offset == offset }
                    guard string(record?.record.value) == value else {
                        throw fail("acknowledged offset \(offset) reads as \(String(describing: record.map { string($0.record.value) })) after \(fault)")
                    }
                } catch let error as CrashSimulationFailure { throw error } catch {
                    guard damagedAtRest else { throw fail("acknowledged offset \(offset) unreadable after \(fault): \(error)") }
                    acknowledged[offset] = nil // reported, not served: the damaged batch is lost, loudly
                }
            }
            guard log.logEndOffset > (acknowledged.keys.max() ?? -1) else { throw fail("log end \(log.logEndOffset) is below an acknowledged offset") }
            // No idempotent batch is there twice, however often it was retried.
            if !damagedAtRest {
                var seen: [String: Int] = [:]
                var offset = log.logStartOffset
                while offset < log.highWatermark {
                    let read = try await log.read(from: offset, maxBytes: 1 << 20)
                    let records = try Batches.decode(read.batches)
                    guard let last = records.last else { break }
                    for record in records where record.offset >= offset {
                        if let value = string(record.record.value), value.hasPrefix("idempotent-") { seen[value, default: 0] += 1 }
                    }
                    offset = last.offset + 1
                }
                if let twice = seen.first(where: { $0.value > 1 }) { throw fail("idempotent batch \(twice.key) written \(twice.value) times") }
                for value in idempotentAcknowledged where seen[value] == nil { throw fail("acknowledged idempotent batch \(value) is gone") }
            }
        }
        try? await log.close()
    }
}

struct CrashSimulationFailure: Error, CustomStringConvertible {
    var description: String
}
