import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
import SteleCore
@testable import SteleBroker
import SteleLog
import SteleLogTesting

/// A deterministic simulation of the broker's own state under random fault schedules: from a
/// seed, topics are created and deleted, records produced (idempotently, retried through the
/// faults) and offsets committed, between process crashes, power cuts with torn tails, a full
/// disk and failed fsyncs. After every restart: each acknowledged topic is whole with its
/// acknowledged records (an idempotent one exactly once), each acknowledged deletion holds, no
/// topic is offline or half-made, and each group's committed offset is at least the last one
/// acknowledged. A failing seed replays with `STELE_BROKER_SIM_SEED=N`; `STELE_BROKER_SIM_SEEDS`
/// sets how many run.
@Suite("Broker fault-schedule simulation")
struct BrokerFaultScheduleTests {
    static let data = "/sim/data"
    static let names = ["orders", "payments", "carts"]

    struct Failure: Error, CustomStringConvertible { var description: String }

    static func config(_ fileSystem: SimulatedFileSystem) -> BrokerConfig {
        var config = BrokerConfig(dataDirectory: data)
        config.fileSystem = fileSystem
        config.groupInitialRebalanceDelayMs = 0
        config.maintenanceInterval = .seconds(3600)
        config.autoCreateTopics = false
        return config
    }

    @Test func randomFaultSchedulesKeepTopicsRecordsAndOffsets() async throws {
        let environment = ProcessInfo.processInfo.environment
        if let seed = environment["STELE_BROKER_SIM_SEED"].flatMap(UInt64.init) { return try await Self.run(seed: seed) }
        let count = environment["STELE_BROKER_SIM_SEEDS"].flatMap(Int.init) ?? 1_000
        for seed in 0..<UInt64(count) {
            try await Self.run(seed: seed)
            await Task.yield()
        }
    }

    static func run(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed &* 0xD1B5_4A32_D192_ED03 &+ 3)
        var fileSystem = SimulatedFileSystem(seed: seed)
        try fileSystem.createDirectoryDurably(data)
        var broker = try await Broker.open(config(fileSystem))
        var topics: [String: Bool] = [:]          // acknowledged state: true = exists, false = deleted
        var inDoubt: Set<String> = []             // a create or delete that failed: either outcome
        var records: [String: [String]] = [:]     // acknowledged values per existing topic
        var committed: Int64 = -1                 // last acknowledged commit of group g
        var nextCommit: Int64 = 0
        var sequences: [String: Int32] = [:]     // the producer's next sequence per topic (a new topic starts at 0)
        var inFlight: (topic: String, value: String)?
        var history: [String] = []
        func fail(_ message: String) -> Failure { Failure(description: "seed \(seed): \(message)\n  schedule: \(history.joined(separator: ", "))") }

