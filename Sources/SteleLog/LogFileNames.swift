/// File names of a partition directory. Names encode state, so recovery is a function of the
/// directory listing (as in Kafka's `LogFileUtils`):
///
/// - `00000000000000000042.log` — a segment whose first offset is 42 (20 digits, zero padded);
/// - `.index`, `.timeindex`, `.keyindex` — its offset, time and key index;
/// - suffix `.cleaned` — compaction output not yet complete (deleted on recovery);
/// - suffix `.swap` — complete compaction output replacing the segment (renamed into place on recovery);
/// - suffix `.tmp` (after any of the above) — a file being written before its rename (deleted on recovery).
enum LogFileNames {
    enum Kind: String, CaseIterable {
        case log, index, timeindex, keyindex
        /// Idempotent-producer state as of the segment's base offset (written at roll).
        case producers
    }

    enum Stage: String {
        case live = "", cleaned = ".cleaned", swap = ".swap", temporary = ".tmp"
    }

    struct Parsed: Equatable {
        var baseOffset: Int64
        var kind: Kind
        var stage: Stage
    }

    static func name(baseOffset: Int64, kind: Kind, stage: Stage = .live) -> String {
        precondition(baseOffset >= 0)
        let digits = String(baseOffset)
        return String(repeating: "0", count: 20 - digits.count) + digits + "." + kind.rawValue + stage.rawValue
    }

    static func path(_ directory: String, baseOffset: Int64, kind: Kind, stage: Stage = .live) -> String {
        directory + "/" + name(baseOffset: baseOffset, kind: kind, stage: stage)
    }

    /// Parses a name made by `name(baseOffset:kind:stage:)`; anything else is not ours.
    static func parse(_ name: String) -> Parsed? {
        if name.hasSuffix(".tmp") {
            guard var parsed = parse(String(name.dropLast(4))) else { return nil }
            parsed.stage = .temporary
            return parsed
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, parts[0].count == 20,
              parts[0].allSatisfy(\.isASCII), let base = Int64(parts[0]), base >= 0,
              let kind = Kind(rawValue: String(parts[1])) else { return nil }
        let stage: Stage
        if parts.count == 2 { stage = .live } else {
            guard let parsed = Stage(rawValue: "." + parts[2]), parsed == .cleaned || parsed == .swap else { return nil }
            stage = parsed
        }
        return Parsed(baseOffset: base, kind: kind, stage: stage)
    }
}
