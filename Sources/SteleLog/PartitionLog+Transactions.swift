import SteleCore

/// What a reader may see of open and aborted transactions (Kafka's `isolation_level`).
public enum IsolationLevel: Int8, Sendable, Equatable {
    /// Everything up to the high watermark, transactional or not.
    case readUncommitted = 0
    /// Only up to the last stable offset, with the aborted transactions named so the reader
    /// drops their batches.
    case readCommitted = 1
}

extension PartitionLog {
    /// The first offset of the oldest transaction still open in this partition, or the high
    /// watermark when none is: read_committed readers see nothing at or after it.
    public var lastStableOffset: Int64 {
        state.withLock { max($0.logStartOffset, min($0.highWatermark, $0.producers.firstUnstableOffset ?? .max)) }
    }

    /// The epoch this partition last saw from `producerId`, if it knows the producer.
    public func producerEpoch(of producerId: Int64) -> Int16? {
        state.withLock { $0.producers.producers[producerId]?.epoch }
    }

    /// The producers with a transaction open here and the offset of its first batch.
    public var openTransactions: [Int64: Int64] {
        state.withLock { $0.producers.ongoing }
    }

    /// Aborted transactions whose marker lies at or after `from` and whose first batch lies
    /// before `upTo`.
    public func abortedTransactions(from: Int64, upTo: Int64) -> [AbortedTransaction] {
        state.withLock { $0.producers.abortedTransactions(from: from, upTo: upTo) }
    }

    /// Reads like ``read(from:maxBytes:)``; with ``IsolationLevel/readCommitted`` the batches
    /// stop before the last stable offset and the result names the aborted transactions they
    /// may contain (Kafka's read_committed fetch).
    public func read(from offset: Int64, maxBytes: Int, isolation: IsolationLevel) async throws -> LogReadResult {
        var result = try await read(from: offset, maxBytes: maxBytes)
        guard isolation == .readCommitted else { return result }
        let end = Self.trim(&result.batches, before: result.lastStableOffset)
        if end > offset { result.abortedTransactions = abortedTransactions(from: offset, upTo: end) }
        return result
    }

    /// Drops the batches at or after `limit`; returns the offset after the last one kept.
    static func trim(_ batches: inout [UInt8], before limit: Int64) -> Int64 {
        var position = 0
        var end: Int64 = -1
        while position + RecordBatchHeader.size <= batches.count {
            guard let header = try? batches.withUnsafeBytes({ try RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[position...])) }),
                  header.baseOffset < limit, position + header.totalSize <= batches.count else { break }
            end = header.nextOffset
            position += header.totalSize
        }
        batches.removeLast(batches.count - position)
        return end
    }

    /// Checks a batch as an append would (size, CRC, records, keys) without appending it: a
    /// batch the transaction coordinator will write after its decision must not fail then.
    public func validate(_ batch: [UInt8]) throws {
        _ = try LogValidator.validate(batch, config: config, decompressor: decompressor)
    }

    /// Whether the record at `offset` belongs to a transaction that aborted here: its offset
    /// lies in an aborted transaction's range and its batch is that producer's. Costs one
    /// batch read, and only for a record inside an aborted range.
    func isAborted(offset: Int64) throws -> Bool {
        let candidates = state.withLock { $0.producers.abortedTransactions(from: offset + 1, upTo: offset + 1) }
            .filter { $0.firstOffset <= offset }
        guard !candidates.isEmpty else { return false }
        let batch = try readBlocking(from: offset, maxBytes: RecordBatchHeader.size).batches
        guard batch.count >= RecordBatchHeader.size,
              let header = try? batch.withUnsafeBytes({ try RecordBatchHeader(parsing: $0) }) else { return false }
        return header.attributes.isTransactional && candidates.contains { $0.producerId == header.producerId }
    }
}
