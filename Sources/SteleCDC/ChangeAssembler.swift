import Foundation
import SteleStore
import SteleWire

/// A table being captured: where its rows go and what names them.
public struct CapturedTable: Sendable, Equatable {
    /// `schema.table`.
    public var qualifiedName: String
    /// The category (topic) its rows' streams are in.
    public var category: String
    /// The primary key's columns, in the key's order.
    public var primaryKey: [String]

    public init(qualifiedName: String, category: String, primaryKey: [String]) {
        self.qualifiedName = qualifiedName
        self.category = category
        self.primaryKey = primaryKey
    }
}

/// What one pgoutput message means for the event store.
public enum CapturedChange: Equatable, Sendable {
    case begin(finalLSN: LSN, xid: UInt32, commitTime: Date)
    /// One event for a row's stream; `index` counts the transaction's events from 0.
    case event(StreamName, EventData, index: Int)
    /// Tables of this capture emptied by TRUNCATE: no row events follow (pgoutput sends none).
    case truncate(tables: [String], cascade: Bool, index: Int)
    case commit(finalLSN: LSN, endLSN: LSN)
}

/// Turns the slot's messages into events: one stream per row (its primary key), the change's
/// before and after images, the source transaction's commit time and LSN. Pure: no I/O, fed
/// one message at a time, so it is tested with hand-made messages.
public struct ChangeAssembler: Sendable {
    /// The event types, one per operation (Debezium's `op` letters are in the data as well).
    public enum EventType {
        public static let inserted = "RowInserted"
        public static let updated = "RowUpdated"
        public static let deleted = "RowDeleted"
        public static let snapshot = "RowSnapshot"
    }

    let slot: String
    var tables: [String: CapturedTable]
    var relations: [UInt32: PgRelation] = [:]
    var open: (finalLSN: LSN, xid: UInt32, commitTime: Date, commitTimeText: String, index: Int)?

