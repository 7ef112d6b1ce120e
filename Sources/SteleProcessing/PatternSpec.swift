/// A row pattern, as `MATCH_RECOGNIZE` writes it — `PATTERN (A B+ C) WITHIN INTERVAL '5' MINUTE`
/// — plus what SQL:2016 cannot say and fraud rules need: absence, `A` *not followed by* `B`
/// within a time (`PATTERN (A !B) WITHIN …`).
///
/// A match is a run of a key's consecutive events, in event-time order, each taken by the
/// variable of its term whose condition holds (the first that does, for an alternation
/// `(A | B)`). After a match the next one starts after its last event (SQL's default
/// `AFTER MATCH SKIP PAST LAST ROW`). The pattern ends with a single variable, so a match is
/// known the moment its last event arrives (Flink's rule too).
///
/// With `absent`, the terms are a prefix: each time a key's events complete it, a match waits
/// until `within` has passed after its first event; an event of the key that meets the absent
/// variable's condition by then cancels it, otherwise the watermark passing the deadline
/// fires it. Prefixes overlap freely (no skip): every order must be paid, not only the first.
public struct PatternSpec: Hashable, Sendable {
    public enum Quantifier: Hashable, Sendable {
        case one
        /// `?`
        case optional
        /// `+`
        case oneOrMore
        /// `*`
        case zeroOrMore
        /// `{n}`, `{n,}`, `{n,m}`
        case between(min: Int, max: Int?)

        public var min: Int {
            switch self {
            case .one, .oneOrMore: 1
            case .optional, .zeroOrMore: 0
            case let .between(min, _): min
            }
        }

        public var max: Int? {
            switch self {
            case .one, .optional: 1
            case .oneOrMore, .zeroOrMore: nil
            case let .between(_, max): max
            }
        }
    }

    public struct Term: Hashable, Sendable {
        /// One variable, or an alternation tried left to right.
        public var variables: [String]
        public var quantifier: Quantifier

        public init(_ variables: [String], _ quantifier: Quantifier = .one) {
            (self.variables, self.quantifier) = (variables, quantifier)
        }
    }

    public var terms: [Term]
    /// The variable that must *not* follow the terms within `within` (absence).
    public var absent: String?
    /// The longest a match may last, first event to last (to the deadline, for absence), in ms.
    public var within: Int64?

    public init(terms: [Term], absent: String? = nil, within: Int64? = nil) {
        (self.terms, self.absent, self.within) = (terms, absent, within)
    }

    /// Why the pattern cannot be run, or nil.
    public var problem: String? {
        guard let last = terms.last else { return "a pattern needs at least one variable" }
        for term in terms {
            if term.variables.isEmpty { return "an alternation needs at least one variable" }
            let (min, max) = (term.quantifier.min, term.quantifier.max)
            if min < 0 || (max.map { $0 < Swift.max(min, 1) } ?? false) { return "a quantifier's bounds must be 0 ≤ min ≤ max, max ≥ 1" }
            if min > 1_000 || (max ?? 0) > 1_000 { return "a quantifier may ask for at most 1,000 events" }
        }
        if last.quantifier != .one || last.variables.count != 1 {
            return "a pattern ends with a single variable taken once (so a match is known when its last event arrives)"
        }
        if let within, within <= 0 { return "WITHIN must be positive" }
        if absent != nil && within == nil { return "an absence (!\(absent!)) needs WITHIN: how long to wait" }
        return nil
    }

    /// Every variable the pattern names, in order, once.
    public var variables: [String] {
        var seen: [String] = []
        for variable in terms.flatMap(\.variables) + (absent.map { [$0] } ?? []) where !seen.contains(variable) { seen.append(variable) }
        return seen
    }
}
