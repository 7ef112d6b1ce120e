/// Recognises an append that already happened: the events a retried append would add are
/// compared with the events already at those positions, by id.
public enum Idempotency {
    /// How far back an append with no exact expected version (`any`, `streamExists`) looks for
    /// its event ids (KurrentDB likewise checks only recent events for such appends).
    public static let window: Int64 = 1000

    public enum Verdict: Equatable, Sendable {
        /// None of the ids is there: a genuine conflict (or a fresh append).
        case new
        /// Every event is already there, in order, from this version.
        case alreadyAppended(firstVersion: Int64)
        /// Some ids are there and some are not, or in another order.
        case partialOverlap(String)
    }

    /// Compares the ids of `events` with `existing`, the stream's events that start where the
    /// append was meant to start (exact expectations) or the stream's recent events (others).
    public static func verdict(for events: [EventData], existing: [RecordedEvent], atExpectedPosition: Bool) -> Verdict {
        let ids = events.map(\.id)
        let wanted = Set(ids)
        let found = existing.filter { $0.id.map(wanted.contains) ?? false }
        if found.isEmpty { return .new }
        guard found.count == ids.count, found.map(\.id) == ids,
              zip(found, found.dropFirst()).allSatisfy({ $1.version == $0.version + 1 }),
              !atExpectedPosition || found[0].version == existing[0].version else {
            return .partialOverlap("\(found.count) of the \(ids.count) event ids appended are already in the stream "
                + "(first at version \(found[0].version)) but not as exactly this append: nothing was written")
        }
        return .alreadyAppended(firstVersion: found[0].version)
    }
}
