import Foundation
import Testing
import SteleCDC
import SteleStore
import SteleWire

/// Builds pgoutput messages byte by byte, as PostgreSQL's `proto.c` writes them.
struct PgOutputBytes {
    var bytes: [UInt8] = []
    mutating func tag(_ character: Character) { bytes.append(character.asciiValue!) }
    mutating func int(_ value: UInt64, _ width: Int) { for shift in (0..<width).reversed() { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(shift)))) } }
    mutating func string(_ text: String) { bytes += Array(text.utf8) + [0] }
    mutating func tuple(_ values: [String?]) {
        int(UInt64(values.count), 2)
        for value in values {
            if let value { tag("t"); int(UInt64(value.utf8.count), 4); bytes += Array(value.utf8) } else { tag("n") }
        }
    }
    static func message(_ build: (inout PgOutputBytes) -> Void) -> [UInt8] {
        var writer = PgOutputBytes()
        build(&writer)
        return writer.bytes
    }
}

@Suite("pgoutput messages, row events and snapshot chunks")
struct PgOutputTests {
    static let commitMicros: UInt64 = 818_000_000_000_000   // 2025-12-02 (2000-01-01 + 818 M s)

    static func begin(_ lsn: UInt64, xid: UInt32) -> [UInt8] {
        PgOutputBytes.message { $0.tag("B"); $0.int(lsn, 8); $0.int(commitMicros, 8); $0.int(UInt64(xid), 4) }
    }
    static func commit(_ lsn: UInt64, end: UInt64) -> [UInt8] {
        PgOutputBytes.message { $0.tag("C"); $0.int(0, 1); $0.int(lsn, 8); $0.int(end, 8); $0.int(commitMicros, 8) }
    }
    /// `public.accounts (id int4 key, owner text, balance int8, doc jsonb)`.
    static let relation = PgOutputBytes.message { writer in
        writer.tag("R"); writer.int(16384, 4); writer.string("public"); writer.string("accounts"); writer.int(UInt64(Character("f").asciiValue!), 1)
        writer.int(4, 2)
        for (flags, name, oid) in [(1, "id", 23), (1, "owner", 25), (1, "balance", 20), (1, "doc", 3802)] as [(UInt64, String, UInt64)] {
            writer.int(flags, 1); writer.string(name); writer.int(oid, 4); writer.int(UInt64(UInt32.max), 4)
        }
    }

