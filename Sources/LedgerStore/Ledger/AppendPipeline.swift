// Streams JSON lines into a writer as a pipeline: a reader thread splits the input into chunks of lines,
// two decoder threads validate and transcode chunks in parallel, a staging thread stages them in input order
// (idempotency, seq, sealing), and the calling thread group-commits (a frame when a batch is full, or as soon
// as the input would block) and reports acknowledgements in input order. A bad line stops the stream:
// everything before it is committed, nothing from it on is appended.
import Foundation
public import LedgerCore

/// How a streamed append ended.
public struct AppendStreamOutcome: Sendable {
    /// Events acknowledged (appended or duplicate).
    public var acknowledged = 0
    /// Events newly appended.
    public var appended = 0
    /// Interchange bytes read.
    public var inputBytes = 0
    /// The rejected line, if the input had one.
    public var rejected: EventDecodingError?
}

/// Splits a byte stream into lines, reading large chunks from a file descriptor.
struct LineReader {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private(set) var lineNumber = 0

    init(descriptor: Int32) {
        self.descriptor = descriptor
        buffer.reserveCapacity(1 << 21)
    }

    /// Calls `body` with the next line (without `\n` or `\r\n`); false at end of input. `willWait` is called
    /// before a read that would block (no input is ready), so staged events can be committed meanwhile.
    mutating func next(willWait: () -> Void = {}, _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws -> Bool {
        while true {
            let found = buffer.withUnsafeBytes { raw -> Int? in
                guard raw.count > start, let match = memchr(raw.baseAddress! + start, 0x0A, raw.count - start) else {
                    return nil
                }
                return UnsafeRawPointer(match) - raw.baseAddress!
            }
            if let newline = found {
                lineNumber += 1
                var end = newline
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                let number = lineNumber
                try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<end]), number) }
                start = newline + 1
                return true
            }
            if atEnd {
                guard start < buffer.count else { return false }
                lineNumber += 1
                let number = lineNumber
                let end = buffer.count
                try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<end]), number) }
                start = buffer.count
                return true
            }
            buffer.removeSubrange(0..<start)
            start = 0
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 0) == 0 { willWait() }
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: 1 << 20))
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + old, 1 << 20) }
            if n < 0 {
                if errno == EINTR {
                    buffer.removeSubrange(old...)
                    continue
                }
                throw LedgerError.io(operation: "read", path: "input", errno: errno)
            }
            buffer.removeSubrange((old + n)...)
            if n == 0 { atEnd = true }
        }
    }
}

/// Lines read from the input, to be decoded together.
private struct LineChunk {
    var index: Int
    var bytes: [UInt8] = []
    var lines: [(range: Range<Int>, number: Int)] = []
    /// The input would block after this chunk: commit once it is staged.
    var flushAfter = false
}

/// A decoded chunk: its events in order, and the error that stopped it, if any.
private struct DecodedChunk {
    var events: [DecodedEvent]
    var inputBytes: Int
    var rejected: EventDecodingError?
    var flushAfter: Bool
}

/// State shared by the pipeline's threads, guarded by `lock`.
private final class PipelineState: @unchecked Sendable {
    /// Conditions: who waits for what.
    static let committer = 0
    static let reader = 1
    static let decoders = 2
    static let stager = 3
    let lock = ConditionLock(conditions: 4)

    /// Wakes every thread (on a failure or a rejected line). Call holding the lock.
    func wakeAll() {
        for condition in 0..<4 { lock.broadcast(condition) }
    }
    /// Chunks waiting for a decoder.
    var pending: [LineChunk] = []
    /// Decoded chunks waiting to be staged, by index.
    var decoded: [Int: DecodedChunk] = [:]
    /// Chunks the reader produced, once it has finished.
    var chunksRead: Int?
    /// Set on a rejected line or a failure: every thread stops taking new work.
    var stopping = false
    /// The stager has staged everything it will.
    var finished = false
    var stagedSinceCommit = 0
    /// Set when a full batch is staged or the input would block: the committer should write now.
    var flushRequested = false
    /// Set when the input would block: the committer should write the open batch too, however few events it
    /// holds, so that they are acknowledged while the input waits. Otherwise it leaves the open batch filling.
    var cutRequested = false
    var rejected: EventDecodingError?
    var failure: LedgerError?
    var inputBytes = 0
    /// Set by the stager when a frame filled up: a decoder thread should compress it.
    var framesToCompress = false

