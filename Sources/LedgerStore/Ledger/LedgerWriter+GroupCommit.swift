// The writer's commit path. The batches staged when a commit starts are written as one group: the data keys
// their sealed parts need are made durable first (one keys.sqlite transaction), then their frames are appended
// to the segment (each followed by a commit-group marker when there are several) and made durable by one
// fdatasync. While the segment syncs, a second thread stores the keys of the batches staged since, so that in a
// streaming append the key sync of the next group overlaps the segment sync of this one instead of following it.
// A frame is never written before its keys are durable (a frame without its key would be unreadable); keys
// without a frame, left by a crash, are used again by the next writer. An event is acknowledged only once its
// frame is durable.
import LedgerCore

extension LedgerWriter {
    /// Makes `group` durable: the keys its batches need that were not stored ahead, then every frame, one
    /// segment sync (storing keys of later staged batches meanwhile), then per frame the tree, the index and a
    /// checkpoint when one is due. Call with `commitLock` held.
    func write(group: [Staging.Batch]) throws(LedgerError) {
        try keyWriter.insert(group.flatMap { $0.newKeys[$0.keysStoredAhead...] })
        var written: [(batch: Staging.Batch, location: FrameLocation)] = []
        written.reserveCapacity(group.count)
        // A group of several frames marks each with the group's first seq: they become durable together, so
        // after a power loss a later one may have reached the disk while an earlier one is torn (FORMAT.md §2).
        let framed = group.filter { $0.recordCount > 0 }
        let marker =
            framed.count > 1 ? framed.first.map { CommitGroupMarker.bytes(groupFirstSeq: $0.frame.firstSeq) } : nil
        for batch in framed {
            var compressed = try compressedFrame(of: batch)
            if let marker { compressed += marker }
            let full = segment.map { $0.size > 0 && $0.size + compressed.count > configuration.segmentSizeLimit }
            if full ?? true {
                // Frames written to the old segment become durable before any in the new one: a crash never keeps
                // a later frame and loses an earlier one.
                try segment?.sync()
                segment = try ActiveSegment.create(layout: layout, firstSeq: batch.frame.firstSeq)
            }
            guard var current = segment else { throw .invalidRequest("the writer has no segment to append to") }
            let offset = current.size
            try current.write(compressed)
            segment = current
            written.append(
                (
                    batch,
                    FrameLocation(
                        firstSeq: batch.frame.firstSeq, count: batch.recordCount, segment: current.firstSeq,
                        offset: offset, storedBytes: compressed.count,
                        contentBytes: Self.contentBytes(ofStored: compressed),
                        inputBytes: batch.frame.inputBytes, firstTime: batch.firstTime, lastTime: batch.lastTime)
                ))
        }
        try syncSegmentStoringKeysAhead()
        for (batch, location) in written {
            for leafHash in batch.leafHashes {
                frontier.append(leafHash: leafHash) { storage.tree.add($0) }
            }
            try storage.tree.flush()
            try storage.index.add(
                frame: location, calls: batch.calls, fingerprints: batch.fingerprints,
                seal: fingerprintSeal.seal(
                    firstSeq: location.firstSeq, count: batch.recordCount, fingerprints: batch.fingerprints))
            commitsSinceTreeMark += 1
            if try !checkpointIfDue(now: batch.lastTime), commitsSinceTreeMark >= 64 {
                try storage.tree.markDurable()
                commitsSinceTreeMark = 0
            }
        }
    }

    /// The batch's frame compressed: by a staging thread that took it ahead of the commit (waiting for its
    /// bytes), or here.
    private func compressedFrame(of batch: Staging.Batch) throws(LedgerError) -> [UInt8] {
        if batch.compressionStarted {
            return try stagingLock.withLock { () throws(LedgerError) in
                while true {
                    if let bytes = staging.precompressed.removeValue(forKey: batch.frame.firstSeq) { return bytes }
                    if let failure { throw failure }
                    stagingLock.wait()
                }
            }
        }
        return try encodeFrame(header: batch.frame.header, records: batch.frame.records, compressor: compressor)
    }

    /// Syncs the frames written to the segment. When batches staged since the group was taken hold data keys
    /// not yet stored, a second thread stores them durably meanwhile (their commit then does not store them
    /// again); returns once both are done.
    private func syncSegmentStoringKeysAhead() throws(LedgerError) {
        let ahead = stagingLock.withLock { staging.keysToStoreAhead() }
        guard !ahead.keys.isEmpty else {
            try segment?.sync()
            return
        }
        let outcome = KeysAheadOutcome()
        let thread = try JoinableThread { [self] in
            outcome.result = Result { () throws(LedgerError) in try keyWriter.insert(ahead.keys) }
        }
        let synced = Result { () throws(LedgerError) in try segment?.sync() }
        thread.join()
        try synced.get()
        try outcome.result.get()
        stagingLock.withLock { staging.markKeysStoredAhead(ahead.counts) }
    }
}

/// What the thread storing keys ahead ended with; read only after joining it.
private final class KeysAheadOutcome: @unchecked Sendable {
    var result: Result<Void, LedgerError> = .success(())
}
