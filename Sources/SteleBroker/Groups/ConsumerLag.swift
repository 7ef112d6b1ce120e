/// How far a consumer group is behind on one partition: the one definition behind `/metrics`,
/// `GET /groups/{name}` and `stele groups describe`.
public enum ConsumerLag {
    /// Records between a committed offset and the log end; nil when nothing usable is committed
    /// (a negative offset: "none", or any value a client chose to send). Never traps, whatever
    /// a client committed.
    public static func records(committed: Int64, logEnd: Int64) -> Int64? {
        guard committed >= 0, logEnd >= 0 else { return nil }
        return max(0, logEnd - committed)
    }
}
