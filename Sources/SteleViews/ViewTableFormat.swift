/// The layout of Stele's own tables in a view's store (`stele_checkpoints`, `stele_parked`,
/// `stele_views`, `stele_view_format`), the same in SQLite and PostgreSQL. A store records its
/// format in `stele_view_format`; one without that table but with `stele_checkpoints` is format 1.
package enum ViewTableFormat {
    /// The table holding the format (not the event store's `stele_store_format`: the two count
    /// separately).
    package static let table = "stele_view_format"
    /// Before formats were recorded: `stele_checkpoints.position`, `stele_parked.stream` (the
    /// stream id) and `stele_parked.commit_position`.
    package static let first = 1
    /// The columns named as the vocabulary names them: a checkpoint is not a position, the id
    /// column holds the stream id, and PostgreSQL's ordering field is the transaction id.
    package static let current = 2

    /// From format 1 to 2: (table, old column, new column). Each is renamed only while the old
    /// column exists, so a half-recorded format (an emptied format table) cannot fail an open.
    package static let renamesFromFirst = [
        ("stele_checkpoints", "position", "checkpoint"),
        ("stele_parked", "stream", "stream_id"),
        ("stele_parked", "commit_position", "transaction_id"),
    ]

    /// The statement renaming one column (valid in SQLite 3.25 and later, and PostgreSQL).
    package static func rename(_ table: String, _ old: String, _ new: String) -> String {
        "ALTER TABLE \(table) RENAME COLUMN \(old) TO \(new)"
    }
}
