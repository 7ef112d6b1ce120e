#if canImport(Glibc)
import Glibc
#endif

/// Running out of something that comes back — disk space, file descriptors, memory — while
/// writing or opening a file stops the partition like any storage failure (whatever reached the
/// file is unknown), but does not latch: the next append recovers the partition in place from
/// what is on disk, exactly as a restart would (a partial write beyond the recovery point is cut
/// and set aside; nothing acknowledged is touched), and goes on. A failed sync never qualifies:
/// after one, the page cache no longer says what is on disk.
extension PartitionLog {
    /// Error numbers of resources that come back.
    static let transientErrors: Set<Int32> = [ENOSPC, EDQUOT, EMFILE, ENFILE, ENOMEM]
    /// At most one recovery attempt per this many milliseconds (each rescans the active segment).
    static let recoveryAttemptIntervalMs: Int64 = 1000

    static func isTransient(_ failure: LogError) -> Bool {
        guard case let .storage(error) = failure else { return false }
        return error.operation != "fdatasync" && error.operation != "fsync" && transientErrors.contains(error.code)
    }

    /// On the append drain, with appends stopped by `failure`: recovers in place when the failure
    /// is transient and the last attempt is old enough. True when appends may go on.
    func recoverFromTransientFailure(_ failure: LogError) -> Bool {
        guard Self.isTransient(failure) else { return false }
        let now = clock()
        let due = state.withLock { state -> Bool in
            guard now - state.lastRecoveryAttemptMilliseconds >= Self.recoveryAttemptIntervalMs else { return false }
            state.lastRecoveryAttemptMilliseconds = now
            return true
        }
        guard due else { return false }
        // Retention and compaction also change the segment list: not while it is rebuilt.
        return maintenanceLock.withLock { _ -> Bool in
            // A partition whose segments vanished meanwhile is not started over at offset 0.
            let names = (try? fileSystem.contentsOfDirectory(directory)) ?? []
            guard names.contains(where: { LogFileNames.parse($0).map { $0.kind == .log && $0.stage == .live } ?? false }) else { return false }
            let loader = LogLoader(directory: directory, config: config, fileSystem: fileSystem, decompressor: decompressor, now: clock())
            let loaded: ([LogSegment], ProducerStateTable, RecoveryReport)
            do { loaded = try loader.load() } catch {
                let failure = LogError(wrapping: error)
                // Still short of the resource: try again later. Anything else (a failed sync
                // during the reload) is final, as it would be at any other time.
                if !Self.isTransient(failure) { state.withLock { $0.failure = failure } }
                return false
            }
            let (segments, producers, _) = loaded
            let active = segments.last!
            let end = active.summary.nextOffset
            if active.summary.logBytes > 0 { active.firstAppendMilliseconds = now }
            // DeleteRecords may have passed what the failure left unsynced: the file goes back
            // to the end first, as at open, or a later open would hide records appended now.
            if state.withLock({ $0.logStartOffset }) > end {
                do {
                    try fileSystem.writeFileDurably(directory + "/" + LogStartOffsetFile.fileName, contents: LogStartOffsetFile.encode(end))
                } catch {
                    return false
                }
            }
            state.withLock { state in
                // Only a failure this attempt was for is cleared (a sync failing meanwhile stays).
                guard let current = state.failure, Self.isTransient(current) else { return }
                state.segments = segments
                state.logStartOffset = min(max(state.logStartOffset, segments[0].baseOffset), end)
                state.logEndOffset = end
                state.highWatermark = end
                state.durableOffset = end
                state.visibleBytes = active.summary.logBytes
                state.lastSyncMilliseconds = now
                state.versions = VersionCache(capacity: config.versionCacheEntries)
                state.producers = producers
                state.failure = nil
            }
            noteDurable(RecoveryPoint(segmentBase: active.baseOffset, bytes: active.summary.logBytes, nextOffset: end))
            return state.withLock { $0.failure == nil }
        }
    }
}
