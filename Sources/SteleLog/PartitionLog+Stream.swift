import SteleCore

/// A record read through the key index, with its place in the stream.
public struct StreamRecord: Sendable, Equatable {
    public var offset: Int64
    /// 0-based position among the records with this key in this partition.
    public var version: Int64
    public var timestamp: Int64
    public var key: [UInt8]
    public var value: [UInt8]?
    public var headers: [RecordHeader]
}

extension PartitionLog {
    /// Longest run of nearby records fetched with one `pread` in a stream read.
    static let streamReadCoalesceBytes = 64 << 10

    /// Reads the records with `key` from `fromVersion` on, in offset order, through the key
    /// index: the cost is O(records of the key + segments), independent of partition size.
    ///
    /// ``IsolationLevel/readCommitted`` (the default) returns committed records only: none at or
    /// after the last stable offset, none of an aborted transaction (their versions stay
    /// counted, so a stream written by an aborted Kafka transaction has gaps in its versions).
    /// ``IsolationLevel/readUncommitted`` returns every record up to the high watermark — what
    /// the versions count, which an idempotency check compares against.
    /// `includingAborted: false` with ``IsolationLevel/readUncommitted`` leaves out records of
    /// aborted transactions too (an idempotency check must not take an aborted event for one
    /// that was appended).
    public func readStream(key: [UInt8], fromVersion: Int64 = 0, maxRecords: Int = .max,
                           isolation: IsolationLevel = .readCommitted, includingAborted: Bool = true) async throws -> [StreamRecord] {
        try await executor.run {
            try self.readStreamBlocking(key: key, fromVersion: fromVersion, maxRecords: maxRecords, isolation: isolation, includingAborted: includingAborted)
        }
    }

    func readStreamBlocking(key: [UInt8], fromVersion: Int64, maxRecords: Int, isolation: IsolationLevel = .readCommitted,
                            includingAborted: Bool = true) throws -> [StreamRecord] {
        let view = try readView()
        var records: [StreamRecord] = []
        var version: Int64 = 0
        for segment in view.segments where records.count < maxRecords {
            var entries: [KeyIndexEntry]
            if let active = state.withLock({ _ in segment.active?.keyIndex.entries(for: key) }) {
                entries = active
            } else {
                let index = try sealedKeyIndex(of: segment)
                let count = index.count(for: key)
                if version + Int64(count) <= fromVersion {
                    version += Int64(count)
                    continue
                }
                entries = index.entries(for: key)
            }
            let firstVersion = version
            version += Int64(entries.count)
            let skip = Int(max(0, fromVersion - firstVersion))
            guard skip < entries.count else { continue }
            let bound = isolation == .readCommitted ? view.lastStableOffset : view.highWatermark
            let filtersAborted = (isolation == .readCommitted || !includingAborted) && state.withLock { !$0.producers.aborted.isEmpty }
            // Aborted records are dropped before the limit counts, so a page is short only at the end.
            var position = skip
            while position < entries.count && records.count < maxRecords {
                let selected = entries[position...]
                    .prefix { segment.baseOffset + Int64($0.relativeOffset) < bound }
                    .prefix(maxRecords - records.count)
                if selected.isEmpty { break }
                let before = records.count
                try readEntries(Array(selected), firstVersion: firstVersion + Int64(position), of: segment, key: key, into: &records)
                if filtersAborted {
                    let kept = try records[before...].filter { try !isAborted(offset: $0.offset) }
                    records.replaceSubrange(before..., with: kept)
                }
                position += selected.count
            }
        }
        return records
    }

    /// How many records with `key` the log holds (visible or not), which is also the version the
    /// stream's next event gets. Cached; a miss costs one Bloom test per segment plus a lookup
    /// where the key is.
    public func streamCount(key: [UInt8]) async throws -> Int64 {
        try await executor.run { try self.streamCountBlocking(key: key) }
    }

    /// The stream's version: the version of its last record (0-based), -1 when it has none.
    /// (The one meaning of "version" from the Swift API to the HTTP API; the count is
    /// ``streamCount(key:)``.)
    public func streamVersion(key: [UInt8]) async throws -> Int64 {
        try await streamCount(key: key) - 1
    }

    /// ``streamVersion(key:)`` of each key, in one trip to the log's I/O thread: a multi-stream
    /// append of a thousand streams checks them without a thousand thread hops.
    public func streamVersions(keys: [[UInt8]]) async throws -> [Int64] {
        try await executor.run { try keys.map { try self.streamCountBlocking(key: $0) - 1 } }
    }

    /// ``readStream(key:fromVersion:maxRecords:isolation:includingAborted:)`` for several
    /// streams, in one trip to the log's I/O thread.
    public func readStreams(_ requests: [(key: [UInt8], fromVersion: Int64, maxRecords: Int)], isolation: IsolationLevel = .readCommitted,
                            includingAborted: Bool = true) async throws -> [[StreamRecord]] {
        try await executor.run {
            try requests.map {
                try self.readStreamBlocking(key: $0.key, fromVersion: $0.fromVersion, maxRecords: $0.maxRecords, isolation: isolation,
                                            includingAborted: includingAborted)
            }
        }
    }

