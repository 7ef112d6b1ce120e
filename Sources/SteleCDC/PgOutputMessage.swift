import Foundation

/// One message of PostgreSQL's logical replication protocol as the `pgoutput` plugin writes it
/// (protocol version 1, text tuples): what a logical replication slot hands out.
///
/// See PostgreSQL's documentation, "Logical Replication Message Formats".
public enum PgOutputMessage: Equatable, Sendable {
    /// A transaction starts; `finalLSN` is where its commit record is.
    case begin(finalLSN: LSN, commitTime: Date, xid: UInt32)
    /// The transaction ends; the slot may be confirmed up to `endLSN` once it is durable.
    case commit(commitLSN: LSN, endLSN: LSN, commitTime: Date)
    /// The columns of a table, sent before its first change and after every change of its shape.
    case relation(PgRelation)
    /// A change that came from another node's replication origin.
    case origin(lsn: LSN, name: String)
    /// A user type's name, sent before a relation that uses it.
    case type(oid: UInt32, namespace: String, name: String)
    case insert(relation: UInt32, new: [PgColumnValue])
    /// `old` is the replica identity's columns (`key`) or the whole old row (`FULL`), when sent.
    case update(relation: UInt32, old: PgOldTuple?, new: [PgColumnValue])
    case delete(relation: UInt32, old: PgOldTuple)
    case truncate(relations: [UInt32], cascade: Bool, restartIdentity: Bool)
    /// `pg_logical_emit_message`'s text.
    case message(transactional: Bool, lsn: LSN, prefix: String, content: [UInt8])
}

/// The old row of an update or delete: its key columns only, or every column (`REPLICA IDENTITY FULL`).
public enum PgOldTuple: Equatable, Sendable {
    case key([PgColumnValue])
    case full([PgColumnValue])

    public var values: [PgColumnValue] {
        switch self { case let .key(values), let .full(values): values }
    }
}

/// One column's value in a tuple.
public enum PgColumnValue: Equatable, Sendable {
    case null
    /// A TOASTed value the change left as it was: pgoutput does not send it again.
    case unchangedToast
    /// The type's text output (`pgoutput` without the `binary` option).
    case text(String)
}

/// A table as pgoutput describes it.
public struct PgRelation: Equatable, Sendable {
    public struct Column: Equatable, Sendable {
        public var name: String
        public var typeOID: UInt32
        public var typeModifier: Int32
        /// Part of the replica identity (every column under `REPLICA IDENTITY FULL`).
        public var isKey: Bool

        public init(name: String, typeOID: UInt32, typeModifier: Int32, isKey: Bool) {
            self.name = name
            self.typeOID = typeOID
            self.typeModifier = typeModifier
            self.isKey = isKey
        }
    }

    public var oid: UInt32
    public var namespace: String
    public var name: String
    /// `d` default (the primary key), `n` nothing, `f` full, `i` an index.
    public var replicaIdentity: UInt8
    public var columns: [Column]

    public init(oid: UInt32, namespace: String, name: String, replicaIdentity: UInt8, columns: [Column]) {
        self.oid = oid
        self.namespace = namespace
        self.name = name
        self.replicaIdentity = replicaIdentity
        self.columns = columns
    }

    /// `schema.table`.
    public var qualifiedName: String { "\(namespace).\(name)" }
}

/// What is wrong with a message the slot handed out.
public struct PgOutputError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension PgOutputMessage {
    /// Microseconds from 2000-01-01 UTC, PostgreSQL's epoch, in seconds from 1970.
    static let postgresEpoch: TimeInterval = 946_684_800

