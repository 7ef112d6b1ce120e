#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes of an index or a sealed segment, either in memory or mapped read-only.
///
/// Sealed key indexes are mapped rather than read: a stream read touches a few pages of each
/// (Bloom filter, a binary search, one key's entries), so mapping keeps the cost independent
/// of index size and leaves memory to the page cache. Files are never modified while mapped:
/// index files are replaced by rename, and a mapping keeps the old inode alive.
public final class IndexBytes: @unchecked Sendable {
    private let storage: [UInt8]
    private let mapping: UnsafeMutableRawPointer?
    private let mappingLength: Int
    private let start: Int
    public let count: Int

    init(_ bytes: [UInt8]) {
        storage = bytes
        mapping = nil
        mappingLength = 0
        start = 0
        count = bytes.count
    }

    /// Maps `path` and exposes `count` bytes from `start`; `nil` if the file cannot be mapped.
    convenience init?(mapping path: String, start: Int, count: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        self.init(mapping: fd, start: start, count: count)
    }

    /// Maps an open descriptor (the mapping outlives it); the file must be exactly `start + count` long.
    init?(mapping fd: Int32, start: Int, count: Int) {
        var status = stat()
        guard fstat(fd, &status) == 0, Int(status.st_size) == start + count, start + count > 0 else { return nil }
        guard let pointer = mmap(nil, start + count, PROT_READ, MAP_SHARED, fd, 0), pointer != MAP_FAILED else { return nil }
        storage = []
        mapping = pointer
        mappingLength = start + count
        self.start = start
        self.count = count
    }

    deinit {
        if let mapping { munmap(mapping, mappingLength) }
    }

    public var isMapped: Bool { mapping != nil }

    public func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        if let mapping { return try body(UnsafeRawBufferPointer(start: mapping + start, count: count)) }
        return try storage.withUnsafeBytes(body)
    }
}
