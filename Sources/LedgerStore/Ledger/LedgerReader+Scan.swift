// Sequential reading of a range of the log for folds over many events (projection rebuilds): a background
// thread reads and decompresses frames ahead of the caller and picks out the records the fold wants; the
// caller parses and applies those.
import Dispatch
import Foundation
public import LedgerCore

/// Where the time of a scan went.
public struct ScanTimings: Sendable, Equatable {
    /// Frames read.
    public var frames = 0
    /// Records passed to the body.
    public var records: UInt64 = 0
    /// Bytes of decompressed frame content.
    public var contentBytes = 0
    /// Time the reading thread spent reading and decompressing frames, in nanoseconds.
    public var readNanos: UInt64 = 0
    /// Time the reading thread spent parsing records to pick the wanted ones, in nanoseconds.
    public var filterNanos: UInt64 = 0
    /// Time the caller spent waiting for a decompressed frame, in nanoseconds.
    public var waitNanos: UInt64 = 0
    /// Time the caller spent parsing records and running the body, in nanoseconds.
    public var bodyNanos: UInt64 = 0
}

/// Decompressed frames handed from the reading thread to the scanning thread, guarded by `lock`.
private final class FrameQueue: @unchecked Sendable {
    static let reader = 0
    static let consumer = 1
    /// Decompressed frames waiting to be parsed, at most.
    static let depth = 4
    let lock = ConditionLock(conditions: 2)
    var ready: [(location: FrameLocation, content: [UInt8], kept: [Range<Int>])] = []
    var spare: [[UInt8]] = []
    var failure: LedgerError?
    var finished = false
    var cancelled = false
    var readNanos: UInt64 = 0
    var filterNanos: UInt64 = 0
    var records: UInt64 = 0
}

extension LedgerReader {
    /// Calls `body` with every record whose seq is in `range` and that `wanted` accepts, in seq order, while a
    /// second thread reads and decompresses the frames that follow and runs `wanted` on their records. The
    /// record is only valid during the call.
    public func scan(
        _ range: Range<UInt64>, where wanted: @escaping @Sendable (RecordView) -> Bool = { _ in true },
        _ body: (RecordView) throws(LedgerError) -> Void
    ) throws(LedgerError) -> ScanTimings {
        var timings = ScanTimings()
        let upper = min(range.upperBound, storage.size)
        guard range.lowerBound < upper else { return timings }
        let bounded = range.lowerBound..<upper
        let locations = try storage.index.frames(overlapping: bounded)
        let queue = FrameQueue()
        let layout = self.layout
        let thread = Thread { Self.readFrames(locations, range: bounded, wanted: wanted, layout: layout, into: queue) }
        thread.start()
        defer {
            queue.lock.withLock {
                queue.cancelled = true
                queue.lock.broadcast(FrameQueue.reader)
            }
        }
        for _ in locations {
            let waitStart = DispatchTime.now().uptimeNanoseconds
            let next = queue.lock.withLock { () -> Result<(FrameLocation, [UInt8], [Range<Int>]), LedgerError> in
                while queue.ready.isEmpty && queue.failure == nil { queue.lock.wait(FrameQueue.consumer) }
                if let failure = queue.failure, queue.ready.isEmpty { return .failure(failure) }
                let frame = queue.ready.removeFirst()
                queue.lock.broadcast(FrameQueue.reader)
                return .success((frame.location, frame.content, frame.kept))
            }
            let bodyStart = DispatchTime.now().uptimeNanoseconds
            timings.waitNanos += bodyStart - waitStart
            let (location, content, kept) = try next.get()
            timings.frames += 1
            timings.contentBytes += content.count
            var failure: LedgerError?
            content.withUnsafeBytes { raw in
                for recordRange in kept {
                    do throws(LedgerError) {
                        let record: RecordView
                        do {
                            record = try RecordView(UnsafeRawBufferPointer(rebasing: raw[recordRange]))
                        } catch {
                            throw .corrupt(
                                segment: LedgerLayout.segmentName(firstSeq: location.segment),
                                offset: location.offset, seq: location.firstSeq, reason: "frame content: \(error)")
                        }
                        try body(record)
                    } catch {
                        failure = error
                        return
                    }
                }
            }
            timings.bodyNanos += DispatchTime.now().uptimeNanoseconds - bodyStart
            queue.lock.withLock { queue.spare.append(content) }
            if let failure { throw failure }
        }
        queue.lock.withLock {
            timings.readNanos = queue.readNanos
            timings.filterNanos = queue.filterNanos
            timings.records = queue.records
        }
        return timings
    }