    @Test func decodesEachMessageKind() throws {
        #expect(try PgOutputMessage.decode(Self.begin(0x1_0000_0010, xid: 42))
                == .begin(finalLSN: LSN(0x1_0000_0010), commitTime: Date(timeIntervalSince1970: 946_684_800 + 818_000_000), xid: 42))
        #expect(try PgOutputMessage.decode(Self.commit(0x10, end: 0x40)) == .commit(commitLSN: LSN(0x10), endLSN: LSN(0x40),
                                                                                 commitTime: Date(timeIntervalSince1970: 946_684_800 + 818_000_000)))
        guard case let .relation(relation) = try PgOutputMessage.decode(Self.relation) else { Issue.record("not a relation"); return }
        #expect(relation.qualifiedName == "public.accounts" && relation.columns.map(\.name) == ["id", "owner", "balance", "doc"])
        #expect(relation.columns.map(\.typeOID) == [23, 25, 20, 3802] && relation.replicaIdentity == Character("f").asciiValue)
        let insert = PgOutputBytes.message { $0.tag("I"); $0.int(16384, 4); $0.tag("N"); $0.tuple(["7", "ann", "100", nil]) }
        #expect(try PgOutputMessage.decode(insert) == .insert(relation: 16384, new: [.text("7"), .text("ann"), .text("100"), .null]))
        let update = PgOutputBytes.message { $0.tag("U"); $0.int(16384, 4); $0.tag("O"); $0.tuple(["7", "ann", "100", nil]); $0.tag("N")
            $0.int(4, 2); $0.tag("t"); $0.int(1, 4); $0.bytes += Array("7".utf8); $0.tag("t"); $0.int(3, 4); $0.bytes += Array("bob".utf8); $0.tag("u"); $0.tag("n") }
        #expect(try PgOutputMessage.decode(update) == .update(relation: 16384, old: .full([.text("7"), .text("ann"), .text("100"), .null]),
                                                                new: [.text("7"), .text("bob"), .unchangedToast, .null]))
        let delete = PgOutputBytes.message { $0.tag("D"); $0.int(16384, 4); $0.tag("K"); $0.tuple(["7", nil, nil, nil]) }
        #expect(try PgOutputMessage.decode(delete) == .delete(relation: 16384, old: .key([.text("7"), .null, .null, .null])))
        let truncate = PgOutputBytes.message { $0.tag("T"); $0.int(2, 4); $0.int(3, 1); $0.int(16384, 4); $0.int(16390, 4) }
        #expect(try PgOutputMessage.decode(truncate) == .truncate(relations: [16384, 16390], cascade: true, restartIdentity: true))
        let message = PgOutputBytes.message { $0.tag("M"); $0.int(0, 1); $0.int(0x99, 8); $0.string("p"); $0.int(2, 4); $0.bytes += [1, 2] }
        #expect(try PgOutputMessage.decode(message) == .message(transactional: false, lsn: LSN(0x99), prefix: "p", content: [1, 2]))
    }

    @Test func keyColumnsFollowTheRelationsFlags() throws {
        // Default identity: the flagged columns are the key, whatever the catalog called them
        // when the capture started (a key column renamed while the capture was behind).
        var assembler = ChangeAssembler(slot: "s", tables: [CapturedTable(qualifiedName: "public.rk", category: "rk", primaryKey: ["ident"])])
        let relation = PgRelation(oid: 7, namespace: "public", name: "rk", replicaIdentity: UInt8(ascii: "d"),
                                  columns: [.init(name: "id", typeOID: 23, typeModifier: -1, isKey: true), .init(name: "v", typeOID: 25, typeModifier: -1, isKey: false)])
        _ = try assembler.consume(.relation(relation))
        _ = try assembler.consume(.begin(finalLSN: LSN(1), commitTime: Date(timeIntervalSince1970: 0), xid: 3))
        guard case let .event(stream, _, _) = try assembler.consume(.insert(relation: 7, new: [.text("5"), .text("x")]))[0] else {
            Issue.record("no event"); return
        }
        #expect(stream == StreamName(category: "rk", id: "5"))

        // A composite key flagged in column order (a, b) but declared PRIMARY KEY (b, a): the
        // stream id follows the key's order, as the snapshot's does.
        var composite = ChangeAssembler(slot: "s", tables: [CapturedTable(qualifiedName: "public.ck", category: "ck", primaryKey: ["b", "a"])])
        _ = try composite.consume(.relation(PgRelation(oid: 8, namespace: "public", name: "ck", replicaIdentity: UInt8(ascii: "d"), columns: [
            .init(name: "a", typeOID: 23, typeModifier: -1, isKey: true), .init(name: "b", typeOID: 23, typeModifier: -1, isKey: true)])))
        _ = try composite.consume(.begin(finalLSN: LSN(1), commitTime: Date(timeIntervalSince1970: 0), xid: 3))
        guard case let .event(compositeStream, _, _) = try composite.consume(.insert(relation: 8, new: [.text("1"), .text("2")]))[0] else {
            Issue.record("no event"); return
        }
        #expect(compositeStream.id == "[2,1]")
    }

    @Test func refusesDamagedMessages() {
        let insert = PgOutputBytes.message { $0.tag("I"); $0.int(16384, 4); $0.tag("N"); $0.tuple(["7", "ann", "100", nil]) }
        // Every cut of a message is refused, never read as something shorter.
        for length in 0..<insert.count {
            #expect(throws: PgOutputError.self) { try PgOutputMessage.decode(Array(insert.prefix(length))) }
        }
        #expect(throws: PgOutputError.self) { try PgOutputMessage.decode(insert + [0]) }
        #expect(throws: PgOutputError.self) { try PgOutputMessage.decode([UInt8(ascii: "Z")]) }
        // A binary column (the `binary` option, never asked for) is refused, not misread.
        let binary = PgOutputBytes.message { $0.tag("I"); $0.int(1, 4); $0.tag("N"); $0.int(1, 2); $0.tag("b"); $0.int(1, 4); $0.bytes.append(1) }
        #expect(throws: PgOutputError.self) { try PgOutputMessage.decode(binary) }
        // A truncate claiming more relations than it has bytes.
        let truncate = PgOutputBytes.message { $0.tag("T"); $0.int(UInt64(UInt32.max), 4); $0.int(0, 1) }
        #expect(throws: PgOutputError.self) { try PgOutputMessage.decode(truncate) }
    }

    @Test func lsnTextRoundTrips() {
        #expect(LSN("16/B374D848")?.value == 0x16_B374_D848)
        #expect(LSN(0x16_B374_D848).description == "16/B374D848")
        #expect(LSN("0/0") == .zero)
        for bad in ["", "16", "16/", "/1", "G/1", "1/2/3", "123456789/0"] { #expect(LSN(bad) == nil) }
    }

    func assembler() throws -> ChangeAssembler {
        var assembler = ChangeAssembler(slot: "s", tables: [CapturedTable(qualifiedName: "public.accounts", category: "accounts", primaryKey: ["id"])])
        _ = try assembler.consume(try PgOutputMessage.decode(Self.relation))
        _ = try assembler.consume(try PgOutputMessage.decode(Self.begin(0x500, xid: 9)))
        return assembler
    }

    static func data(_ change: CapturedChange) -> (StreamName, [String: JSONValue], String)? {
        guard case let .event(stream, event, _) = change, case let .object(members)? = JSONValue.parse(event.data) else { return nil }
        return (stream, members, event.type)
    }

    @Test func rowsBecomeEventsInTheirKeysStreams() throws {
        var assembler = try assembler()
        let insert = try assembler.consume(.insert(relation: 16384, new: [.text("7"), .text("ann"), .text("100"), .text(#"{"tier":1}"#)]))
        let (stream, data, type) = try #require(Self.data(insert[0]))
        #expect(stream == StreamName(category: "accounts", id: "7") && type == "RowInserted")
        #expect(data["op"] == .string("c") && data["before"] == .null)
        #expect(data["after"] == .object(["id": .integer(7), "owner": .string("ann"), "balance": .integer(100), "doc": .string(#"{"tier":1}"#)]))
        #expect(data["source"]?.value(at: ["lsn"]) == .string("0/500") && data["source"]?.value(at: ["txId"]) == .integer(9))

        // An unchanged TOAST value comes from the old row when the identity is FULL.
        let update = try assembler.consume(.update(relation: 16384, old: .full([.text("7"), .text("ann"), .text("100"), .text("[1]")]),
                                                   new: [.text("7"), .text("bob"), .text("90"), .unchangedToast]))
        let (_, updated, updateType) = try #require(Self.data(update[0]))
        #expect(updateType == "RowUpdated" && updated["after"]?.value(at: ["doc"]) == .string("[1]") && updated["unchanged"] == nil)

        // Without it, the column is named as unchanged instead of invented.
        let keyOnly = try assembler.consume(.update(relation: 16384, old: nil, new: [.text("7"), .text("bob"), .text("80"), .unchangedToast]))
        let (_, partial, _) = try #require(Self.data(keyOnly[0]))
        #expect(partial["unchanged"] == .array([.string("doc")]) && partial["after"]?.value(at: ["doc"]) == nil)

        // A key that changes moves the row: a delete in the old stream, an insert in the new.
        let moved = try assembler.consume(.update(relation: 16384, old: .key([.text("7"), .null, .null, .null]),
                                                  new: [.text("8"), .text("bob"), .text("80"), .null]))
        #expect(moved.count == 2)
        let (from, gone, goneType) = try #require(Self.data(moved[0]))
        let (to, _, newType) = try #require(Self.data(moved[1]))
        #expect(from.id == "7" && goneType == "RowDeleted" && gone["before"] == .object(["id": .integer(7)]))
        #expect(to.id == "8" && newType == "RowInserted")

        // Event ids follow the transaction and the event's place in it: a resend has the same.
        guard case let .event(_, first, index) = insert[0], case let .event(_, last, lastIndex) = moved[1] else { Issue.record("no events"); return }
        #expect(index == 0 && lastIndex == 4 && first.id != last.id)
        var again = try self.assembler()
        guard case let .event(_, repeated, _) = try again.consume(.insert(relation: 16384, new: [.text("7"), .text("ann"), .text("100"), .null]))[0]
        else { Issue.record("no event"); return }
        #expect(repeated.id == first.id)
        #expect(try assembler.consume(.commit(commitLSN: LSN(0x500), endLSN: LSN(0x540), commitTime: Date())) == [.commit(finalLSN: LSN(0x500), endLSN: LSN(0x540))])
    }

    @Test func refusesWhatCannotBeNamedOrPlaced() throws {
        var assembler = try assembler()
        // An empty key or one longer than a stream id may be (1024 bytes): a clear stop.
        #expect(throws: PgOutputError.self) { try assembler.consume(.insert(relation: 16384, new: [.text(""), .null, .null, .null])) }
        #expect(throws: PgOutputError.self) {
            try assembler.consume(.insert(relation: 16384, new: [.text(String(repeating: "k", count: 1025)), .null, .null, .null]))
        }
        // A table whose replica identity names no row (NOTHING, or an index): refused as it is described.
        var described = PgRelation(oid: 16385, namespace: "public", name: "accounts", replicaIdentity: UInt8(ascii: "n"), columns: [])
        #expect(throws: PgOutputError.self) { try assembler.consume(.relation(described)) }
        described.replicaIdentity = UInt8(ascii: "i")
        #expect(throws: PgOutputError.self) { try assembler.consume(.relation(described)) }
        // A null key (REPLICA IDENTITY NOTHING sends no old row: here, a key-less tuple).
        #expect(throws: PgOutputError.self) { try assembler.consume(.delete(relation: 16384, old: .key([.null, .null, .null, .null]))) }
        // A change to a relation never described.
        #expect(throws: PgOutputError.self) { try assembler.consume(.insert(relation: 1, new: [])) }
        // A commit for another transaction than the one begun.
        #expect(throws: PgOutputError.self) { try assembler.consume(.commit(commitLSN: LSN(0x501), endLSN: LSN(0x540), commitTime: Date())) }
        // Tables not captured are passed over.
        var other = ChangeAssembler(slot: "s", tables: [])
        _ = try other.consume(try PgOutputMessage.decode(Self.relation))
        _ = try other.consume(try PgOutputMessage.decode(Self.begin(0x500, xid: 9)))
        #expect(try other.consume(.insert(relation: 16384, new: [.text("7"), .null, .null, .null])).isEmpty)
    }

    @Test func compositeKeysAndTypes() {
        let shape = CapturedTableShape(columns: [.init(name: "region", typeOID: 25), .init(name: "n", typeOID: 23), .init(name: "ok", typeOID: 16),
                                                 .init(name: "x", typeOID: 701), .init(name: "amount", typeOID: 1700)], primaryKey: ["region", "n"])
        #expect(shape.streamId([.text("eu"), .text("3"), .null, .null, .null]) == #"["eu",3]"#)
        #expect(shape.streamId([.text("eu"), .null, .null, .null, .null]) == nil)
        let row = shape.image([.text("eu"), .text("3"), .text("t"), .text("NaN"), .text("1.10")]).row
        #expect(row["ok"] == .bool(true) && row["x"] == .string("NaN") && row["amount"] == .string("1.10"))
    }

    @Test func snapshotChunksLeaveOutRowsChangedUnseen() {
        // A snapshot with xmax 100 and 97 running: it saw 96 and 98, not 97, 100 or 150.
        var chunk = SnapshotChunk(table: "public.t", rows: [("1", [], ["1"]), ("2", [], ["2"]), ("3", [], ["3"])], lastKey: ["3"], isLast: false,
                                  high: LSN(0x900), xmax: 100, running: [97])
        #expect(chunk.saw(96) && chunk.saw(98) && !chunk.saw(97) && !chunk.saw(100) && !chunk.saw(150))
        chunk.note("1", by: 98)    // seen: the row already holds it
        chunk.note("2", by: 97)    // unseen: the stream has the newer row
        #expect(chunk.rowsToAppend.map(\.stream) == ["1", "3"])
        // Across the 2³² wrap: xids just below xmax are in the past, xmax and above in the future.
        let wrapped = SnapshotChunk(table: "t", rows: [], lastKey: nil, isLast: true, high: .zero, xmax: (1 << 32) + 5, running: [(1 << 32) + 1])
        #expect(wrapped.saw(UInt32.max) && wrapped.saw(3) && !wrapped.saw(1) && !wrapped.saw(5) && !wrapped.saw(6))
    }
}
