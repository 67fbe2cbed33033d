// One pass over the log for several folds at once (a rebuild of every projection): each frame is read and
// decompressed once, its records parsed once and offered to every fold's filter, and each fold applies the
// records it wants in seq order. With threads, reading threads work ahead (each decompresses every n-th frame,
// and they hand the frames on in log order) while every fold applies on a thread of its own, so the reading and
// the folds run side by side on the machine's cores; without, it all runs on the calling thread.
// Either way each fold sees the same records in the same order, so what it builds does not depend on the mode.
import Dispatch
import Foundation
public import LedgerCore

/// One fold's part in a shared scan: which records it wants, and what it does with each.
public struct SharedScanFold {
    /// Whether the fold reads `record`; run on the reading thread, so it must not touch the fold.
    public var wants: @Sendable (RecordView) -> Bool
    /// Applies one record; with threads, runs on the fold's own thread (the calling thread for the first fold).
    public var apply: (RecordView) throws(LedgerError) -> Void

    /// A fold that applies the records `wants` accepts with `apply`.
    public init(
        wants: @escaping @Sendable (RecordView) -> Bool, apply: @escaping (RecordView) throws(LedgerError) -> Void
    ) {
        self.wants = wants
        self.apply = apply
    }
}

/// One decompressed frame and, per fold, the byte ranges of the records it wants.
private struct SharedFrame {
    let location: FrameLocation
    let content: [UInt8]
    let kept: [[Range<Int>]]
}

/// Frames handed from the reading thread to the folds' threads, guarded by `lock`: `frames[i]` is frame
/// `dropped + i`; fold `f` next takes frame `next[f]`.
private final class SharedFrameQueue: @unchecked Sendable {
    static let reader = 0
    static let folds = 1
    /// Frames read ahead of the slowest fold, at most.
    static let depth = 16
    let lock = ConditionLock(conditions: 2)
    var frames: [SharedFrame] = []
    /// Buffers of dropped frames, for the reading thread to decompress into again.
    var spare: [[UInt8]] = []
    var dropped = 0
    var next: [Int]
    var failure: LedgerError?
    var readNanos: UInt64 = 0
    var filterNanos: UInt64 = 0
    var records: UInt64 = 0

    init(folds: Int) {
        next = Array(repeating: 0, count: folds)
    }

    /// Drops the frames every fold is done with. Call holding the lock.
    func dropConsumed() {
        let done = (next.min() ?? 0) - dropped
        if done > 0 {
            spare.append(contentsOf: frames.prefix(done).map(\.content))
            frames.removeFirst(done)
            dropped += done
        }
    }
}

extension LedgerReader {
    /// Calls, for each of `folds`, its `apply` with every record whose seq is in `range` and that its `wants`
    /// accepts, in seq order, reading and decompressing every frame once for all of them. With `threads`,
    /// `readers` reading threads (at least one, at most `SharedFrameQueue.depth`) work ahead and each fold applies
    /// on a thread of its own (the first on the calling thread); otherwise everything runs on the calling thread.
    /// Returns each fold's timings (the reading threads' times, summed, are shared). The first failure (reading,
    /// or any fold's) is thrown once every thread stopped.
    public func scan(
        _ range: Range<UInt64>, folds: [SharedScanFold], threads: Bool, readers: Int = 1
    ) throws(LedgerError) -> [ScanTimings] {
        var timings = Array(repeating: ScanTimings(), count: folds.count)
        let upper = min(range.upperBound, storage.size)
        guard range.lowerBound < upper, !folds.isEmpty else { return timings }
        let bounded = range.lowerBound..<upper
        let locations = try storage.index.frames(overlapping: bounded)
        let wants = folds.map(\.wants)
        if !threads {
            return try scanInline(locations, range: bounded, folds: folds, timings: timings)
        }
        let queue = SharedFrameQueue(folds: folds.count)
        let layout = self.layout
        var results = Array(repeating: ScanTimings(), count: folds.count)
        let readers = max(1, min(readers, SharedFrameQueue.depth))
        var foldThreads: [JoinableThread] = []
        var reading: [JoinableThread] = []
        results.withUnsafeMutableBufferPointer { slots in
            // Each thread gets its own fold only: the first fold's closures (which may capture the caller's
            // non-escaping closures) stay on the calling thread.
            let shared = ThreadShared(value: slots)
            do throws(LedgerError) {
                for reader in 0..<readers {
                    reading.append(
                        try JoinableThread {
                            Self.readSharedFrames(
                                locations, reader: reader, of: readers, range: bounded, wants: wants, layout: layout,
                                into: queue)
                        })
                }
                for index in folds.indices.dropFirst() {
                    let fold = ThreadShared(value: folds[index])
                    foldThreads.append(
                        try JoinableThread {
                            shared.value[index] = Self.applySharedFrames(
                                fold: fold.value, index: index, frames: locations.count, queue: queue)
                        })
                }
            } catch {
                queue.lock.withLock {
                    if queue.failure == nil { queue.failure = error }
                    queue.lock.broadcast(SharedFrameQueue.folds)
                    queue.lock.broadcast(SharedFrameQueue.reader)
                }
            }
            slots[0] = Self.applySharedFrames(fold: folds[0], index: 0, frames: locations.count, queue: queue)
            for thread in foldThreads { thread.join() }
        }
        // Every fold stopped; stop the reading threads too (they wait for room that a failed fold will not make).
        let failure = queue.lock.withLock { () -> LedgerError? in
            if queue.failure == nil && queue.next.contains(where: { $0 < locations.count }) {
                queue.failure = .invalidRequest("the shared scan stopped early")
            }
            queue.next = Array(repeating: locations.count, count: folds.count)
            queue.lock.broadcast(SharedFrameQueue.reader)
            for index in results.indices {
                results[index].readNanos = queue.readNanos
                results[index].filterNanos = queue.filterNanos
                results[index].records = queue.records
            }
            return queue.failure
        }
        for thread in reading { thread.join() }
        if let failure { throw failure }
        timings = results
        return timings
    }

