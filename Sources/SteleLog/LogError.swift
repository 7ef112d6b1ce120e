import SteleCore

/// Why a log operation failed.
public enum LogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The batch was refused before anything was written; the log is unchanged.
    case invalidBatch(String)
    /// The batch is larger than `maxBatchBytes`.
    case batchTooLarge(size: Int, limit: Int)
    /// A read asked for an offset outside `[logStartOffset, logEndOffset]`.
    case offsetOutOfRange(requested: Int64, logStartOffset: Int64, logEndOffset: Int64)
    /// Stored bytes failed their checksum or do not parse. They are never served.
    case corruption(LogCorruption)
    /// A file operation failed. After a failed write the log refuses further appends until it
    /// is reopened, because what reached the disk is unknown; recovery then finds out.
    case storage(StorageError)
    case closed
    /// The idempotent-producer checks refused the batch (nothing was written).
    case producerRejected(ProducerRejection)
    /// A stream was not at the expected version (nothing was written). `offsetDelta` is the
    /// position in its batch of the record whose expectation failed.
    case wrongExpectedVersion(stream: [UInt8], expected: ExpectedVersion, actual: Int64, offsetDelta: Int32)

    /// Why a producer's batch was refused (kafka-protocol.md §2.6).
    public enum ProducerRejection: Sendable, Equatable {
        case outOfOrderSequence(String)
        case invalidProducerEpoch(String)
        case unknownProducerId(String)
        /// A plain batch from a producer whose transaction is still open here (Kafka
        /// INVALID_TXN_STATE): it would be neither inside the transaction nor outside it.
        case invalidTransactionState(String)

        public var reason: String {
            switch self {
            case let .outOfOrderSequence(reason), let .invalidProducerEpoch(reason), let .unknownProducerId(reason),
                 let .invalidTransactionState(reason): reason
            }
        }
    }

    public var description: String {
        switch self {
        case let .invalidBatch(reason): "invalid batch: \(reason)"
        case let .batchTooLarge(size, limit): "batch of \(size) bytes exceeds the limit of \(limit) bytes"
        case let .offsetOutOfRange(requested, start, end): "offset \(requested) is outside the log [\(start), \(end)]"
        case let .corruption(corruption): corruption.description
        case let .storage(error): "storage error: \(error)"
        case .closed: "the log is closed"
        case let .producerRejected(rejection): rejection.reason
        case let .wrongExpectedVersion(stream, expected, actual, _):
            "stream \(String(decoding: stream, as: UTF8.self)) expected \(expected) but its current version is \(actual)"
        }
    }
}

/// Where damage was found: the file, the byte position inside it and what was wrong.
public struct LogCorruption: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var position: Int64
    public var reason: String

    public init(file: String, position: Int64, reason: String) {
        self.file = file
        self.position = position
        self.reason = reason
    }

    public var description: String { "corruption in \(file) at byte \(position): \(reason)" }
}

extension LogError {
    /// Classifies an error from a file operation: `LogError`s pass through, anything else is a storage failure.
    init(wrapping error: any Error) {
        if let error = error as? LogError { self = error; return }
        if let error = error as? StorageError { self = .storage(error); return }
        self = .storage(StorageError(operation: "io", path: "", code: 0, reason: "\(error)"))
    }
}
