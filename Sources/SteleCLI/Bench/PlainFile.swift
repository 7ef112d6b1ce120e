import Foundation
import SteleCore
#if canImport(Glibc)
import Glibc
#endif

enum SteleCoreInfo {
    static var crcDescription: String {
        CRC32C.isHardwareAccelerated ? "SSE4.2 (3-way interleaved)" : "software (slice-by-8)"
    }
}

/// The references: what the disk does for a plain file, with the same chunk sizes.
/// Keeps the reference CRC from being optimized away.
nonisolated(unsafe) var crcSink: UInt32 = 0

enum PlainFile {
    /// Writes `chunk`-byte pieces sequentially for `seconds`; with `sync`, `fdatasync` after each
    /// (the fsync'ed bandwidth a durable log is compared with). Returns bytes per second.
    static func writeBandwidth(path: String, chunk: Int, sync: Bool, seconds duration: Double) -> Double {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "open \(path)")
        defer { close(fd); unlink(path) }
        let buffer = [UInt8](repeating: 0x5A, count: chunk)
        var written = 0
        let start = ContinuousClock.now
        while elapsedSeconds(since: start) < duration {
            buffer.withUnsafeBytes { raw in precondition(pwrite(fd, raw.baseAddress, chunk, off_t(written)) == chunk) }
            if sync { precondition(fdatasync(fd) == 0) }
            written += chunk
        }
        return Double(written) / elapsedSeconds(since: start)
    }

    /// Reads files front to back in 1 MiB `pread`s, optionally computing a CRC32C over each
    /// chunk (what any reader that checks integrity must also pay). Returns bytes per second.
    static func readBandwidth(paths: [String], checksum: Bool = false) -> Double {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        let start = ContinuousClock.now
        for path in paths {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            precondition(fd >= 0)
            var offset = 0
            while true {
                let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
                if got <= 0 { break }
                if checksum {
                    crcSink &+= buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[..<got])) }
                }
                total += got
                offset += got
            }
            close(fd)
        }
        return Double(total) / elapsedSeconds(since: start)
    }
}
