import SteleCore

/// Read-only access to the files of a partition directory, for tools such as `stele log dump`.
/// Nothing here changes a file, so it is safe on a copy of a live data directory.
public enum LogInspector {
    /// Paths of the segment files in `directory`, oldest first.
    public static func segmentFiles(in directory: String, fileSystem: any FileSystem = POSIXFileSystem()) throws -> [String] {
        try fileSystem.contentsOfDirectory(directory).compactMap(LogFileNames.parse)
            .filter { $0.kind == .log && $0.stage == .live }.map(\.baseOffset).sorted()
            .map { LogFileNames.path(directory, baseOffset: $0, kind: .log) }
    }

    /// The base offset a segment file's name gives, if it is a segment file.
    public static func baseOffset(ofSegmentFile path: String) -> Int64? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let parsed = LogFileNames.parse(name), parsed.kind == .log, parsed.stage == .live else { return nil }
        return parsed.baseOffset
    }

    /// Calls `visit(position, batch, header)` for each valid batch of a segment file and returns
    /// the damage found (see ``VerificationReport``). Batches are fully validated first.
    public static func scanSegment(
        _ path: String, fileSystem: any FileSystem = POSIXFileSystem(),
        visit: (Int64, UnsafeRawBufferPointer, RecordBatchHeader) throws -> Void
    ) throws -> [LogCorruption] {
        let file = try fileSystem.openFile(path, create: false)
        // Tools do not know the topic's cleanup policy, so gaps (left by compaction) are allowed.
        let outcome = try SegmentScanner.scan(file: file, expectedOffset: baseOffset(ofSegmentFile: path) ?? 0, allowsGaps: true, visit: visit)
        return outcome.corruptions + (outcome.tornTail.map { [$0] } ?? [])
    }
}
