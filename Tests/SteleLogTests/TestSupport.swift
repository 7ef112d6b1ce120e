import Foundation
import SteleCore
import SteleLog
import SteleLogTesting

/// A fresh directory under the system temp dir, removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "stele-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A clock tests move by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: Int64

    init(_ start: Int64 = 1_700_000_000_000) { now = start }

    var milliseconds: Int64 { lock.withLock { now } }
    func advance(by milliseconds: Int64) { lock.withLock { now += milliseconds } }
    var function: @Sendable () -> Int64 { { self.milliseconds } }
}

enum Batches {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// One batch of records `(key, value)` stamped `timestamp`.
    static func make(_ records: [(String?, String?)], timestamp: Int64 = 1_700_000_000_000, headers: [RecordHeader] = []) -> [UInt8] {
        var builder = RecordBatchBuilder(baseTimestamp: timestamp)
        for (key, value) in records {
            builder.append(key: key.map(bytes), value: value.map(bytes), headers: headers, timestamp: timestamp)
        }
        return builder.build()
    }

    static func single(key: String?, value: String?, timestamp: Int64 = 1_700_000_000_000) -> [UInt8] {
        make([(key, value)], timestamp: timestamp)
    }

    /// Splits bytes returned by a read into (baseOffset, records).
    static func decode(_ bytes: [UInt8]) throws -> [(offset: Int64, record: Record)] {
        var result: [(Int64, Record)] = []
        var position = 0
        while position < bytes.count {
            let batch = Array(bytes[position...])
            let header = try RecordBatchHeader(parsing: batch)
            let slice = Array(batch[..<header.totalSize])
            try RecordBatch.validate(slice, origin: .stored)
            for record in try RecordBatch.records(of: slice) {
                result.append((header.baseOffset + Int64(record.offsetDelta), record))
            }
            position += header.totalSize
        }
        return result
    }
}

extension PartitionLog {
    /// Every visible record from `offset` on, reading in small steps.
    func readAll(from offset: Int64 = 0, maxBytes: Int = 1500) async throws -> [(offset: Int64, record: Record)] {
        var records: [(Int64, Record)] = []
        var next = max(offset, logStartOffset)
        while next < highWatermark {
            let result = try await read(from: next, maxBytes: maxBytes)
            let decoded = try Batches.decode(result.batches).filter { $0.offset >= next }
            guard let last = decoded.last else { break }
            records += decoded
            next = last.offset + 1
        }
        return records
    }
}

func string(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