    /// The reading thread: maps each segment once, decompresses its frames in order and picks out the wanted
    /// records of `range`, staying at most `FrameQueue.depth` frames ahead.
    private static func readFrames(
        _ locations: [FrameLocation], range: Range<UInt64>, wanted: (RecordView) -> Bool, layout: LedgerLayout,
        into queue: FrameQueue
    ) {
        guard let decompressor = try? ZstdDecompressor() else {
            queue.lock.withLock {
                queue.failure = .zstd(operation: "create context", reason: "out of memory")
                queue.lock.broadcast(FrameQueue.consumer)
            }
            return
        }
        var mapped: (segment: UInt64, file: MappedFile)?
        var scratch: [UInt8] = []
        for location in locations {
            var content = queue.lock.withLock { () -> [UInt8]? in
                while queue.ready.count >= FrameQueue.depth && !queue.cancelled { queue.lock.wait(FrameQueue.reader) }
                return queue.cancelled ? nil : (queue.spare.popLast() ?? [])
            }
            guard content != nil else { return }
            let start = DispatchTime.now().uptimeNanoseconds
            let name = LedgerLayout.segmentName(firstSeq: location.segment)
            var problem: LedgerError?
            do throws(LedgerError) {
                if mapped?.segment != location.segment {
                    mapped = (location.segment, try MappedFile(path: layout.segmentPath(firstSeq: location.segment)))
                }
                let bytes = mapped!.file.bytes
                guard location.offset >= 0, location.offset + location.storedBytes <= bytes.count else {
                    throw .corrupt(
                        segment: name, offset: location.offset, seq: location.firstSeq,
                        reason: "the indexed frame lies beyond the end of the segment")
                }
                let frame = UnsafeRawBufferPointer(
                    rebasing: bytes[location.offset..<location.offset + location.storedBytes])
                if let reason = decompressor.decompress(
                    frame, into: &content!, maximumSize: max(location.contentBytes, 1))
                {
                    throw .corrupt(
                        segment: name, offset: location.offset, seq: location.firstSeq, reason: "zstd: \(reason)")
                }
                try SealedSideCar.join(
                    &content!, stored: frame, segment: name, offset: location.offset, seq: location.firstSeq,
                    scratch: &scratch)
            } catch {
                problem = error
            }
            let filterStart = DispatchTime.now().uptimeNanoseconds
            var kept: [Range<Int>] = []
            var records: UInt64 = 0
            if problem == nil {
                content!.withUnsafeBytes { raw in
                    do {
                        try FrameContent(raw).forEachRecord { record in
                            guard range.contains(record.seq) else { return }
                            records += 1
                            if wanted(record) {
                                let start = record.bytes.baseAddress! - raw.baseAddress!
                                kept.append(start..<start + record.bytes.count)
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
            let stop = queue.lock.withLock { () -> Bool in
                queue.readNanos += filterStart - start
                queue.filterNanos += end - filterStart
                queue.records += records
                if let problem {
                    queue.failure = problem
                } else {
                    queue.ready.append((location, content!, kept))
                }
                queue.lock.broadcast(FrameQueue.consumer)
                return problem != nil
            }
            if stop { return }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
