/// Where one keyed record lives, so that a stream read fetches just that record.
///
/// For a record of an uncompressed batch, `position`/`length` span the record's own bytes and
/// `checksum` is their CRC32C, computed on append: a stream read checks it instead of reading
/// the whole batch for the batch CRC, and corrupt bytes are still never served. A record inside
/// a compressed batch cannot be addressed alone, so its entry spans the whole batch (verified by
/// the batch CRC) and the record is found by its offset after decompression.
struct KeyIndexEntry: Sendable, Equatable {
    var relativeOffset: UInt32
    var position: UInt32
    var length: UInt32
    var checksum: UInt32
    var timestamp: Int64
    var spansWholeBatch: Bool
    /// The record's value is null: the cleaner drops it after `deleteRetention`.
    var isTombstone: Bool

    static let encodedSize = 24
    private static let wholeBatchBit: UInt32 = 1 << 31
    private static let tombstoneBit: UInt32 = 1 << 30
    private static let lengthMask: UInt32 = (1 << 30) - 1

    func encode(into bytes: inout [UInt8]) {
        bytes.appendLE(relativeOffset)
        bytes.appendLE(position)
        assert(length <= Self.lengthMask)
        bytes.appendLE(length | (spansWholeBatch ? Self.wholeBatchBit : 0) | (isTombstone ? Self.tombstoneBit : 0))
        bytes.appendLE(checksum)
        bytes.appendLE(timestamp)
    }

    init(relativeOffset: UInt32, position: UInt32, length: UInt32, checksum: UInt32, timestamp: Int64,
         spansWholeBatch: Bool, isTombstone: Bool) {
        self.isTombstone = isTombstone
        self.relativeOffset = relativeOffset
        self.position = position
        self.length = length
        self.checksum = checksum
        self.timestamp = timestamp
        self.spansWholeBatch = spansWholeBatch
    }

    init(decoding raw: UnsafeRawBufferPointer, at index: Int) {
        relativeOffset = raw.loadLE(index)
        position = raw.loadLE(index + 4)
        let lengthField: UInt32 = raw.loadLE(index + 8)
        length = lengthField & Self.lengthMask
        spansWholeBatch = lengthField & Self.wholeBatchBit != 0
        isTombstone = lengthField & Self.tombstoneBit != 0
        checksum = raw.loadLE(index + 12)
        timestamp = raw.loadLE(index + 16)
    }
}

/// The key index of the active segment: every keyed record, grouped by key, in memory.
/// Bounded by `LogConfig.maxKeyIndexEntries` (the segment rolls when it is full).
struct ActiveKeyIndex: Sendable {
    private(set) var entriesByKey: [[UInt8]: [KeyIndexEntry]] = [:]
    private(set) var entryCount = 0

    mutating func append(key: [UInt8], entry: KeyIndexEntry) {
        entriesByKey[key, default: []].append(entry)
        entryCount += 1
    }

    func entries(for key: [UInt8]) -> [KeyIndexEntry] {
        entriesByKey[key] ?? []
    }

    func count(for key: [UInt8]) -> Int {
        entriesByKey[key]?.count ?? 0
    }

    /// Serializes into the sealed format of ``SealedKeyIndex``.
    var payload: [UInt8] {
        SealedKeyIndex.encode(entriesByKey)
    }
}

/// The key index of a sealed segment: keys sorted by a stable hash, each with the range of its
/// entries, plus a Bloom filter so that a segment without the key costs a few bit tests.
///
/// Payload layout (little-endian):
/// ```
/// keyCount u32  entryCount u32  bloomWords u32  keyBytes u32
/// bloom      bloomWords × u64
/// keys       keyCount × (hash u64, keyPosition u32, keyLength u32, firstEntry u32, entryCount u32)
/// entries    entryCount × KeyIndexEntry (24 bytes), grouped by key, ascending offsets per key
/// key bytes  keyBytes
/// ```
/// Looking a key up costs O(log keys) plus the entries it returns, independent of segment size.
struct SealedKeyIndex: Sendable {
    private let payload: IndexBytes
    let keyCount: Int
    let entryCount: Int
    private let bloomWords: Int
    private let keysStart: Int
    private let entriesStart: Int
    private let keyBytesStart: Int

