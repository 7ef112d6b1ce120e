import Foundation
import Testing
import SteleCore
@testable import SteleBroker
import SteleLog
import SteleLogTesting

/// The broker's own files crashed at every file operation: topics created (staged aside and
/// renamed in), written to, and deleted (renamed aside, then removed), then the data directory
/// reopened from what a process crash, a power cut and a power cut with torn writes leave.
/// A topic whose creation was acknowledged is there whole with every acknowledged record; one
/// whose deletion was acknowledged is gone; nothing is half-made or offline.
@Suite("Topics: crash at every file operation")
struct TopicCrashTests {
    static let data = "/sim/data"

    struct Outcome {
        var created: Set<String> = []
        var deleted: Set<String> = []
        var records: [String: [String]] = [:]
    }

    static func config(_ fileSystem: SimulatedFileSystem) -> BrokerConfig {
        var config = BrokerConfig(dataDirectory: data)
        config.fileSystem = fileSystem
        config.groupInitialRebalanceDelayMs = 0
        config.maintenanceInterval = .seconds(3600)
        return config
    }

    static func run(on fileSystem: SimulatedFileSystem) async -> Outcome {
        var outcome = Outcome()
        guard let broker = try? await Broker.open(config(fileSystem)) else { return outcome }
        defer { Task { try? await broker.close() } }
        for name in ["orders", "payments", "carts"] {
            do { try await broker.createTopic(name, partitions: 2) } catch { return outcome }
            outcome.created.insert(name)
            for index in 0..<2 {
                let value = "\(name)-\(index)"
                do {
                    let log = try await broker.partition(name, Int32(index % 2), autoCreate: false)
                    var builder = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
                    builder.append(key: Array("k".utf8), value: Array(value.utf8))
                    _ = try await log.append(builder.build())
                } catch { return outcome }
                outcome.records[name, default: []].append(value)
            }
        }
        // From the call on, the deletion is in doubt (a delete that fails may still have been
        // made final by its rename); acknowledged, the topic must be gone.
        outcome.created.remove("payments")
        do { try await broker.deleteTopic("payments") } catch { return outcome }
        outcome.deleted.insert("payments")
        return outcome
    }

    static func freshFileSystem() -> SimulatedFileSystem {
        let fileSystem = SimulatedFileSystem()
        try! fileSystem.createDirectoryDurably(data)
        return fileSystem
    }

    @Test func topicsAreWholeOrAbsentAfterACrashAnywhere() async throws {
        let complete = Self.freshFileSystem()
        let base = complete.operationCount
        let full = await Self.run(on: complete)
        #expect(full.created == ["orders", "carts"] && full.deleted == ["payments"])
        let operations = complete.operationCount - base
        for crashAt in 1...operations {
            let fileSystem = Self.freshFileSystem()
            fileSystem.crashAtOperation = fileSystem.operationCount + crashAt
            let outcome = await Self.run(on: fileSystem)
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let image = fileSystem.crashImage(kind)
                let broker = try await Broker.open(Self.config(image))
                let label = "crash at \(crashAt)/\(operations), \(kind)"
                #expect(broker.offlineTopics.isEmpty, "\(label): \(broker.offlineTopics)")
                for name in outcome.created {
                    guard let topic = broker.topic(name) else { Issue.record("\(label): acknowledged topic \(name) is gone"); continue }
                    #expect(topic.partitions.count == 2, "\(label): \(name) is whole")
                    var values: [String] = []
                    for log in topic.partitions {
                        let bytes = try await log.read(from: 0, maxBytes: 1 << 20).batches
                        var position = 0
                        while position + RecordBatchHeader.size <= bytes.count {
                            let header = try RecordBatchHeader(parsing: Array(bytes[position..<(position + RecordBatchHeader.size)]))
                            let batch = Array(bytes[position..<(position + header.totalSize)])
                            values += try RecordBatch.records(of: batch).compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }
                            position += header.totalSize
                        }
                    }
                    for value in outcome.records[name] ?? [] {
                        #expect(values.contains(value), "\(label): acknowledged record \(value) of \(name) is gone")
                    }
                }
                for name in outcome.deleted { #expect(broker.topic(name) == nil, "\(label): deleted topic \(name) came back") }
                let leftovers = try image.contentsOfDirectory(Self.data + "/topics").filter { $0.contains("~") }
                #expect(leftovers.isEmpty, "\(label): \(leftovers) left behind")
                try await broker.close()
            }
        }
    }
}