    /// Decodes one message; throws on a truncated or unknown one rather than guess.
    public static func decode(_ bytes: [UInt8]) throws(PgOutputError) -> PgOutputMessage {
        var reader = PgOutputReader(bytes: bytes)
        let tag = try reader.byte()
        let message: PgOutputMessage
        switch tag {
        case UInt8(ascii: "B"):
            let final = LSN(try reader.uint64()), time = try reader.time(), xid = try reader.uint32()
            message = .begin(finalLSN: final, commitTime: time, xid: xid)
        case UInt8(ascii: "C"):
            _ = try reader.byte()   // flags, unused
            let commit = LSN(try reader.uint64()), end = LSN(try reader.uint64())
            message = .commit(commitLSN: commit, endLSN: end, commitTime: try reader.time())
        case UInt8(ascii: "O"):
            message = .origin(lsn: LSN(try reader.uint64()), name: try reader.string())
        case UInt8(ascii: "R"):
            let oid = try reader.uint32(), namespace = try reader.string(), name = try reader.string()
            let identity = try reader.byte()
            let count = Int(try reader.uint16())
            var columns: [PgRelation.Column] = []
            columns.reserveCapacity(count)
            for _ in 0..<count {
                let flags = try reader.byte()
                let column = try reader.string()
                columns.append(PgRelation.Column(name: column, typeOID: try reader.uint32(), typeModifier: Int32(bitPattern: try reader.uint32()),
                                                 isKey: flags & 1 == 1))
            }
            // An empty namespace is pg_catalog's, as the protocol says.
            message = .relation(PgRelation(oid: oid, namespace: namespace.isEmpty ? "pg_catalog" : namespace, name: name,
                                           replicaIdentity: identity, columns: columns))
        case UInt8(ascii: "Y"):
            let oid = try reader.uint32(), namespace = try reader.string()
            message = .type(oid: oid, namespace: namespace, name: try reader.string())
        case UInt8(ascii: "I"):
            let relation = try reader.uint32()
            try reader.expect("N")
            message = .insert(relation: relation, new: try reader.tuple())
        case UInt8(ascii: "U"):
            let relation = try reader.uint32()
            var old: PgOldTuple?
            var kind = try reader.byte()
            if kind == UInt8(ascii: "K") || kind == UInt8(ascii: "O") {
                let values = try reader.tuple()
                old = kind == UInt8(ascii: "K") ? .key(values) : .full(values)
                kind = try reader.byte()
            }
            guard kind == UInt8(ascii: "N") else { throw PgOutputError("an update has tuple kind \(kind), not N") }
            message = .update(relation: relation, old: old, new: try reader.tuple())
        case UInt8(ascii: "D"):
            let relation = try reader.uint32()
            let kind = try reader.byte()
            guard kind == UInt8(ascii: "K") || kind == UInt8(ascii: "O") else { throw PgOutputError("a delete has tuple kind \(kind), not K or O") }
            let values = try reader.tuple()
            message = .delete(relation: relation, old: kind == UInt8(ascii: "K") ? .key(values) : .full(values))
        case UInt8(ascii: "T"):
            let count = Int(try reader.uint32())
            let options = try reader.byte()
            guard count <= bytes.count else { throw PgOutputError("a truncate names \(count) relations in \(bytes.count) bytes") }
            var relations: [UInt32] = []
            for _ in 0..<count { relations.append(try reader.uint32()) }
            message = .truncate(relations: relations, cascade: options & 1 != 0, restartIdentity: options & 2 != 0)
        case UInt8(ascii: "M"):
            let flags = try reader.byte()
            let lsn = LSN(try reader.uint64()), prefix = try reader.string()
            let length = Int(try reader.uint32())
            message = .message(transactional: flags & 1 != 0, lsn: lsn, prefix: prefix, content: try reader.bytes(length))
        default:
            throw PgOutputError("unknown pgoutput message '\(Character(Unicode.Scalar(tag)))' (\(tag))")
        }
        guard reader.isAtEnd else { throw PgOutputError("\(bytes.count - reader.index) bytes left after a '\(Character(Unicode.Scalar(tag)))' message") }
        return message
    }
}

/// Reads pgoutput's big-endian integers, null-terminated strings and tuples.
struct PgOutputReader {
    let bytes: [UInt8]
    var index = 0

    var isAtEnd: Bool { index == bytes.count }

    mutating func byte() throws(PgOutputError) -> UInt8 {
        guard index < bytes.count else { throw PgOutputError("the message ends early") }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func expect(_ tag: Character) throws(PgOutputError) {
        let found = try byte()
        guard found == tag.asciiValue else { throw PgOutputError("expected '\(tag)', found \(found)") }
    }

    mutating func integer(_ width: Int) throws(PgOutputError) -> UInt64 {
        guard bytes.count - index >= width else { throw PgOutputError("the message ends early") }
        var value: UInt64 = 0
        for offset in 0..<width { value = value << 8 | UInt64(bytes[index + offset]) }
        index += width
        return value
    }

    mutating func uint16() throws(PgOutputError) -> UInt16 { UInt16(try integer(2)) }
    mutating func uint32() throws(PgOutputError) -> UInt32 { UInt32(try integer(4)) }
    mutating func uint64() throws(PgOutputError) -> UInt64 { try integer(8) }

    mutating func time() throws(PgOutputError) -> Date {
        let micros = Int64(bitPattern: try uint64())
        return Date(timeIntervalSince1970: PgOutputMessage.postgresEpoch + Double(micros) / 1_000_000)
    }

    mutating func string() throws(PgOutputError) -> String {
        guard let end = bytes[index...].firstIndex(of: 0) else { throw PgOutputError("a string has no terminating zero") }
        defer { index = end + 1 }
        return String(decoding: bytes[index..<end], as: UTF8.self)
    }

    mutating func bytes(_ count: Int) throws(PgOutputError) -> [UInt8] {
        guard count >= 0, bytes.count - index >= count else { throw PgOutputError("the message ends early") }
        defer { index += count }
        return Array(bytes[index..<index + count])
    }

    mutating func tuple() throws(PgOutputError) -> [PgColumnValue] {
        let count = Int(try uint16())
        var values: [PgColumnValue] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            switch try byte() {
            case UInt8(ascii: "n"): values.append(.null)
            case UInt8(ascii: "u"): values.append(.unchangedToast)
            case UInt8(ascii: "t"):
                let length = Int(try uint32())
                values.append(.text(String(decoding: try bytes(length), as: UTF8.self)))
            case let kind:
                // `b` comes only with the `binary` option, which Stele never asks for.
                throw PgOutputError("a column has kind \(kind), not n, u or t")
            }
        }
        return values
    }
}
