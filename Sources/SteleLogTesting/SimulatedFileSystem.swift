import Foundation
import SteleCore
import SteleLog

/// An in-memory file system that models what survives a crash, for deterministic crash tests
/// (after TigerBeetle's `testing/storage.zig`).
///
/// Each file keeps its current bytes and its durable bytes (as of its last `sync`); each
/// directory keeps its current entries and its durable ones (as of its last `syncDirectory`),
/// subdirectories included: a directory whose entry in its parent was never synced is lost in a
/// power cut with all it holds.
/// ``crashImage(_:)`` builds the file system a restart would find. ``crashAtOperation`` makes the
/// n-th mutating operation fail (a write may land half-way) and every later one too, as if the
/// process died there.
public final class SimulatedFileSystem: FileSystem, @unchecked Sendable {
    final class Inode {
        var data: [UInt8]
        var durable: [UInt8]
        init(data: [UInt8] = [], durable: [UInt8] = []) {
            self.data = data
            self.durable = durable
        }
    }

    /// A directory: its files and subdirectories as they are now, and as of its last
    /// `syncDirectory` — what a power cut leaves. A subdirectory whose entry was never synced
    /// vanishes with everything in it, as a new directory can on a real file system.
    final class Node {
        var files: [String: Inode] = [:]
        var durableFiles: [String: Inode] = [:]
        var subdirectories: [String: Node] = [:]
        var durableSubdirectories: [String: Node] = [:]
        var isEmpty: Bool { files.isEmpty && subdirectories.isEmpty }
    }

    /// The error every operation throws once the simulated crash has happened.
    public struct Crash: Error, CustomStringConvertible {
        public var description: String { "simulated crash" }
    }

    public enum CrashKind {
        /// The process died; the kernel kept everything it was given.
        case process
        /// The machine lost power: only synced bytes and synced names survive. With `tornTail`,
        /// each file also keeps a random prefix of what was written past its durable bytes.
        case power(tornTail: Bool)
    }

    private let lock = NSLock()
    /// `/`, which is always there.
    private var root = Node()
    /// Mutating operations performed so far (writes, syncs, truncations, renames, removals, creations).
    public private(set) var operationCount = 0
    /// When set, the operation with this number (1-based) and every later one throws ``Crash``.
    public var crashAtOperation: Int?
    public private(set) var hasCrashed = false
    /// While set, every file `sync` fails with EIO and makes nothing durable — the process goes
    /// on (unlike ``crashAtOperation``), as after a real fsync error.
    public var failSyncs: Bool {
        get { withLock { syncsFail } }
        set { withLock { syncsFail = newValue } }
    }
    private var syncsFail = false
    /// While set, every file write fails with this error number (ENOSPC, say) after writing a
    /// part of its bytes, and creating a file fails with it too (EMFILE) — the process goes on.
    public var failWrites: Int32? {
        get { withLock { writeFailure } }
        set { withLock { writeFailure = newValue } }
    }
    private var writeFailure: Int32?
    var writeFailureCode: Int32? { writeFailure }
    private var random: SplitMix64

    public init(seed: UInt64 = 1) {
        random = SplitMix64(seed: seed)
    }

    // MARK: Crash images

    /// The file system a restart finds after a crash of the given kind.
    public func crashImage(_ kind: CrashKind, seed: UInt64 = 7) -> SimulatedFileSystem {
        lock.lock(); defer { lock.unlock() }
        let image = SimulatedFileSystem(seed: seed)
        var copies: [ObjectIdentifier: Inode] = [:]
        func copy(_ node: Node) -> Node {
            let restored = Node()
            let files: [String: Inode]
            let subdirectories: [String: Node]
            switch kind {
            case .process: (files, subdirectories) = (node.files, node.subdirectories)
            case .power: (files, subdirectories) = (node.durableFiles, node.durableSubdirectories)
            }
            for (name, inode) in files {
                let made = copies[ObjectIdentifier(inode)] ?? {
                    var bytes: [UInt8]
                    switch kind {
                    case .process: bytes = inode.data
                    case let .power(torn):
                        bytes = inode.durable
                        if torn, inode.data.count > bytes.count, inode.data.starts(with: bytes) {
                            let extra = Int(image.random.next() % UInt64(inode.data.count - bytes.count + 1))
                            bytes += inode.data[bytes.count..<(bytes.count + extra)]
                        }
                    }
                    let made = Inode(data: bytes, durable: bytes)
                    copies[ObjectIdentifier(inode)] = made
                    return made
                }()
                restored.files[name] = made
                restored.durableFiles[name] = made
            }
            for (name, subdirectory) in subdirectories {
                let made = copy(subdirectory)
                restored.subdirectories[name] = made
                restored.durableSubdirectories[name] = made
            }
            return restored
        }
        image.root = copy(root)
        return image
    }

