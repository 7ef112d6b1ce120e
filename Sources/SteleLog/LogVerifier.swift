import SteleCore

/// What `stele log verify` found in a partition directory.
public struct VerificationReport: Sendable {
    public var segments = 0
    public var batches = 0
    public var records = 0
    public var bytes: Int64 = 0
    /// Damage in log files, in file order: the first entry is the first damage.
    public var corruptions: [LogCorruption] = []
    /// Index files that are missing, unreadable or disagree with their log file. Indexes are
    /// derived data, so these are warnings: opening the log rebuilds them.
    public var indexProblems: [String] = []

    public var isClean: Bool { corruptions.isEmpty }
}

/// Reads a partition directory without changing it: every batch of every segment is checked
/// (CRC32C, lengths, record layout, offset order) and every sealed segment's index files are
/// compared with indexes rebuilt from its log. Meant for a copy of a data directory.
public enum LogVerifier {
    public static func verify(directory: String, fileSystem: any FileSystem = POSIXFileSystem(), decompressor: (any RecordDecompressor)? = nil) throws -> VerificationReport {
        var report = VerificationReport()
        let bases = try fileSystem.contentsOfDirectory(directory).compactMap(LogFileNames.parse)
            .filter { $0.kind == .log && $0.stage == .live }.map(\.baseOffset).sorted()
        var expectedOffset: Int64 = bases.first ?? 0
        for (position, base) in bases.enumerated() {
            report.segments += 1
            let path = LogFileNames.path(directory, baseOffset: base, kind: .log)
            let file = try fileSystem.openFile(path, create: false)
            if base < expectedOffset {
                report.corruptions.append(LogCorruption(file: path, position: 0, reason: "segment starts at offset \(base), before the previous segment ends (\(expectedOffset))"))
            }
            var builder = SegmentIndexBuilder(baseOffset: base, indexIntervalBytes: 0)
            // The topic's cleanup policy is unknown here: allow the gaps compaction leaves.
            var lenient = LogConfig()
            lenient.cleanupPolicy = [.delete, .compact]
            let loader = SealedIndexLoader(fileSystem: fileSystem, config: lenient, decompressor: decompressor)
            let outcome = try loader.scan(file: file, into: &builder, from: base)
            report.corruptions += outcome.corruptions
            if let torn = outcome.tornTail { report.corruptions.append(torn) }
            report.bytes += try file.size()
            report.batches += builder.batchCount
            report.records += builder.recordCount
            expectedOffset = max(expectedOffset, builder.nextOffset)
            if position < bases.count - 1 {
                report.indexProblems += indexProblems(base: base, directory: directory, builder: builder, fileSize: try file.size(), fileSystem: fileSystem)
            }
        }
        return report
    }

    /// Compares a sealed segment's index files with what its log file yields.
    private static func indexProblems(base: Int64, directory: String, builder: SegmentIndexBuilder, fileSize: Int64, fileSystem: any FileSystem) -> [String] {
        var problems: [String] = []
        for kind in [IndexFile.Kind.offset, .time, .key] {
            let path = LogFileNames.path(directory, baseOffset: base, kind: kind.fileKind)
            guard let bytes = try? fileSystem.readFile(path) else {
                problems.append("\(path): missing or unreadable")
                continue
            }
            guard let (summary, payload) = IndexFile.decode(bytes, kind: kind, baseOffset: base) else {
                problems.append("\(path): header or checksum invalid")
                continue
            }
            if summary.logBytes != fileSize || summary.nextOffset != builder.nextOffset {
                problems.append("\(path): describes \(summary.logBytes) bytes up to offset \(summary.nextOffset), the log has \(fileSize) bytes up to \(builder.nextOffset)")
                continue
            }
            switch kind {
            case .offset:
                if OffsetIndex(payload: payload, logBytes: fileSize) == nil { problems.append("\(path): entries out of order or past the end") }
            case .time:
                if TimeIndex(payload: payload) == nil { problems.append("\(path): entries out of order") }
            case .key:
                if payload != builder.keyIndex.payload { problems.append("\(path): differs from the keys in the log") }
            }
        }
        return problems
    }
}