    /// The scan on the calling thread alone: read, decompress, filter and apply, frame by frame.
    private func scanInline(
        _ locations: [FrameLocation], range: Range<UInt64>, folds: [SharedScanFold], timings: [ScanTimings]
    ) throws(LedgerError) -> [ScanTimings] {
        var timings = timings
        var content: [UInt8] = []
        var records: UInt64 = 0
        var readNanos: UInt64 = 0
        var filterNanos: UInt64 = 0
        for location in locations {
            let readStart = DispatchTime.now().uptimeNanoseconds
            try storage.readFrame(location, into: &content)
            let parseStart = DispatchTime.now().uptimeNanoseconds
            readNanos += parseStart - readStart
            var failure: LedgerError?
            content.withUnsafeBytes { raw in
                do {
                    try FrameContent(raw).forEachRecord { record in
                        guard range.contains(record.seq) else { return }
                        records += 1
                        for index in folds.indices where folds[index].wants(record) {
                            let applyStart = DispatchTime.now().uptimeNanoseconds
                            do throws(LedgerError) { try folds[index].apply(record) } catch {
                                failure = error
                                throw error
                            }
                            timings[index].bodyNanos += DispatchTime.now().uptimeNanoseconds - applyStart
                        }
                    }
                } catch {
                    if failure == nil {
                        failure = .corrupt(
                            segment: LedgerLayout.segmentName(firstSeq: location.segment), offset: location.offset,
                            seq: location.firstSeq, reason: "frame content: \(error)")
                    }
                }
            }
            if let failure { throw failure }
            filterNanos += DispatchTime.now().uptimeNanoseconds - parseStart
            for index in timings.indices {
                timings[index].frames += 1
                timings[index].contentBytes += content.count
            }
        }
        let applied = timings.reduce(0) { $0 + $1.bodyNanos }
        for index in timings.indices {
            timings[index].readNanos = readNanos
            timings[index].filterNanos = filterNanos - min(filterNanos, applied)
            timings[index].records = records
        }
        return timings
    }

    /// A fold's thread: applies the records it wants of every frame, in order, until the last frame or a failure
    /// (its own, the reader's or another fold's).
    private static func applySharedFrames(
        fold: SharedScanFold, index: Int, frames: Int, queue: SharedFrameQueue
    ) -> ScanTimings {
        var timings = ScanTimings()
        while true {
            let waitStart = DispatchTime.now().uptimeNanoseconds
            let frame = queue.lock.withLock { () -> SharedFrame? in
                while queue.failure == nil && queue.next[index] < frames
                    && queue.next[index] - queue.dropped >= queue.frames.count
                {
                    queue.lock.wait(SharedFrameQueue.folds)
                }
                guard queue.failure == nil, queue.next[index] < frames else { return nil }
                return queue.frames[queue.next[index] - queue.dropped]
            }
            let bodyStart = DispatchTime.now().uptimeNanoseconds
            timings.waitNanos += bodyStart - waitStart
            guard let frame else { return timings }
            timings.frames += 1
            timings.contentBytes += frame.content.count
            var failure: LedgerError?
            frame.content.withUnsafeBytes { raw in
                for recordRange in frame.kept[index] {
                    do throws(LedgerError) {
                        let record: RecordView
                        do {
                            record = try RecordView(UnsafeRawBufferPointer(rebasing: raw[recordRange]))
                        } catch {
                            throw .corrupt(
                                segment: LedgerLayout.segmentName(firstSeq: frame.location.segment),
                                offset: frame.location.offset, seq: frame.location.firstSeq,
                                reason: "frame content: \(error)")
                        }
                        try fold.apply(record)
                    } catch {
                        failure = error
                        return
                    }
                }
            }
            timings.bodyNanos += DispatchTime.now().uptimeNanoseconds - bodyStart
            queue.lock.withLock {
                if let failure, queue.failure == nil { queue.failure = failure }
                queue.next[index] += 1
                queue.dropConsumed()
                queue.lock.broadcast(SharedFrameQueue.reader)
                if failure != nil { queue.lock.broadcast(SharedFrameQueue.folds) }
            }
            if failure != nil { return timings }
        }
    }