    public init(slot: String, tables: [CapturedTable]) {
        self.slot = slot
        self.tables = Dictionary(tables.map { ($0.qualifiedName, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The table's shape as the last Relation message gave it. Under the default replica
    /// identity the message flags the primary key's columns, so a key column renamed since the
    /// change still names it; under FULL every column is flagged, and the catalog's key names it.
    func shape(_ relation: PgRelation, _ table: CapturedTable) -> CapturedTableShape {
        let flagged = relation.columns.filter(\.isKey).map(\.name)
        // The flags come in column order, the key in its own: the catalog's order when they are
        // the same columns (a composite key's stream id must be the snapshot's).
        let key = relation.replicaIdentity != UInt8(ascii: "d") || flagged.isEmpty || Set(flagged) == Set(table.primaryKey) ? table.primaryKey : flagged
        return CapturedTableShape(columns: relation.columns.map { .init(name: $0.name, typeOID: $0.typeOID) }, primaryKey: key)
    }

    public mutating func consume(_ message: PgOutputMessage) throws(PgOutputError) -> [CapturedChange] {
        switch message {
        case let .begin(finalLSN, commitTime, xid):
            guard open == nil else { throw PgOutputError("a transaction began inside another (at \(finalLSN))") }
            open = (finalLSN, xid, commitTime, Self.iso8601(commitTime), 0)
            return [.begin(finalLSN: finalLSN, xid: xid, commitTime: commitTime)]
        case let .commit(commitLSN, endLSN, _):
            guard let transaction = open else { throw PgOutputError("a commit at \(commitLSN) without a begin") }
            guard transaction.finalLSN == commitLSN else {
                throw PgOutputError("a commit at \(commitLSN) ends the transaction begun for \(transaction.finalLSN)")
            }
            open = nil
            return [.commit(finalLSN: commitLSN, endLSN: endLSN)]
        case let .relation(relation):
            relations[relation.oid] = relation
            if let table = tables[relation.qualifiedName] {
                // Only the primary key (default identity) or the whole row (FULL) names a row in
                // every change: under NOTHING or an index, deletes and key changes cannot be placed.
                switch relation.replicaIdentity {
                case UInt8(ascii: "d"):
                    if !relation.columns.contains(where: \.isKey) {
                        throw PgOutputError("\(relation.qualifiedName) has no primary key any more: its rows can no longer be named as streams")
                    }
                case UInt8(ascii: "f"):
                    for key in table.primaryKey where !relation.columns.contains(where: { $0.name == key }) {
                        throw PgOutputError("\(relation.qualifiedName) (REPLICA IDENTITY FULL) has lost its key column \(key): restart the capture once the slot has passed the change")
                    }
                default:
                    throw PgOutputError("\(relation.qualifiedName) has REPLICA IDENTITY \(relation.replicaIdentity == UInt8(ascii: "n") ? "NOTHING" : "USING INDEX"): a capture needs DEFAULT (with a primary key) or FULL")
                }
            }
            return []
        case .origin, .type, .message:
            return []
        case let .insert(relationOID, new):
            guard let (relation, table) = try captured(relationOID) else { return [] }
            let shape = shape(relation, table)
            let after = shape.image(new)
            return [try event(.inserted, "c", table, relation, stream: shape.streamId(new), before: nil, after: after.row, unchanged: after.unchanged)]
        case let .update(relationOID, old, new):
            guard let (relation, table) = try captured(relationOID) else { return [] }
            let shape = shape(relation, table)
            let isKeyOnly = if case .key = old { true } else { false }
            let before = old.map { shape.image($0.values, keyOnly: isKeyOnly).row }
            let after = shape.image(new, fallback: isKeyOnly ? nil : before)
            let newStream = shape.streamId(new)
            // A key that changed moves the row to another stream: it ends in the old one (a
            // delete) and starts in the new one (an insert), as Debezium does.
            if let old, let oldStream = shape.streamId(old.values), oldStream != newStream {
                return [try event(.deleted, "d", table, relation, stream: oldStream, before: before, after: nil, unchanged: []),
                        try event(.inserted, "c", table, relation, stream: newStream, before: nil, after: after.row, unchanged: after.unchanged)]
            }
            return [try event(.updated, "u", table, relation, stream: newStream, before: before, after: after.row, unchanged: after.unchanged)]
        case let .delete(relationOID, old):
            guard let (relation, table) = try captured(relationOID) else { return [] }
            let shape = shape(relation, table)
            let isKeyOnly = if case .key = old { true } else { false }
            return [try event(.deleted, "d", table, relation, stream: shape.streamId(old.values),
                              before: shape.image(old.values, keyOnly: isKeyOnly).row, after: nil, unchanged: [])]
        case let .truncate(relationOIDs, cascade, _):
            let names = relationOIDs.compactMap { relations[$0]?.qualifiedName }.filter { tables[$0] != nil }
            guard !names.isEmpty, var transaction = open else { return [] }
            defer { transaction.index += 1; open = transaction }
            return [.truncate(tables: names, cascade: cascade, index: transaction.index)]
        }
    }

    enum Operation { case inserted, updated, deleted }

    func captured(_ oid: UInt32) throws(PgOutputError) -> (PgRelation, CapturedTable)? {
        guard open != nil else { throw PgOutputError("a change outside a transaction") }
        guard let relation = relations[oid] else { throw PgOutputError("a change to relation \(oid) before its Relation message") }
        guard let table = tables[relation.qualifiedName] else { return nil }
        return (relation, table)
    }

    mutating func event(_ operation: Operation, _ op: String, _ table: CapturedTable, _ relation: PgRelation, stream id: String?,
                        before: [String: JSONValue]?, after: [String: JSONValue]?, unchanged: [String]) throws(PgOutputError) -> CapturedChange {
        guard var transaction = open else { throw PgOutputError("a change outside a transaction") }
        guard let id else {
            throw PgOutputError("a change to \(table.qualifiedName) at \(transaction.finalLSN) has no value for its key \(table.primaryKey.joined(separator: ", "))")
        }
        let stream = StreamName(category: table.category, id: id)
        if let problem = stream.problem {
            throw PgOutputError("a row of \(table.qualifiedName) (at \(transaction.finalLSN)) cannot be a stream: \(problem)")
        }
        let type = switch operation {
        case .inserted: EventType.inserted
        case .updated: EventType.updated
        case .deleted: EventType.deleted
        }
        var data: [String: JSONValue] = [
            "op": .string(op),
            "before": before.map(JSONValue.object) ?? .null,
            "after": after.map(JSONValue.object) ?? .null,
            "source": .object([
                "schema": .string(relation.namespace), "table": .string(relation.name), "lsn": .string(transaction.finalLSN.description),
                "txId": .integer(Int64(transaction.xid)), "commitTime": .string(transaction.commitTimeText),
            ]),
        ]
        if !unchanged.isEmpty { data["unchanged"] = .array(unchanged.map(JSONValue.string)) }
        var event = EventData(type: type, data: Array(JSONValue.object(data).jsonText.utf8))
        event.id = DeterministicID.make("stele-cdc", slot, transaction.finalLSN.description, String(transaction.index))
        event.metadata.occurredAt = transaction.commitTime
        event.metadata.correlationId = "postgres:\(transaction.finalLSN)"
        let index = transaction.index
        transaction.index += 1
        open = transaction
        return .event(stream, event, index: index)
    }

    /// A snapshot row's event: op `r`, the row as the snapshot read it.
    public static func snapshotEvent(slot: String, table: CapturedTable, schema: String, name: String, shape: CapturedTableShape,
                                     values: [PgColumnValue], chunkLSN: LSN, readAt: Date, readAtText: String) -> (StreamName, EventData)? {
        guard let id = shape.streamId(values) else { return nil }
        let data: [String: JSONValue] = [
            "op": .string("r"), "before": .null, "after": .object(shape.image(values).row),
            "source": .object(["schema": .string(schema), "table": .string(name), "lsn": .string(chunkLSN.description),
                               "snapshot": .bool(true), "readAt": .string(readAtText)]),
        ]
        var event = EventData(type: EventType.snapshot, data: Array(JSONValue.object(data).jsonText.utf8))
        event.id = DeterministicID.make("stele-cdc", slot, "snapshot", table.qualifiedName, id, chunkLSN.description)
        event.metadata.occurredAt = readAt
        return (StreamName(category: table.category, id: id), event)
    }

    /// `2026-12-07T05:29:59.333456Z`: PostgreSQL's microseconds kept (no ICU formatter: one per
    /// event was half a capture's CPU).
    static func iso8601(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let millis = micros >= 0 ? micros / 1000 : (micros - 999) / 1000
        let rest = micros - millis * 1000
        var text = ISO8601Milliseconds.format(millis)
        text.removeLast()   // the Z
        return text + String(repeating: "0", count: rest < 10 ? 2 : rest < 100 ? 1 : 0) + String(rest) + "Z"
    }
}
