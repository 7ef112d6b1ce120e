#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real file system, through positional POSIX calls (`pread`, `pwrite`, `fdatasync`).
public struct POSIXFileSystem: FileSystem {
    public init() {}

    public func openFile(_ path: String, create: Bool) throws -> any StorageFile {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = path.withCString { open($0, flags, 0o644) }
        guard fd >= 0 else { throw StorageError.posix("open", path) }
        return POSIXFile(path: path, descriptor: fd)
    }

    public func contentsOfDirectory(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else { throw StorageError.posix("opendir", path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func createDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw StorageError.posix("mkdir", prefix) }
        }
    }

    public func rename(_ source: String, to target: String) throws {
        guard Glibc.rename(source, target) == 0 else { throw StorageError.posix("rename", "\(source) -> \(target)") }
    }

    public func removeFile(_ path: String) throws {
        guard unlink(path) == 0 else { throw StorageError.posix("unlink", path) }
    }

    public func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.posix("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StorageError.posix("fsync", path) }
    }

    public var supportsMapping: Bool { true }

    public func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    public func removeDirectory(_ path: String) throws {
        guard rmdir(path) == 0 else { throw StorageError.posix("rmdir", path) }
    }
}

/// An open descriptor; closed on deinit, when no segment or reader holds it any more.
final class POSIXFile: StorageFile {
    let path: String
    private let descriptor: Int32

    init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let got = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if got < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix("pread", path)
            }
            if got == 0 { break }
            done += got
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let wrote = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if wrote < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix("pwrite", path)
            }
            done += wrote
        }
    }

    func size() throws -> Int64 {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw StorageError.posix("fstat", path) }
        return Int64(status.st_size)
    }

    func truncate(to size: Int64) throws {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw StorageError.posix("ftruncate", path) }
    }

    func mapReadOnly(count: Int) -> IndexBytes? {
        IndexBytes(mapping: descriptor, start: 0, count: count)
    }

    func sync() throws {
        guard fdatasync(descriptor) == 0 else { throw StorageError.posix("fdatasync", path) }
    }
}

extension StorageError {
    static func posix(_ operation: String, _ path: String) -> StorageError {
        let code = errno
        return StorageError(operation: operation, path: path, code: code, reason: String(cString: strerror(code)))
    }
}
