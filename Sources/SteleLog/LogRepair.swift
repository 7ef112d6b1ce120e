import Foundation
/// The operator's way back after damage below the recovery point (the partition refused to
/// open): the damaged bytes and everything after them in the active segment are set aside in a
/// file beside it (`N.log.damaged-P`, never deleted), the segment is cut there, and the log goes
/// on in a new segment at the recovery point's offset — so offsets that were acknowledged are
/// never handed out again, and the loss is reported, offset by offset.
public enum LogRepair {
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        /// The damaged segment and where its damage starts.
        public var segment: String
        public var position: Int64
        /// Where the bytes from `position` on were moved.
        public var setAside: String
        public var setAsideBytes: Int64
        /// Acknowledged offsets no longer served: `lost.lowerBound` is the first offset after
        /// the last whole batch before the damage.
        public var lost: Range<Int64>

        public var description: String {
            "set aside \(setAsideBytes) bytes of \(segment) from byte \(position) in \(setAside); "
                + (lost.isEmpty ? "no acknowledged offset lost" : "offsets \(lost.lowerBound)..<\(lost.upperBound) are lost (they had been acknowledged)")
                + "; the partition continues at offset \(lost.upperBound)"
        }
    }

    /// Repairs `directory` if it does not open because of damage below its recovery point; nil
    /// when there is nothing to repair (it opens, or fails for another reason, which is thrown).
    ///
    /// `config`: the partition's own (`topic.json`): a mirror topic's log has gaps between
    /// batches that a default config reads as damage.
    public static func setAsideDamage(directory: String, config: LogConfig = LogConfig(),
                                      fileSystem: any FileSystem = POSIXFileSystem()) async throws -> Report? {
        // Never on a directory that is not a partition's: opening would create an empty log
        // there, and a partition whose directory vanished must stay offline, not start over.
        let names = (try? fileSystem.contentsOfDirectory(directory)) ?? []
        guard names.contains(where: { LogFileNames.parse($0).map { $0.kind == .log && $0.stage == .live } ?? false }) else {
            throw LogError.corruption(LogCorruption(file: directory, position: 0, reason: "no segment file here: not a partition directory (or its data is gone); nothing was changed"))
        }
        let corruption: LogCorruption
        do {
            let log = try await PartitionLog.open(directory: directory, config: config, fileSystem: fileSystem)
            try await log.close()
            return nil
        } catch let LogError.corruption(found) where found.reason.hasPrefix(LogLoader.damageBelowRecoveryPoint)
                    || found.reason.hasPrefix(LogLoader.damageFollowedByValidBatches) {
            corruption = found
        }
        let pointPath = directory + "/" + RecoveryPoint.fileName
        guard let point = RecoveryPoint.decode(try fileSystem.readFile(pointPath)) else { return nil }
        let file = try fileSystem.openFile(corruption.file, create: false)
        let size = try file.size()
        // The offset after the last whole batch before the damage, from the damaged segment's own
        // base (the point may still be in the segment before it, within a second of a roll).
        guard let segmentBase = LogFileNames.parse((corruption.file as NSString).lastPathComponent)?.baseOffset else { return nil }
        var end = segmentBase
        _ = try SegmentScanner.scan(file: file, expectedOffset: segmentBase, allowsGaps: config.allowsOffsetGaps) { position, _, header in
            if position < corruption.position { end = header.nextOffset }
        }
        // A name no earlier repair used: a rerun after a crash must never overwrite a copy.
        var aside = corruption.file + ".damaged-\(corruption.position)"
        var attempt = 1
        while fileSystem.fileExists(aside) {
            aside = corruption.file + ".damaged-\(corruption.position).\(attempt)"
            attempt += 1
        }
        let setAside = try file.read(count: Int(size - corruption.position), at: corruption.position)
        try fileSystem.writeFile(aside, contents: setAside)
        // The copy's name is durable before a byte of the segment goes.
        try fileSystem.syncDirectory(directory)
        try file.truncate(to: corruption.position)
        try file.sync()
        // A new, empty active segment past every offset that may have been acknowledged: the
        // point's, and any whole batch in what was set aside (the point may lag by a second).
        // The lost offsets stay a gap (reads step over it), never reused.
        let next = max(point.nextOffset, end, SegmentScanner.endOfValidBatches(in: setAside, minimumOffset: end) ?? end)
        if next > segmentBase {
            _ = try fileSystem.openFile(LogFileNames.path(directory, baseOffset: next, kind: .log), create: true)
            // The new segment's name is durable before the point names it.
            try fileSystem.syncDirectory(directory)
        }
        try fileSystem.writeFile(pointPath, contents: RecoveryPoint(segmentBase: next, bytes: 0, nextOffset: next).encoded())
        try fileSystem.syncDirectory(directory)
        return Report(segment: corruption.file, position: corruption.position, setAside: aside,
                      setAsideBytes: size - corruption.position, lost: end..<next)
    }
}
