import Foundation
import SteleStore

/// How far a capture has come, appended as the last event of every append it makes (in one
/// atomic append with the events it covers), so the events and the progress can never part.
/// The slot is confirmed only up to what a checkpoint holds; after a crash of either side the
/// capture reads its last checkpoint and skips what the slot hands out again.
public struct CaptureCheckpoint: Codable, Equatable, Sendable {
    public static let eventType = "CaptureCheckpoint"

    /// The commit LSN of the last source transaction appended whole (`0/0`: none yet).
    public var lsn = "0/0"
    /// Where the slot may be confirmed: that transaction's end.
    public var confirm = "0/0"
    /// A transaction too large for one append goes in several: its commit LSN and how many of
    /// its events are in already.
    public var partialLSN: String?
    public var partialEvents: Int?
    /// Tables whose initial snapshot is complete (`schema.table`).
    public var snapshotted: [String] = []
    /// The table being snapshotted and the key (its columns' text) of the last row read.
    public var snapshotTable: String?
    public var snapshotAfter: [String]?
    /// Each captured table's OID when its snapshot was read: one dropped and created again is
    /// read again.
    public var tableOIDs: [String: UInt32]?

    public init() {}

    var committed: LSN { LSN(lsn) ?? .zero }
    var confirmable: LSN { LSN(confirm) ?? .zero }

    /// How many of the transaction committing at `finalLSN` are appended already: all of them
    /// (`nil`), or the first n.
    func appended(_ finalLSN: LSN) -> Int? {
        if finalLSN <= committed { return nil }
        if let partialLSN, LSN(partialLSN) == finalLSN { return partialEvents ?? 0 }
        return 0
    }

    func event(version: Int64, slot: String) -> EventData {
        let data = (try? JSONEncoder.sorted.encode(self)).map(Array.init) ?? []
        var event = EventData(type: Self.eventType, data: data)
        event.id = DeterministicID.make("stele-cdc", slot, "checkpoint", String(version), String(decoding: data, as: UTF8.self))
        return event
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