    func fail(_ error: any Error) {
        lock.withLock {
            if failure == nil { failure = error as? LedgerError ?? .invalidRequest("\(error)") }
            stopping = true
            wakeAll()
        }
    }
}

extension LedgerWriter {
    /// Lines per chunk handed to a decoder thread.
    static let linesPerChunk = 128
    /// Chunks in flight between the reader and the stager (backpressure).
    static let chunksInFlight = 16

    /// Appends the JSON lines read from `descriptor`, calling `acknowledge` with each batch of durable results.
    public func appendLines(
        from descriptor: Int32, acknowledge: ([AppendResult]) throws -> Void
    ) throws -> AppendStreamOutcome {
        let state = PipelineState()
        let maximumEventBytes = configuration.maximumEventBytes
        let batchLimit = configuration.maximumBatchEvents
        var threads: [Thread] = [Thread { Self.readChunks(from: descriptor, state: state) }]
        for _ in 0..<2 {
            threads.append(Thread { [self] in decodeChunks(state: state, maximumEventBytes: maximumEventBytes) })
        }
        threads.append(Thread { [self] in stageChunks(state: state, batchLimit: batchLimit) })
        for thread in threads {
            thread.stackSize = 8 << 20
            thread.start()
        }
        var outcome = AppendStreamOutcome()
        while true {
            let (finished, cut) = state.lock.withLock { () -> (Bool, Bool) in
                while !state.finished && !state.flushRequested { state.lock.wait(PipelineState.committer) }
                let cut = state.cutRequested
                state.flushRequested = false
                state.cutRequested = false
                state.stagedSinceCommit = 0
                return (state.finished, cut)
            }
            // A frame that filled up is written alone: cutting the open batch too would store the input in
            // frames of a few hundred events, which compress worse, whenever the committer was idle.
            let results = try cut ? commit() : commitCompleteBatches()
            outcome.acknowledged += results.count
            outcome.appended += results.count { $0.status == .appended }
            if !results.isEmpty { try acknowledge(results) }
            if finished {
                let rest = try commit()
                outcome.acknowledged += rest.count
                outcome.appended += rest.count { $0.status == .appended }
                if !rest.isEmpty { try acknowledge(rest) }
                break
            }
        }
        try state.lock.withLock { () throws(LedgerError) in
            if let failure = state.failure { throw failure }
            outcome.rejected = state.rejected
            outcome.inputBytes = state.inputBytes
        }
        return outcome
    }

    /// Reader thread: splits the input into chunks of lines.
    private static func readChunks(from descriptor: Int32, state: PipelineState) {
        var reader = LineReader(descriptor: descriptor)
        var chunk = LineChunk(index: 0)
        func push(flushAfter: Bool) -> Bool {
            chunk.flushAfter = flushAfter
            let next = LineChunk(index: chunk.index + 1)
            let sent = chunk
            chunk = next
            return state.lock.withLock {
                while !state.stopping && state.pending.count + state.decoded.count >= chunksInFlight {
                    state.lock.wait(PipelineState.reader)
                }
                guard !state.stopping else { return false }
                state.pending.append(sent)
                state.lock.broadcast(PipelineState.decoders)
                return true
            }
        }
        do {
            var keepGoing = true
            while keepGoing,
                try reader.next(
                    willWait: {
                        if !chunk.lines.isEmpty { keepGoing = push(flushAfter: true) }
                    },
                    { line, number in
                        let start = chunk.bytes.count
                        chunk.bytes.append(contentsOf: line)
                        chunk.lines.append((start..<chunk.bytes.count, number))
                    })
            {
                if chunk.lines.count >= linesPerChunk { keepGoing = push(flushAfter: false) }
            }
            if keepGoing && !chunk.lines.isEmpty { _ = push(flushAfter: true) }
        } catch {
            state.fail(error)
        }
        state.lock.withLock {
            state.chunksRead = chunk.index
            state.lock.broadcast(PipelineState.decoders)
            state.lock.broadcast(PipelineState.stager)
        }
    }

