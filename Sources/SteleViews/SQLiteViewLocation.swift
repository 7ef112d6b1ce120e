import Foundation
import SteleLog

/// A view's SQLite files: `DIRECTORY/NAME/N.sqlite`, one per generation, and `CURRENT` naming the
/// live one. A rebuild writes generation N+1; promoting it rewrites `CURRENT` (the log's atomic
/// file write: write, fsync, rename, then the directory synced), so a crash leaves either the old
/// view with the rebuild to resume, or the new view. Processes other than Stele that read a view should read
/// the file `CURRENT` names.
public struct SQLiteViewLocation: ViewLocation {
    public let directory: String
    public let name: String
    public let queryTimeout: Duration
    private let pointer: GenerationPointer

    /// - Parameter directory: where views are kept (`DATA/views`); this view's files go in
    ///   a folder of its name.
    public init(directory: String, name: String, queryTimeout: Duration = .seconds(5)) throws {
        if let problem = ViewName.problem(name) { throw ViewError.store(problem) }
        self.directory = directory + "/" + name
        self.name = name
        self.queryTimeout = queryTimeout
        self.pointer = GenerationPointer(directory: self.directory, fileSystem: POSIXFileSystem())
        try POSIXFileSystem().createDirectoryDurably(self.directory)
        try removeGenerations { $0 < (try? current()) ?? 1 }
    }

    /// The live generation.
    public func current() throws -> Int {
        try pointer.current()
    }

    public func path(of generation: Int) -> String { directory + "/\(generation).sqlite" }

    public func openLive() async throws -> any ViewStore {
        try SQLiteViewStore(path: path(of: try current()), queryTimeout: queryTimeout)
    }

    public func hasUnfinishedRebuild() async throws -> Bool {
        FileManager.default.fileExists(atPath: path(of: try current() + 1))
    }

    public func openRebuild(resume: Bool) async throws -> any ViewStore {
        let next = try current() + 1
        if !resume { try removeGenerations { $0 == next } }
        return try SQLiteViewStore(path: path(of: next), queryTimeout: queryTimeout)
    }

    public func promote(rebuild: any ViewStore, replacing live: any ViewStore) async throws -> any ViewStore {
        let old = try current()
        guard let rebuilt = rebuild as? SQLiteViewStore, rebuilt.path == path(of: old + 1) else {
            throw ViewError.store("promote was given a store that is not this view's rebuild")
        }
        try pointer.set(old + 1)
        // Readers of the old file keep it open until their query ends; the files go when the
        // old store is released.
        (live as? SQLiteViewStore)?.removeFilesWhenReleased()
        return rebuilt
    }

    private func removeGenerations(where matches: (Int) throws -> Bool) throws {
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let generation = Int(file.split(separator: ".").first ?? ""), file.contains(".sqlite"), try matches(generation) else { continue }
            try? FileManager.default.removeItem(atPath: directory + "/" + file)
        }
    }
}

/// The `CURRENT` file of a view's directory: which generation of its files is live. Replaced
/// durably (aside, synced, renamed over, the directory synced), so after any crash it names
/// the old generation or the new one. Through a ``FileSystem`` so crash tests stop it at every
/// operation.
struct GenerationPointer {
    let directory: String
    let fileSystem: any FileSystem

    var path: String { directory + "/CURRENT" }

    /// The live generation; 1 before the first rebuild.
    func current() throws -> Int {
        guard fileSystem.fileExists(path) else { return 1 }
        let text = String(decoding: try fileSystem.readFile(path), as: UTF8.self).trimmingSpace()
        guard let generation = Int(text), generation >= 1 else { throw ViewError.store("\(path) holds '\(text)', not a generation number") }
        return generation
    }

    func set(_ generation: Int) throws {
        do {
            try fileSystem.writeFileDurably(path, contents: Array("\(generation)\n".utf8))
        } catch {
            throw ViewError.store("cannot write \(path): \(error)")
        }
    }
}
