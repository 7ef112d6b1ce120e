/// What a writer expects of a stream before appending to it: the optimistic-concurrency check
/// of an event store (KurrentDB's expected revision).
///
/// A stream is the records with one key; its version is the number of such records minus one
/// (the version of its last event), -1 when it has none.
public enum ExpectedVersion: Sendable, Equatable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must have no events yet.
    case noStream
    /// The stream must have at least one event.
    case streamExists
    /// The stream's last event must have this version.
    case exact(Int64)

    /// Whether a stream whose last version is `current` (-1: empty) satisfies the expectation.
    public func isSatisfied(byCurrentVersion current: Int64) -> Bool {
        switch self {
        case .any: true
        case .noStream: current == -1
        case .streamExists: current >= 0
        case let .exact(version): current == version
        }
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .streamExists: "stream exists"
        case let .exact(version): "version \(version)"
        }
    }
}
