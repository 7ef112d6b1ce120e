import SteleCore

/// The expectation attached to one record of an append: before that record, its stream (the
/// record's key) must be at `expected`. Records of the batch before it count, checked or not.
public struct StreamExpectation: Sendable, Equatable {
    /// The record's position in its batch (its offset delta).
    public var offsetDelta: Int32
    public var expected: ExpectedVersion

    public init(offsetDelta: Int32 = 0, expected: ExpectedVersion) {
        self.offsetDelta = offsetDelta
        self.expected = expected
    }
}