    /// Decoder thread: validates and transcodes chunks (stopping a chunk at its first bad line), and between
    /// chunks compresses frames the stager has filled.
    private func decodeChunks(state: PipelineState, maximumEventBytes: Int) {
        var decoder = EventDecoder(maximumEventBytes: maximumEventBytes)
        let compressor: ZstdCompressor
        do { compressor = try makeFrameCompressor() } catch {
            state.fail(error)
            return
        }
        while true {
            do { try compressFullFrames(using: compressor) } catch {
                state.fail(error)
                return
            }
            let (next, compress) = state.lock.withLock { () -> (LineChunk?, Bool) in
                while !state.stopping && state.pending.isEmpty && state.chunksRead == nil && !state.framesToCompress {
                    state.lock.wait(PipelineState.decoders)
                }
                if state.framesToCompress {
                    state.framesToCompress = false
                    return (nil, true)
                }
                guard !state.stopping, !state.pending.isEmpty else { return (nil, false) }
                return (state.pending.removeFirst(), false)
            }
            if compress { continue }
            guard let chunk = next else { return }
            var result = DecodedChunk(events: [], inputBytes: 0, rejected: nil, flushAfter: chunk.flushAfter)
            result.events.reserveCapacity(chunk.lines.count)
            chunk.bytes.withUnsafeBytes { raw in
                for (range, number) in chunk.lines {
                    let line = UnsafeRawBufferPointer(rebasing: raw[range])
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                    do throws(EventDecodingError) {
                        result.events.append(try decoder.decode(line, lineNumber: number))
                        result.inputBytes += line.count + 1
                    } catch {
                        result.rejected = error
                        return
                    }
                }
            }
            state.lock.withLock {
                state.decoded[chunk.index] = result
                state.lock.broadcast(PipelineState.stager)
            }
        }
    }

    /// Staging thread: stages decoded chunks in input order and asks the committer to write.
    private func stageChunks(state: PipelineState, batchLimit: Int) {
        var index = 0
        while true {
            let next = state.lock.withLock { () -> DecodedChunk? in
                while !state.stopping && state.decoded[index] == nil && state.chunksRead != index {
                    state.lock.wait(PipelineState.stager)
                }
                guard !state.stopping, let chunk = state.decoded.removeValue(forKey: index) else { return nil }
                state.lock.broadcast(PipelineState.reader)
                return chunk
            }
            guard let chunk = next else { break }
            index += 1
            do {
                _ = try stage(contentsOf: chunk.events)
            } catch {
                state.fail(error)
                break
            }
            state.lock.withLock {
                state.inputBytes += chunk.inputBytes
                state.stagedSinceCommit += chunk.events.count
                if state.stagedSinceCommit >= batchLimit { state.flushRequested = true }
                if let rejected = chunk.rejected {
                    state.rejected = rejected
                    state.stopping = true
                }
                if chunk.flushAfter {
                    // Also when this chunk staged nothing (blank lines): the open batch may hold earlier events.
                    state.flushRequested = true
                    state.cutRequested = true
                }
                if state.flushRequested { state.lock.broadcast(PipelineState.committer) }
                if state.stagedSinceCommit >= batchLimit || chunk.flushAfter {
                    // A frame is full (or about to be committed): let a decoder compress it.
                    state.framesToCompress = true
                    state.lock.broadcast(PipelineState.decoders)
                }
                if state.stopping { state.wakeAll() }
            }
            if chunk.rejected != nil { break }
        }
        state.lock.withLock {
            state.finished = true
            state.lock.broadcast(PipelineState.committer)
        }
    }
}