    static let headerSize = 16
    static let keyRecordSize = 24
    /// Bloom filter size: ~10 bits per key and 7 probes give a false-positive rate near 1%.
    static let bloomBitsPerKey = 10
    static let bloomProbes = 7

    init?(payload: [UInt8]) {
        self.init(payload: IndexBytes(payload))
    }

    /// Reads the payload in place, e.g. from a mapped file (see ``IndexBytes``).
    init?(payload: IndexBytes) {
        guard payload.count >= Self.headerSize else { return nil }
        let header = payload.withUnsafeBytes { raw in
            (Int(raw.loadLE(0, as: UInt32.self)), Int(raw.loadLE(4, as: UInt32.self)),
             Int(raw.loadLE(8, as: UInt32.self)), Int(raw.loadLE(12, as: UInt32.self)))
        }
        (keyCount, entryCount, bloomWords) = (header.0, header.1, header.2)
        keysStart = Self.headerSize + bloomWords * 8
        entriesStart = keysStart + keyCount * Self.keyRecordSize
        keyBytesStart = entriesStart + entryCount * KeyIndexEntry.encodedSize
        guard bloomWords > 0, keyBytesStart + header.3 == payload.count else { return nil }
        self.payload = payload
        guard validateKeys(keyBytes: header.3) else { return nil }
    }

    /// Every key record must point inside the key bytes and its entries; checked once on load
    /// so that lookups need no bounds checks beyond Swift's own.
    private func validateKeys(keyBytes: Int) -> Bool {
        payload.withUnsafeBytes { raw in
            var entriesSeen = 0
            var previousHash: UInt64 = 0
            for index in 0..<keyCount {
                let at = keysStart + index * Self.keyRecordSize
                let hash: UInt64 = raw.loadLE(at)
                let keyPosition = Int(raw.loadLE(at + 8, as: UInt32.self))
                let keyLength = Int(raw.loadLE(at + 12, as: UInt32.self))
                let first = Int(raw.loadLE(at + 16, as: UInt32.self))
                let count = Int(raw.loadLE(at + 20, as: UInt32.self))
                guard hash >= previousHash, keyPosition + keyLength <= keyBytes, first == entriesSeen, count > 0 else { return false }
                previousHash = hash
                entriesSeen += count
            }
            return entriesSeen == entryCount
        }
    }

    /// Heap bytes held; a mapped file's pages belong to the page cache instead.
    var memoryBytes: Int { payload.isMapped ? 0 : payload.count }
    var mappedBytes: Int { payload.isMapped ? payload.count : 0 }

    /// The entries of `key` in offset order; empty when the segment has none.
    func entries(for key: [UInt8]) -> [KeyIndexEntry] {
        guard let (first, count) = find(key) else { return [] }
        return payload.withUnsafeBytes { raw in
            (0..<count).map { KeyIndexEntry(decoding: raw, at: entriesStart + (first + $0) * KeyIndexEntry.encodedSize) }
        }
    }

    func count(for key: [UInt8]) -> Int {
        find(key)?.count ?? 0
    }

    /// Every key of the segment with its entries' range, for the log cleaner.
    func forEachKey(_ body: ([UInt8], _ entries: [KeyIndexEntry]) -> Void) {
        payload.withUnsafeBytes { raw in
            for index in 0..<keyCount {
                let at = keysStart + index * Self.keyRecordSize
                let keyPosition = keyBytesStart + Int(raw.loadLE(at + 8, as: UInt32.self))
                let keyLength = Int(raw.loadLE(at + 12, as: UInt32.self))
                let first = Int(raw.loadLE(at + 16, as: UInt32.self))
                let count = Int(raw.loadLE(at + 20, as: UInt32.self))
                let key = Array(raw[keyPosition..<(keyPosition + keyLength)])
                body(key, (0..<count).map { KeyIndexEntry(decoding: raw, at: entriesStart + (first + $0) * KeyIndexEntry.encodedSize) })
            }
        }
    }