    func streamVersionBlocking(key: [UInt8]) throws -> Int64 {
        try streamCountBlocking(key: key) - 1
    }

    func streamCountBlocking(key: [UInt8]) throws -> Int64 {
        let snapshot = try state.withLock { state throws(LogError) -> (Int64?, [LogSegment], Int64, Int, Int64) in
            try checkOpen(state)
            return (state.versions.count(for: key), state.segments, state.active.active?.keyIndex.count(for: key).int64 ?? 0,
                    state.versions.epoch, state.logEndOffset)
        }
        if let cached = snapshot.0 { return cached }
        var count = snapshot.2
        for segment in snapshot.1.dropLast() {
            count += Int64(try sealedKeyIndex(of: segment).count(for: key))
        }
        state.withLock { state in
            // Appends since the snapshot were not counted; cache only if there were none.
            if state.versions.epoch == snapshot.3 && state.logEndOffset == snapshot.4 { state.versions.insert(count, for: key) }
        }
        return count
    }
}

extension Int {
    var int64: Int64 { Int64(self) }
}

extension PartitionLog {
    /// Fetches the records behind key index entries, coalescing nearby ones into one read,
    /// and checks each record's CRC (or its whole batch's, for compressed batches).
    func readEntries(_ entries: [KeyIndexEntry], firstVersion: Int64, of segment: LogSegment, key: [UInt8], into records: inout [StreamRecord]) throws {
        records.reserveCapacity(records.count + entries.count)
        if let mapped = mappedLog(of: segment) {
            // A sealed segment never changes, so its records are read in place: a stream read of a
            // thousand scattered records costs memory loads instead of a thousand `pread`s, each of
            // which walks the kernel's page-cache tree (measured: 60% of the time at 10M records).
            for (entryIndex, entry) in entries.enumerated() {
                let end = Int(entry.position) + Int(entry.length)
                guard end <= mapped.count else {
                    throw LogError.corruption(LogCorruption(file: segment.logPath, position: Int64(entry.position), reason: "segment shorter than its key index says"))
                }
                let record = try mapped.withUnsafeBytes { try decodeEntry(entry, UnsafeRawBufferPointer(rebasing: $0[Int(entry.position)..<end]), segment: segment) }
                records.append(StreamRecord(offset: segment.baseOffset + Int64(entry.relativeOffset), version: firstVersion + Int64(entryIndex),
                                            timestamp: entry.timestamp, key: key, value: record.value, headers: record.headers))
            }
            return
        }
        // One buffer for every run: a stream read costs one allocation per record (its value), not two.
        var buffer = [UInt8](repeating: 0, count: 4096)
        var index = 0
        while index < entries.count {
            // Extend the run while the next entry starts close after the current run's end.
            let runStart = Int64(entries[index].position)
            var runEnd = runStart + Int64(entries[index].length)
            var last = index
            while last + 1 < entries.count {
                let next = entries[last + 1]
                let nextEnd = Int64(next.position) + Int64(next.length)
                guard Int64(next.position) >= runStart, nextEnd - runStart <= Int64(Self.streamReadCoalesceBytes),
                      Int64(next.position) - runEnd <= 4096 else { break }
                runEnd = max(runEnd, nextEnd)
                last += 1
            }
            let count = Int(runEnd - runStart)
            if buffer.count < count { buffer = [UInt8](repeating: 0, count: max(count, 2 * buffer.count)) }
            let got: Int
            do { got = try buffer.withUnsafeMutableBytes { try segment.file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<count]), at: runStart) } }
            catch { throw LogError(wrapping: error) }
            guard got == count else {
                throw LogError.corruption(LogCorruption(file: segment.logPath, position: runStart + Int64(got), reason: "segment shorter than its key index says"))
            }
            for entryIndex in index...last {
                let entry = entries[entryIndex]
                let from = Int(Int64(entry.position) - runStart)
                let record = try buffer.withUnsafeBytes { raw in
                    try decodeEntry(entry, UnsafeRawBufferPointer(rebasing: raw[from..<(from + Int(entry.length))]), segment: segment)
                }
                records.append(StreamRecord(offset: segment.baseOffset + Int64(entry.relativeOffset), version: firstVersion + Int64(entryIndex),
                                            timestamp: entry.timestamp, key: key, value: record.value, headers: record.headers))
            }
            index = last + 1
        }
    }

    /// The log file of a sealed segment, mapped once; `nil` for the active segment or where the
    /// file system cannot map.
    private func mappedLog(of segment: LogSegment) -> IndexBytes? {
        guard fileSystem.supportsMapping, state.withLock({ _ in segment.active == nil }) else { return nil }
        return segment.mappedLog.withLock { mapped in
            if mapped == nil { mapped = segment.file.mapReadOnly(count: Int(segment.summary.logBytes)) }
            return mapped
        }
    }

    private func decodeEntry(_ entry: KeyIndexEntry, _ bytes: UnsafeRawBufferPointer, segment: LogSegment) throws -> (value: [UInt8]?, headers: [RecordHeader]) {
        let damage = { (reason: String) in LogError.corruption(LogCorruption(file: segment.logPath, position: Int64(entry.position), reason: reason)) }
        if !entry.spansWholeBatch {
            guard CRC32C.checksum(bytes) == entry.checksum else { throw damage("record CRC32C mismatch") }
            var reader = ByteReader(bytes)
            let view: RecordView
            do { view = try RecordView(from: &reader) } catch { throw damage("record does not parse: \(error)") }
            return (view.value.map { reader.copy($0) }, view.headerCount == 0 ? [] : Record(view: view, in: bytes).headers)
        }
        guard RecordBatch.hasValidChecksum(bytes) else { throw damage("CRC32C mismatch") }
        let header = try RecordBatchHeader(parsing: bytes)
        guard let wanted = Int32(exactly: Int64(entry.relativeOffset) + segment.baseOffset - header.baseOffset) else {
            throw damage("batch offset \(header.baseOffset) does not hold offset \(segment.baseOffset + Int64(entry.relativeOffset))")
        }
        let records = try BatchIndexer.decompressedRecords(of: bytes, header: header, codec: header.attributes.compression ?? .none, decompressor: decompressor)
        var found: Record?
        try records.withUnsafeBytes { raw in
            try RecordBatch.forEachRecordView(inRecords: raw, from: 0, to: raw.count, count: Int(header.recordCount)) { view throws(CodecError) in
                if view.offsetDelta == wanted { found = Record(view: view, in: raw) }
            }
        }
        guard let found else { throw damage("record \(wanted) missing from its batch") }
        return (found.value, found.headers)
    }
}