    /// Reading thread `reader` of `readers` of a shared scan: maps each segment once, decompresses every
    /// `readers`-th frame from its `reader`-th and picks out each fold's wanted records of `range`, staying at most
    /// `SharedFrameQueue.depth` frames ahead of the slowest fold, and queues each frame once every frame before it
    /// is queued, so the folds take them in log order.
    private static func readSharedFrames(
        _ locations: [FrameLocation], reader: Int, of readers: Int, range: Range<UInt64>,
        wants: [@Sendable (RecordView) -> Bool], layout: LedgerLayout, into queue: SharedFrameQueue
    ) {
        let decompressor: ZstdDecompressor
        do { decompressor = try ZstdDecompressor() } catch {
            queue.lock.withLock {
                queue.failure = .zstd(operation: error.operation, reason: error.reason)
                queue.lock.broadcast(SharedFrameQueue.folds)
            }
            return
        }
        var mapped: (segment: UInt64, file: MappedFile)?
        var scratch: [UInt8] = []
        for position in stride(from: reader, to: locations.count, by: readers) {
            let location = locations[position]
            let buffer = queue.lock.withLock { () -> [UInt8]? in
                while queue.failure == nil && position - (queue.next.min() ?? 0) >= SharedFrameQueue.depth {
                    queue.lock.wait(SharedFrameQueue.reader)
                }
                return queue.failure == nil ? (queue.spare.popLast() ?? []) : nil
            }
            guard var content = buffer else { return }
            let start = DispatchTime.now().uptimeNanoseconds
            let name = LedgerLayout.segmentName(firstSeq: location.segment)
            var problem: LedgerError?
            do throws(LedgerError) {
                if mapped?.segment != location.segment {
                    mapped = (location.segment, try MappedFile(path: layout.segmentPath(firstSeq: location.segment)))
                }
                guard let file = mapped?.file, location.offset >= 0,
                    location.offset + location.storedBytes <= file.bytes.count
                else {
                    throw .corrupt(
                        segment: name, offset: location.offset, seq: location.firstSeq,
                        reason: "the indexed frame lies beyond the end of the segment")
                }
                let frame = UnsafeRawBufferPointer(
                    rebasing: file.bytes[location.offset..<location.offset + location.storedBytes])
                if let reason = decompressor.decompress(
                    frame, into: &content, maximumSize: max(location.contentBytes, 1))
                {
                    throw .corrupt(
                        segment: name, offset: location.offset, seq: location.firstSeq, reason: "zstd: \(reason)")
                }
                try SealedSideCar.join(
                    &content, stored: frame, segment: name, offset: location.offset, seq: location.firstSeq,
                    scratch: &scratch)
            } catch {
                problem = error
            }
            let filterStart = DispatchTime.now().uptimeNanoseconds
            var kept = Array(repeating: [Range<Int>](), count: wants.count)
            var records: UInt64 = 0
            if problem == nil {
                content.withUnsafeBytes { raw in
                    do {
                        try FrameContent(raw).forEachRecord { record in
                            guard range.contains(record.seq), let base = raw.baseAddress,
                                let at = record.bytes.baseAddress
                            else { return }
                            records += 1
                            let start = at - base
                            for index in wants.indices where wants[index](record) {
                                kept[index].append(start..<start + record.bytes.count)
                            }
                        }
                    } catch {
                        problem = .corrupt(
                            segment: name, offset: location.offset, seq: location.firstSeq,
                            reason: "frame content: \(error)")
                    }
                }
            }
            let end = DispatchTime.now().uptimeNanoseconds
            queue.lock.withLock {
                // The frame's turn: every earlier frame queued (by this or another reading thread).
                while queue.failure == nil && queue.dropped + queue.frames.count < position {
                    queue.lock.wait(SharedFrameQueue.reader)
                }
                queue.readNanos += filterStart - start
                queue.filterNanos += end - filterStart
                queue.records += records
                if let problem {
                    if queue.failure == nil { queue.failure = problem }
                } else if queue.failure == nil {
                    queue.frames.append(SharedFrame(location: location, content: content, kept: kept))
                }
                queue.lock.broadcast(SharedFrameQueue.folds)
                queue.lock.broadcast(SharedFrameQueue.reader)
            }
            if problem != nil { return }
        }
    }
}
