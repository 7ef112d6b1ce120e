import Foundation
import Testing
import SteleCore
@testable import SteleLog

@Suite("Expected versions (optimistic concurrency)")
struct ExpectedVersionTests {
    static func events(_ stream: String, _ count: Int) -> [UInt8] {
        Batches.make((0..<count).map { (stream, "event-\($0)") })
    }

    @Test func appendsCheckTheStreamsVersionAtomically() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        _ = try await log.append(Self.events("acc-1", 1), expecting: [.init(expected: .noStream)])
        await #expect(throws: LogError.wrongExpectedVersion(stream: Array("acc-1".utf8), expected: .noStream, actual: 0, offsetDelta: 0)) {
            try await log.append(Self.events("acc-1", 1), expecting: [.init(expected: .noStream)])
        }
        let second = try await log.append(Self.events("acc-1", 2), expecting: [.init(expected: .exact(0))])
        #expect(second.checkedVersions == [0])
        #expect(try await log.append(Self.events("acc-1", 1), expecting: [.init(expected: .any)]).checkedVersions == [2])
        await #expect(throws: LogError.self) { try await log.append(Self.events("acc-1", 1), expecting: [.init(expected: .exact(1))]) }
        _ = try await log.append(Self.events("acc-1", 1), expecting: [.init(expected: .exact(3)), .init(offsetDelta: 0, expected: .streamExists)])
        await #expect(throws: LogError.self) { try await log.append(Self.events("acc-2", 1), expecting: [.init(expected: .streamExists)]) }
        // Within one batch, a later record's expectation counts the earlier records.
        _ = try await log.append(Self.events("acc-3", 3), expecting: [.init(offsetDelta: 0, expected: .noStream), .init(offsetDelta: 2, expected: .exact(1))])
        await #expect(throws: LogError.self) {
            try await log.append(Self.events("acc-4", 2), expecting: [.init(offsetDelta: 1, expected: .noStream)])
        }
        #expect(try await log.streamCount(key: Array("acc-1".utf8)) == 5)
        #expect(try await log.streamCount(key: Array("acc-4".utf8)) == 0, "a refused batch writes nothing")
        try await log.close()
    }

    @Test func concurrentWritersWithTheSameExpectationOneWins() async throws {
        let directory = TemporaryDirectory()
        let log = try await PartitionLog.open(directory: directory.path, config: .tiny)
        for round in 0..<20 {
            let winners = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        (try? await log.append(Self.events("cart-9", 1), expecting: [.init(expected: round == 0 ? .noStream : .exact(Int64(round - 1)))])) != nil
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1, "round \(round): exactly one of eight racing writers wins")
        }
        #expect(try await log.readStream(key: Array("cart-9".utf8)).count == 20)
        try await log.close()
    }
}
