/// The layout of Stele's own tables in a view's store (`stele_checkpoints`, `stele_parked`,
/// `stele_views`, `stele_format`), the same in SQLite and PostgreSQL. A store records its format
/// in `stele_format`; one without that table but with `stele_checkpoints` is format 1.
package enum ViewTableFormat {
    /// Before formats were recorded: `stele_checkpoints.position`, `stele_parked.stream` (the
    /// stream id) and `stele_parked.commit_position`.
    package static let first = 1
    /// The columns named as the vocabulary names them: a checkpoint is not a position, the id
    /// column holds the stream id, and PostgreSQL's ordering field is the transaction id.
    package static let current = 2

    /// From format 1 to 2; each statement is valid in SQLite (3.25 and later) and PostgreSQL.
    package static let renamesFromFirst = [
        "ALTER TABLE stele_checkpoints RENAME COLUMN position TO checkpoint",
        "ALTER TABLE stele_parked RENAME COLUMN stream TO stream_id",
        "ALTER TABLE stele_parked RENAME COLUMN commit_position TO transaction_id",
    ]
}