    // MARK: Inspection and damage, for corruption tests

    public func contents(of path: String) -> [UInt8]? {
        lock.lock(); defer { lock.unlock() }
        let (directory, name) = split(path)
        return node(at: directory)?.files[name]?.data
    }

    /// Replaces a file's bytes (current and durable) — to flip bits or cut files in tests.
    public func setContents(of path: String, to bytes: [UInt8]) {
        lock.lock(); defer { lock.unlock() }
        let (directory, name) = split(path)
        if let inode = node(at: directory)?.files[name] {
            inode.data = bytes
            inode.durable = bytes
        }
    }

    // MARK: FileSystem

    public func openFile(_ path: String, create: Bool) throws -> any StorageFile {
        lock.lock(); defer { lock.unlock() }
        let (directoryPath, name) = split(path)
        guard let directory = node(at: directoryPath) else { throw missing("open", path) }
        if let inode = directory.files[name] { return SimulatedFile(path: path, inode: inode, fileSystem: self) }
        guard create else { throw missing("open", path) }
        guard directory.subdirectories[name] == nil else { throw StorageError(operation: "open", path: path, code: 21, reason: "Is a directory") }
        if let code = writeFailure { throw StorageError(operation: "open", path: path, code: code, reason: "simulated error \(code)") }
        try step()
        let inode = Inode()
        directory.files[name] = inode
        return SimulatedFile(path: path, inode: inode, fileSystem: self)
    }

    public func contentsOfDirectory(_ path: String) throws -> [String] {
        lock.lock(); defer { lock.unlock() }
        guard let directory = node(at: path) else { throw missing("opendir", path) }
        return Array(directory.files.keys) + Array(directory.subdirectories.keys)
    }

    /// Creates the directory and any missing parents (as `mkdir -p`); each new entry is durable
    /// only once its parent is synced.
    public func createDirectory(_ path: String) throws {
        lock.lock(); defer { lock.unlock() }
        var current = root
        for component in components(path) {
            if let next = current.subdirectories[component] { current = next; continue }
            guard current.files[component] == nil else { throw StorageError(operation: "mkdir", path: path, code: 17, reason: "File exists") }
            try step()
            let made = Node()
            current.subdirectories[component] = made
            current = made
        }
    }

    public func rename(_ source: String, to target: String) throws {
        lock.lock(); defer { lock.unlock() }
        let (from, fromName) = split(source)
        let (to, toName) = split(target)
        guard let fromNode = node(at: from), let toNode = node(at: to) else { throw missing("rename", source) }
        if let inode = fromNode.files[fromName] {
            guard toNode.subdirectories[toName] == nil else { throw StorageError(operation: "rename", path: target, code: 21, reason: "Is a directory") }
            try step()
            fromNode.files[fromName] = nil
            toNode.files[toName] = inode
        } else if let moved = fromNode.subdirectories[fromName] {
            // As rename(2): a directory may replace an empty one, never a file or a non-empty one.
            if toNode.files[toName] != nil { throw StorageError(operation: "rename", path: target, code: 20, reason: "Not a directory") }
            if let existing = toNode.subdirectories[toName], !existing.isEmpty, existing !== moved {
                throw StorageError(operation: "rename", path: target, code: 39, reason: "Directory not empty")
            }
            try step()
            fromNode.subdirectories[fromName] = nil
            toNode.subdirectories[toName] = moved
        } else {
            throw missing("rename", source)
        }
    }

    public func removeFile(_ path: String) throws {
        lock.lock(); defer { lock.unlock() }
        let (directory, name) = split(path)
        guard let node = node(at: directory), node.files[name] != nil else { throw missing("unlink", path) }
        try step()
        node.files[name] = nil
    }

