import SteleLog
import SteleStore

/// Where reactors and other followers keep their checkpoints.
public protocol CheckpointStore: Sendable {
    func load(_ name: String) async throws -> CategoryCheckpoint?
    func save(_ checkpoint: CategoryCheckpoint, for name: String) async throws
}

/// Checkpoints as small files in a directory, each replaced durably (written aside, synced,
/// renamed over, the directory synced): after a crash or a power cut a checkpoint is the one
/// last saved or the one before, never empty or torn.
public struct FileCheckpointStore: CheckpointStore {
    public let directory: String
    private let fileSystem: any FileSystem

    public init(directory: String) throws {
        try self.init(directory: directory, fileSystem: POSIXFileSystem())
    }

    /// Through `fileSystem` (the simulated one in crash tests); the directory is created durably.
    public init(directory: String, fileSystem: any FileSystem) throws {
        self.directory = directory
        self.fileSystem = fileSystem
        try fileSystem.createDirectoryDurably(directory)
    }

    private func path(_ name: String) -> String {
        directory + "/" + Self.fileStem(name) + ".checkpoint"
    }

    /// A checkpoint's file name without `.checkpoint`: the name with every character other than a
    /// letter, a digit, `-` and `_` written `_`.
    static func fileStem(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    /// Whether a checkpoint is saved under `name`.
    func contains(_ name: String) -> Bool { fileSystem.fileExists(path(name)) }

    public func load(_ name: String) async throws -> CategoryCheckpoint? {
        guard fileSystem.fileExists(path(name)) else { return nil }
        let text = String(decoding: try fileSystem.readFile(path(name)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let checkpoint = CategoryCheckpoint(text) else {
            throw EventStoreError.storage("checkpoint file \(path(name)) does not hold a checkpoint: '\(text)'")
        }
        return checkpoint
    }

    public func save(_ checkpoint: CategoryCheckpoint, for name: String) async throws {
        do {
            try fileSystem.writeFileDurably(path(name), contents: Array((checkpoint.description + "\n").utf8))
        } catch {
            throw EventStoreError.storage("cannot save checkpoint \(path(name)): \(error)")
        }
    }
}

/// Checkpoints kept in memory (tests, throwaway followers).
public actor InMemoryCheckpointStore: CheckpointStore {
    private var checkpoints: [String: CategoryCheckpoint] = [:]
    public init() {}
    public func load(_ name: String) -> CategoryCheckpoint? { checkpoints[name] }
    public func save(_ checkpoint: CategoryCheckpoint, for name: String) { checkpoints[name] = checkpoint }
}

extension CheckpointStore {
    /// A processor's watermark at its replay point, kept beside its checkpoint (under
    /// `name.watermark`) through the same two calls every store has: as a one-partition
    /// checkpoint whose offset is the watermark plus 2^62 (offsets are never negative; a
    /// watermark below −2^62 is kept as −2^62, which only makes fewer events late).
    public func loadWatermark(_ name: String) async throws -> Int64? {
        guard let saved = try await load(name + ".watermark"), let offset = saved.nextOffsets[0] else { return nil }
        return offset - Self.watermarkBias
    }

    public func saveWatermark(_ watermark: Int64, for name: String) async throws {
        let kept = max(watermark, -Self.watermarkBias)
        let (offset, overflow) = kept.addingReportingOverflow(Self.watermarkBias)
        try await save(CategoryCheckpoint(nextOffsets: [0: overflow ? .max : offset]), for: name + ".watermark")
    }

    private static var watermarkBias: Int64 { 1 << 62 }
}