    private func find(_ key: [UInt8]) -> (first: Int, count: Int)? {
        let hash = stableKeyHash(key)
        return payload.withUnsafeBytes { raw -> (Int, Int)? in
            guard Self.bloomMayContain(hash, raw: raw, wordsStart: Self.headerSize, words: bloomWords) else { return nil }
            var low = 0, high = keyCount
            while low < high {
                let mid = (low + high) / 2
                if raw.loadLE(keysStart + mid * Self.keyRecordSize, as: UInt64.self) < hash { low = mid + 1 } else { high = mid }
            }
            var index = low
            while index < keyCount {
                let at = keysStart + index * Self.keyRecordSize
                guard raw.loadLE(at, as: UInt64.self) == hash else { return nil }
                let keyPosition = keyBytesStart + Int(raw.loadLE(at + 8, as: UInt32.self))
                let keyLength = Int(raw.loadLE(at + 12, as: UInt32.self))
                if keyLength == key.count && key.withUnsafeBytes({ memcmpEqual($0, UnsafeRawBufferPointer(rebasing: raw[keyPosition..<(keyPosition + keyLength)])) }) {
                    return (Int(raw.loadLE(at + 16, as: UInt32.self)), Int(raw.loadLE(at + 20, as: UInt32.self)))
                }
                index += 1
            }
            return nil
        }
    }

    static func encode(_ entriesByKey: [[UInt8]: [KeyIndexEntry]]) -> [UInt8] {
        let keyed = entriesByKey.map { (hash: stableKeyHash($0.key), key: $0.key, entries: $0.value) }
            .sorted { $0.hash != $1.hash ? $0.hash < $1.hash : $0.key.lexicographicallyPrecedes($1.key) }
        let entryCount = keyed.reduce(0) { $0 + $1.entries.count }
        let keyBytes = keyed.reduce(0) { $0 + $1.key.count }
        let bloomWords = max(1, (keyed.count * bloomBitsPerKey + 63) / 64)
        var bloom = [UInt64](repeating: 0, count: bloomWords)
        for item in keyed { bloomInsert(item.hash, into: &bloom) }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + bloomWords * 8 + keyed.count * keyRecordSize + entryCount * KeyIndexEntry.encodedSize + keyBytes)
        bytes.appendLE(UInt32(keyed.count))
        bytes.appendLE(UInt32(entryCount))
        bytes.appendLE(UInt32(bloomWords))
        bytes.appendLE(UInt32(keyBytes))
        for word in bloom { bytes.appendLE(word) }
        var keyPosition = 0, firstEntry = 0
        for item in keyed {
            bytes.appendLE(item.hash)
            bytes.appendLE(UInt32(keyPosition))
            bytes.appendLE(UInt32(item.key.count))
            bytes.appendLE(UInt32(firstEntry))
            bytes.appendLE(UInt32(item.entries.count))
            keyPosition += item.key.count
            firstEntry += item.entries.count
        }
        for item in keyed { for entry in item.entries { entry.encode(into: &bytes) } }
        for item in keyed { bytes.append(contentsOf: item.key) }
        return bytes
    }

    // Double hashing (Kirsch & Mitzenmacher): probe i tests bit h1 + i·h2.
    private static func bloomInsert(_ hash: UInt64, into words: inout [UInt64]) {
        let bits = UInt64(words.count * 64)
        let (h1, h2) = (hash & 0xFFFF_FFFF, (hash >> 32) | 1)
        for probe in 0..<UInt64(bloomProbes) {
            let bit = (h1 &+ probe &* h2) % bits
            words[Int(bit / 64)] |= 1 << (bit % 64)
        }
    }

    private static func bloomMayContain(_ hash: UInt64, raw: UnsafeRawBufferPointer, wordsStart: Int, words: Int) -> Bool {
        let bits = UInt64(words * 64)
        let (h1, h2) = (hash & 0xFFFF_FFFF, (hash >> 32) | 1)
        for probe in 0..<UInt64(bloomProbes) {
            let bit = (h1 &+ probe &* h2) % bits
            let word: UInt64 = raw.loadLE(wordsStart + Int(bit / 64) * 8)
            if word & (1 << (bit % 64)) == 0 { return false }
        }
        return true
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    return a.elementsEqual(b)
}