    public func removeDirectory(_ path: String) throws {
        lock.lock(); defer { lock.unlock() }
        let (directory, name) = split(path)
        guard let parent = node(at: directory), let node = parent.subdirectories[name] else { throw missing("rmdir", path) }
        guard node.isEmpty else { throw StorageError(operation: "rmdir", path: path, code: 39, reason: "Directory not empty") }
        try step()
        parent.subdirectories[name] = nil
    }

    public func syncDirectory(_ path: String) throws {
        lock.lock(); defer { lock.unlock() }
        guard let directory = node(at: path) else { throw missing("fsync", path) }
        try step()
        directory.durableFiles = directory.files
        directory.durableSubdirectories = directory.subdirectories
    }

    public func fileExists(_ path: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let (directory, name) = split(path)
        guard let parent = node(at: directory) else { return false }
        return parent.files[name] != nil || parent.subdirectories[name] != nil
    }

    public func isDirectory(_ path: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return node(at: path) != nil
    }

    // MARK: Internals used by SimulatedFile (called with the lock held)

    /// Counts a mutating operation and throws if it is the crash point (or after it).
    /// - Returns: `true` when this very operation is the crash point (a write may land partly).
    func step(partial: (() -> Void)? = nil) throws {
        if hasCrashed { throw Crash() }
        operationCount += 1
        if let crashAt = crashAtOperation, operationCount >= crashAt {
            hasCrashed = true
            partial?()
            throw Crash()
        }
    }

    var syncFails: Bool { syncsFail }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }

    func nextRandom() -> UInt64 { random.next() }

    private func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return ("/", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    /// Path components; every path is taken from `/` (the tests use absolute ones).
    private func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }

    /// The directory at `path`, if there is one.
    private func node(at path: String) -> Node? {
        var current = root
        for component in components(path) {
            guard let next = current.subdirectories[component] else { return nil }
            current = next
        }
        return current
    }

    private func missing(_ operation: String, _ path: String) -> StorageError {
        StorageError(operation: operation, path: path, code: 2, reason: "No such file or directory")
    }
}

final class SimulatedFile: StorageFile, @unchecked Sendable {
    let path: String
    private let inode: SimulatedFileSystem.Inode
    private let fileSystem: SimulatedFileSystem

    init(path: String, inode: SimulatedFileSystem.Inode, fileSystem: SimulatedFileSystem) {
        self.path = path
        self.inode = inode
        self.fileSystem = fileSystem
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try fileSystem.withLock {
            if fileSystem.hasCrashed { throw SimulatedFileSystem.Crash() }
            let start = Int(offset)
            guard start < inode.data.count else { return 0 }
            let count = min(buffer.count, inode.data.count - start)
            inode.data.withUnsafeBytes { raw in
                buffer.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: count)
            }
            return count
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try fileSystem.withLock {
            let apply = { (count: Int) in
                let start = Int(offset)
                if self.inode.data.count < start + count {
                    self.inode.data += [UInt8](repeating: 0, count: start + count - self.inode.data.count)
                }
                for index in 0..<count { self.inode.data[start + index] = bytes[index] }
            }
            // A crash in the middle of a write leaves a prefix of it (a torn write).
            try fileSystem.step(partial: { apply(Int(self.fileSystem.nextRandom() % UInt64(bytes.count + 1))) })
            if let code = fileSystem.writeFailureCode {
                // A full disk takes what fits, then refuses the rest.
                apply(Int(fileSystem.nextRandom() % UInt64(bytes.count + 1)))
                throw StorageError(operation: "pwrite", path: path, code: code, reason: "simulated error \(code)")
            }
            apply(bytes.count)
        }
    }

    func size() throws -> Int64 {
        fileSystem.withLock { Int64(inode.data.count) }
    }

    func truncate(to size: Int64) throws {
        try fileSystem.withLock {
            try fileSystem.step()
            let size = Int(size)
            if size < inode.data.count { inode.data.removeLast(inode.data.count - size) } else {
                inode.data += [UInt8](repeating: 0, count: size - inode.data.count)
            }
        }
    }

    func sync() throws {
        try fileSystem.withLock {
            try fileSystem.step()
            if fileSystem.syncFails { throw StorageError(operation: "fdatasync", path: path, code: 5, reason: "Input/output error") }
            inode.durable = inode.data
        }
    }
}