        for step in 0..<30 {
            let draw = random.next() % 100
            let name = names[Int(random.next() % UInt64(names.count))]
            switch draw {
            case 0..<15:
                do {
                    try await broker.createTopic(name, partitions: 1)
                    topics[name] = true; inDoubt.remove(name); records[name] = []; sequences[name] = 0
                    history.append("create \(name)")
                } catch BrokerError.topicAlreadyExists(_) { history.append("create \(name): exists") } catch {
                    inDoubt.insert(name); history.append("create \(name) failed")
                }
            case 15..<22:
                do {
                    try await broker.deleteTopic(name)
                    topics[name] = false; inDoubt.remove(name); records[name] = nil
                    if inFlight?.topic == name { inFlight = nil }
                    history.append("delete \(name)")
                } catch BrokerError.unknownTopicOrPartition(_, _) { history.append("delete \(name): unknown") } catch {
                    inDoubt.insert(name); records[name] = nil; history.append("delete \(name) failed")
                }
            case 22..<60:
                // An idempotent producer (id 7): its batch is retried until acknowledged.
                let target = inFlight ?? (name, "v\(seed)-\(step)")
                guard topics[target.topic] == true, !inDoubt.contains(target.topic) else { inFlight = nil; continue }
                inFlight = target
                var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
                builder.producerId = 7
                builder.producerEpoch = 0
                builder.baseSequence = sequences[target.topic] ?? 0
                builder.append(key: Array("k".utf8), value: Array(target.value.utf8))
                do {
                    let log = try await broker.partition(target.topic, 0, autoCreate: false)
                    _ = try await log.append(builder.build())
                    records[target.topic, default: []].append(target.value)
                    sequences[target.topic, default: 0] += 1
                    inFlight = nil
                    history.append("produce \(target.topic)")
                } catch { history.append("produce \(target.topic) failed") }
            case 60..<75:
                let offset = nextCommit
                nextCommit += 1
                let entry = (OffsetStore.Key(group: "g", topic: "orders", partition: 0),
                             OffsetStore.Committed?.some(.init(offset: offset, leaderEpoch: -1, metadata: nil, commitTimestamp: 0)))
                do {
                    try await broker.groups.offsets.store([entry])
                    committed = offset
                    history.append("commit \(offset)")
                } catch { history.append("commit \(offset) failed") }
            default:
                let fault = random.next() % 4
                let image: SimulatedFileSystem
                switch fault {
                case 0:
                    history.append("crash(process)")
                    image = fileSystem.crashImage(.process, seed: random.next())
                case 1:
                    history.append("crash(power, torn)")
                    image = fileSystem.crashImage(.power(tornTail: true), seed: random.next())
                case 2:
                    history.append("disk full")
                    fileSystem.failWrites = ENOSPC
                    _ = try? await broker.createTopic("full\(step)", partitions: 1)
                    if let topic = topics.first(where: { $0.value })?.key, let log = try? await broker.partition(topic, 0, autoCreate: false) {
                        _ = try? await log.append(Batches.single("refused"))
                    }
                    fileSystem.failWrites = nil
                    inDoubt.insert("full\(step)")
                    continue
                default:
                    history.append("fsync fails")
                    fileSystem.failSyncs = true
                    _ = try? await broker.groups.offsets.store([(OffsetStore.Key(group: "g", topic: "x", partition: 0),
                                                                  .init(offset: 0, leaderEpoch: -1, metadata: nil, commitTimestamp: 0))])
                    fileSystem.failSyncs = false
                    image = fileSystem.crashImage(.process, seed: random.next())
                }
                try? await broker.close()
                fileSystem = image
                do { broker = try await Broker.open(config(fileSystem)) } catch { throw fail("the broker did not reopen: \(error)") }
                try await check()
            }
        }
        try? await broker.close()

        func check() async throws {
            let offline = broker.offlineTopics
            guard offline.isEmpty else { throw fail("offline topics after a restart: \(offline)") }
            for (name, exists) in topics where !inDoubt.contains(name) {
                let present = broker.topic(name) != nil
                guard present == exists else { throw fail("\(name) should \(exists ? "exist" : "be deleted") but \(present ? "exists" : "is gone")") }
                guard exists, let log = broker.topic(name)?.partitions.first else { continue }
                var values: [String: Int] = [:]
                var offset = log.logStartOffset
                while offset < log.highWatermark {
                    let read = try await log.read(from: offset, maxBytes: 1 << 20)
                    let decoded = try Batches.decode(read.batches)
                    guard let last = decoded.last else { break }
                    for (recordOffset, value) in decoded where recordOffset >= offset { values[value, default: 0] += 1 }
                    offset = last.offset + 1
                }
                for value in records[name] ?? [] {
                    guard values[value] == 1 else { throw fail("acknowledged record \(value) of \(name) is there \(values[value] ?? 0) times") }
                }
            }
            let leftovers = (try? fileSystem.contentsOfDirectory(data + "/topics").filter { $0.contains("~") }) ?? []
            guard leftovers.isEmpty else { throw fail("leftovers in topics/: \(leftovers)") }
            let found = await broker.groups.committed(group: "g")[OffsetStore.Key(group: "g", topic: "orders", partition: 0)]?.offset ?? -1
            guard found >= committed else { throw fail("committed offset \(committed) came back as \(found)") }
        }
    }
}

/// Record batches for the simulation.
enum Batches {
    static func single(_ value: String) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        builder.append(key: Array("k".utf8), value: Array(value.utf8))
        return builder.build()
    }

    static func decode(_ bytes: [UInt8]) throws -> [(offset: Int64, value: String)] {
        var result: [(Int64, String)] = []
        var position = 0
        while position + RecordBatchHeader.size <= bytes.count {
            let header = try RecordBatchHeader(parsing: Array(bytes[position..<(position + RecordBatchHeader.size)]))
            let batch = Array(bytes[position..<(position + header.totalSize)])
            for record in try RecordBatch.records(of: batch) {
                result.append((header.baseOffset + Int64(record.offsetDelta), String(decoding: record.value ?? [], as: UTF8.self)))
            }
            position += header.totalSize
        }
        return result
    }
}
