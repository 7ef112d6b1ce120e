import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One owner per data directory: `stele serve` and every tool that writes hold an exclusive
/// `flock` on `<data>/stele.lock`, which names the holder's pid. A second process refuses to
/// start and says who holds the directory; the kernel releases the lock when the holder exits,
/// however it exits (SIGKILL included), so a stale lock file never blocks a restart.
///
/// `flock` rather than `fcntl` locks: an `fcntl` lock is dropped when *any* descriptor of the file
/// is closed by the process, `flock` only with its own. The file is never unlinked: unlinking
/// races with a process that has already opened it and would let two owners in.
public final class DataDirectoryLock: Sendable {
    public static let fileName = "stele.lock"

    /// The locked file's descriptor; `-1` once released.
    private let descriptor: Mutex<Int32>
    public let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = Mutex(descriptor)
        self.path = path
    }

    /// Locks `directory` (created if missing) for this process, or throws
    /// ``DataDirectoryLockError/held(path:holder:)`` naming the process that holds it.
    public static func acquire(_ directory: String) throws -> DataDirectoryLock {
        // Durably: a data directory created now must not vanish in a power cut with what it holds.
        try POSIXFileSystem().createDirectoryDurably(directory)
        let path = directory + "/" + fileName
        // No O_TRUNC: the holder's pid must stay readable until we own the lock.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DataDirectoryLockError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        // A read-only tool asking who holds the directory takes a shared lock for an instant
        // (``holder(of:)``): a few quick retries tell that from a real owner, who never lets go.
        var reason: Int32 = 0
        for attempt in 0..<5 {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { reason = 0; break }
            reason = errno
            guard reason == EWOULDBLOCK, attempt < 4 else { break }
            usleep(20_000)
        }
        guard reason == 0 else {
            let holder = Self.readHolder(fd)
            close(fd)
            if reason == EWOULDBLOCK { throw DataDirectoryLockError.held(path: path, holder: holder) }
            throw DataDirectoryLockError.cannotOpen(path: path, reason: String(cString: strerror(reason)))
        }
        let text = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0, pwrite(fd, text, text.count, 0) == text.count else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw DataDirectoryLockError.cannotOpen(path: path, reason: reason)
        }
        return DataDirectoryLock(descriptor: fd, path: path)
    }

    /// Whether some process holds `directory` now, and which (for read-only tools, which work
    /// beside a running server but may say so).
    public static func holder(of directory: String) -> String? {
        let fd = open(directory + "/" + fileName, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { return nil }
        return readHolder(fd)
    }

    private static func readHolder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        let text = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return text.isEmpty ? "an unknown process" : "pid \(text)"
    }

    /// Gives the directory up (also done by the kernel when the process ends).
    public func release() {
        let fd = descriptor.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { close(fd) }
    }
}

public enum DataDirectoryLockError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another process owns the directory.
    case held(path: String, holder: String)
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case let .held(path, holder):
            "the data directory is in use by \(holder) (\(path) is locked); stop that process first, or give this one another --data-dir"
        case let .cannotOpen(path, reason): "cannot lock \(path): \(reason)"
        }
    }
}
