/// The file operations the log needs, behind a protocol so that crash recovery can be tested
/// deterministically: `POSIXFileSystem` is the real one; `SimulatedFileSystem` (in
/// SteleLogTesting) loses unsynced writes and directory changes and crashes at a chosen step.
///
/// Durability contract, as on Linux (`man 2 fdatasync`, `man 2 rename`):
/// - file contents are durable only after ``StorageFile/sync()``;
/// - creating, renaming or removing a name is durable only after ``syncDirectory(_:)``;
/// - ``rename(_:to:)`` atomically replaces an existing target.
public protocol FileSystem: Sendable {
    /// Opens `path` for reading and writing, creating it when `create` is true.
    func openFile(_ path: String, create: Bool) throws -> any StorageFile
    /// Names (not paths) in a directory, in no particular order.
    func contentsOfDirectory(_ path: String) throws -> [String]
    func createDirectory(_ path: String) throws
    func rename(_ source: String, to target: String) throws
    func removeFile(_ path: String) throws
    /// Removes an empty directory (`rmdir`).
    func removeDirectory(_ path: String) throws
    func syncDirectory(_ path: String) throws
    /// Whether a file or a directory has this path.
    func fileExists(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
    /// Whether ``SealedIndexLoader`` may `mmap` files by path (only for the real file system).
    var supportsMapping: Bool { get }
}

extension FileSystem {
    public var supportsMapping: Bool { false }
}

/// An open file. Reads and writes are positional, so concurrent readers need no shared cursor.
/// The file is closed when the last reference goes away, so a reader that still holds a
/// segment removed by retention or replaced by compaction keeps reading the old bytes.
public protocol StorageFile: AnyObject, Sendable {
    var path: String { get }
    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    func size() throws -> Int64
    func truncate(to size: Int64) throws
    /// Makes the contents durable (`fdatasync`).
    func sync() throws
    /// The file's `count` bytes mapped read-only, if this file system can map (the file must be
    /// that long and must not shrink while mapped; Stele maps only sealed segments).
    func mapReadOnly(count: Int) -> IndexBytes?
}

extension StorageFile {
    public func mapReadOnly(count: Int) -> IndexBytes? { nil }
}

/// A failed file operation, with the path and the operating system's reason.
public struct StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32
    public var reason: String

    public init(operation: String, path: String, code: Int32, reason: String) {
        self.operation = operation
        self.path = path
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(operation) \(path): \(reason)" }
}

extension StorageFile {
    /// Reads exactly `count` bytes at `offset`, or fewer if the file ends first.
    public func read(count: Int, at offset: Int64) throws -> [UInt8] {
        precondition(count >= 0)
        // Uninitialized: zero-filling first would touch every byte twice.
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { raw in try write(raw, at: offset) }
    }
}

extension FileSystem {
    /// Writes a whole file as `path.tmp`, syncs it, and renames it over `path`: a reader that
    /// has the old file open or mapped keeps the old bytes (never a file truncated under it).
    /// The rename is made durable by the caller's next `syncDirectory`; index files are
    /// checksummed and rebuilt from the log if a crash loses or tears them.
    public func writeFile(_ path: String, contents: [UInt8]) throws {
        let temporary = path + ".tmp"
        let file = try openFile(temporary, create: true)
        try file.truncate(to: 0)
        try file.write(contents, at: 0)
        try file.sync()
        try rename(temporary, to: path)
    }

    /// Replaces `path` whole and durably — written aside, synced, renamed over, its directory
    /// synced — so a crash leaves the old contents or the new, never a mix or nothing. The one
    /// way Stele writes a small metadata file (recovery points, producer ids, topic configs).
    public func writeFileDurably(_ path: String, contents: [UInt8]) throws {
        try writeFile(path, contents: contents)
        let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        try syncDirectory(parent.isEmpty ? "/" : parent)
    }

    /// Creates `path` and any missing parents, syncing the parent of each directory it creates:
    /// a new directory's entry is durable only then, and a power cut before it would take the
    /// directory and everything later written in it.
    public func createDirectoryDurably(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/").filter { $0 != "." }
        for (index, component) in components.enumerated() {
            let parent = prefix.isEmpty ? "/" : prefix
            prefix += "/" + component
            // The last one's parent is synced even when it exists: it may have been made, and
            // not synced, by a process that crashed (found by review).
            guard !isDirectory(prefix) || index == components.count - 1 else { continue }
            if !isDirectory(prefix) { try createDirectory(prefix) }
            try syncDirectory(parent)
        }
    }

    /// Removes `path` and everything under it (files first, then the emptied directories).
    public func removeTree(_ path: String) throws {
        for name in try contentsOfDirectory(path) {
            let child = path + "/" + name
            if isDirectory(child) { try removeTree(child) } else { try removeFile(child) }
        }
        try removeDirectory(path)
    }

    public func readFile(_ path: String) throws -> [UInt8] {
        let file = try openFile(path, create: false)
        return try file.read(count: Int(try file.size()), at: 0)
    }

    /// Removes `path` if it exists.
    public func removeFileIfPresent(_ path: String) throws {
        if fileExists(path) { try removeFile(path) }
    }
}
