extension PartitionLog {
    /// Deletes whole sealed segments past `retention` or beyond `retentionBytes` (Kafka
    /// `retention.ms`/`retention.bytes`), oldest first. The active segment is never deleted.
    /// Returns how many segments were deleted.
    @discardableResult
    public func enforceRetention() async throws -> Int {
        try await maintenanceExecutor.run { try self.enforceRetentionBlocking() }
    }

    /// Deletes the sealed segments whose records all lie below `offset`. Returns how many.
    @discardableResult
    public func deleteSegments(before offset: Int64) async throws -> Int {
        try await maintenanceExecutor.run {
            try self.maintenanceLock.withLock { _ in
                guard !self.state.withLock({ $0.closed }) else { throw LogError.closed }
                return try self.deleteLeadingSegments { segment, _ in segment.summary.nextOffset <= offset }
            }
        }
    }

    func enforceRetentionBlocking() throws -> Int {
        guard config.cleanupPolicy.contains(.delete) else { return 0 }
        let now = clock()
        return try maintenanceLock.withLock { _ in
            // A closed log's files may belong to a topic created again under the same name.
            guard !state.withLock({ $0.closed }) else { return 0 }
            var deleted = 0
            if let retention = config.retention {
                let cutoff = now - retention.milliseconds
                // A segment whose records carry no timestamp (-1: message format v0, or a client
                // that sent none) has no age to go by: it is kept, never taken as older than any
                // cutoff (Kafka falls back to the file's modification time, which a copy resets).
                deleted += try deleteLeadingSegments { segment, _ in segment.summary.maxTimestamp >= 0 && segment.summary.maxTimestamp < cutoff }
            }
            if let limit = config.retentionBytes {
                // Delete while what remains would still be at least the limit (Kafka's rule).
                deleted += try deleteLeadingSegments { segment, totalBytes in totalBytes - segment.summary.logBytes >= limit }
            }
            return deleted
        }
    }

    /// Removes sealed segments from the front while `shouldDelete(segment, bytesInLog)` holds.
    ///
    /// The segment leaves the in-memory list first (new readers stop finding it; readers that
    /// hold it keep their open file), then its files are unlinked, log file first so that a
    /// crash leaves at worst orphan index files, which recovery removes.
    private func deleteLeadingSegments(_ shouldDelete: (LogSegment, Int64) -> Bool) throws -> Int {
        let removed = state.withLock { state -> [LogSegment] in
            var total = state.segments.reduce(0) { $0 + $1.summary.logBytes }
            var removed: [LogSegment] = []
            while state.segments.count > 1, shouldDelete(state.segments[0], total) {
                let segment = state.segments.removeFirst()
                total -= segment.summary.logBytes
                removed.append(segment)
            }
            if !removed.isEmpty {
                state.versions.invalidate()
                state.logStartOffset = max(state.logStartOffset, state.segments[0].baseOffset)
            }
            return removed
        }
        guard !removed.isEmpty else { return 0 }
        do {
            for segment in removed {
                indexCache.forget(segment)
                try fileSystem.removeFile(segment.logPath)
                for kind in [IndexFile.Kind.offset, .time, .key] { try fileSystem.removeFileIfPresent(segment.indexPath(kind)) }
                try fileSystem.removeFileIfPresent(LogFileNames.path(directory, baseOffset: segment.baseOffset, kind: .producers))
            }
            try fileSystem.syncDirectory(directory)
        } catch {
            throw LogError(wrapping: error)
        }
        return removed.count
    }
}

extension PartitionLog {
    /// Deletes the records below `offset` (Kafka's DeleteRecords): the log start offset moves
    /// there, written durably before the call returns, and the sealed segments wholly below it
    /// are removed. `offset` may not pass the high watermark (records not yet acknowledged
    /// cannot be deleted). Returns the log start offset after the call (Kafka's low watermark);
    /// an offset at or below the current start changes nothing.
    @discardableResult
    public func deleteRecords(before offset: Int64) async throws -> Int64 {
        try await maintenanceExecutor.run {
            try self.maintenanceLock.withLock { _ in
                let (start, highWatermark, closed) = self.state.withLock { ($0.logStartOffset, $0.highWatermark, $0.closed) }
                guard !closed else { throw LogError.closed }
                guard offset >= 0, offset <= highWatermark else {
                    throw LogError.offsetOutOfRange(requested: offset, logStartOffset: start, logEndOffset: highWatermark)
                }
                guard offset > start else { return start }
                do {
                    try self.fileSystem.writeFileDurably(self.directory + "/" + LogStartOffsetFile.fileName, contents: LogStartOffsetFile.encode(offset))
                } catch {
                    throw LogError(wrapping: error)
                }
                self.state.withLock { $0.logStartOffset = max($0.logStartOffset, offset) }
                _ = try self.deleteLeadingSegments { segment, _ in segment.summary.nextOffset <= offset }
                return offset
            }
        }
    }
}
