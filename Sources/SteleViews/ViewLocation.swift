/// Where a view's tables live across rebuilds: the live tables that queries read, and — while a
/// rebuild runs — a second set being filled from the start of the log, which replaces the live
/// one in a single step.
public protocol ViewLocation: Sendable {
    /// The live tables (created empty the first time).
    func openLive() async throws -> any ViewStore
    /// Whether a rebuild was started and not finished (a crash or a stop interrupted it).
    func hasUnfinishedRebuild() async throws -> Bool
    /// The rebuild's tables: the unfinished ones to resume, or new empty ones when `resume` is
    /// false (an unfinished rebuild is discarded).
    func openRebuild(resume: Bool) async throws -> any ViewStore
    /// Makes the rebuild's tables the live ones atomically — a query sees the old view or the
    /// new one, never a mix — and drops the old ones once no query reads them. Returns the
    /// store queries read from now on.
    func promote(rebuild: any ViewStore, replacing live: any ViewStore) async throws -> any ViewStore
    /// How long a query over HTTP may take, from its arrival to its last byte of JSON.
    var queryTimeout: Duration { get }
}