extension PartitionLog {
    /// The stream version of each record given by key and offset: its rank among the records
    /// with that key. This is how a record read by offset (a category read, a Kafka fetch) learns
    /// its version without any version being written into it. Costs a key-index lookup per
    /// segment for each distinct key, not a scan; the records must be in the log.
    public func streamVersions(of records: [(key: [UInt8], offset: Int64)]) async throws -> [Int64] {
        try await executor.run { try self.streamVersionsBlocking(of: records) }
    }

    func streamVersionsBlocking(of records: [(key: [UInt8], offset: Int64)]) throws -> [Int64] {
        let view = try readView()
        let bases = view.segments.map(\.baseOffset)
        // Per key: the record count of each segment before the one asked about, memoised.
        var countsBefore: [[UInt8]: [Int: Int64]] = [:]
        var entriesIn: [[UInt8]: [Int: [UInt32]]] = [:]
        func entries(_ key: [UInt8], _ segmentIndex: Int) throws -> [UInt32] {
            if let known = entriesIn[key]?[segmentIndex] { return known }
            let segment = view.segments[segmentIndex]
            let found: [UInt32]
            if let active = state.withLock({ _ in segment.active?.keyIndex.entries(for: key) }) {
                found = active.map(\.relativeOffset)
            } else {
                found = try sealedKeyIndex(of: segment).entries(for: key).map(\.relativeOffset)
            }
            entriesIn[key, default: [:]][segmentIndex] = found
            return found
        }
        func countBefore(_ key: [UInt8], _ segmentIndex: Int) throws -> Int64 {
            if segmentIndex == 0 { return 0 }
            if let known = countsBefore[key]?[segmentIndex] { return known }
            let previous = view.segments[segmentIndex - 1]
            let inPrevious: Int64
            if let active = state.withLock({ _ in previous.active?.keyIndex.count(for: key) }) {
                inPrevious = Int64(active)
            } else {
                inPrevious = Int64(try sealedKeyIndex(of: previous).count(for: key))
            }
            let total = try countBefore(key, segmentIndex - 1) + inPrevious
            countsBefore[key, default: [:]][segmentIndex] = total
            return total
        }
        return try records.map { record in
            // The last segment whose base offset is at or below the record's offset.
            var low = 0, high = bases.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if bases[middle] <= record.offset { low = middle } else { high = middle - 1 }
            }
            guard !bases.isEmpty, bases[low] <= record.offset else {
                throw LogError.offsetOutOfRange(requested: record.offset, logStartOffset: view.logStartOffset, logEndOffset: view.logEndOffset)
            }
            let relative = UInt32(record.offset - bases[low])
            let offsets = try entries(record.key, low)
            var first = 0, last = offsets.count
            while first < last {
                let middle = (first + last) / 2
                if offsets[middle] < relative { first = middle + 1 } else { last = middle }
            }
            guard first < offsets.count, offsets[first] == relative else {
                throw LogError.invalidBatch("no record with this key at offset \(record.offset)")
            }
            return try countBefore(record.key, low) + Int64(first)
        }
    }
}
