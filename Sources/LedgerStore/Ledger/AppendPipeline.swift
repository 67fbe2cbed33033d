// Streams JSON lines into a writer: one thread reads, validates, seals and stages; the calling thread
// group-commits and reports acknowledgements in input order. A bad line stops the stream: everything
// staged before it is committed, nothing from it on is appended.
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
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
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

/// Shared state between the staging thread and the committing thread.
private final class PipelineState: @unchecked Sendable {
    let lock = ConditionLock()
    var finished = false
    var stagedSinceCommit = 0
    /// Set when a full batch is staged or the input would block: the committer should write now.
    var flushRequested = false
    var rejected: EventDecodingError?
    var failure: LedgerError?
    var inputBytes = 0
}

extension LedgerWriter {
    /// Appends the JSON lines read from `descriptor`, calling `acknowledge` with each batch of durable results.
    public func appendLines(
        from descriptor: Int32, acknowledge: ([AppendResult]) throws -> Void
    ) throws -> AppendStreamOutcome {
        let state = PipelineState()
        let maximumEventBytes = configuration.maximumEventBytes
        let batchLimit = configuration.maximumBatchEvents
        let thread = Thread { [self] in
            var reader = LineReader(descriptor: descriptor)
            var decoder = EventDecoder(maximumEventBytes: maximumEventBytes)
            do {
                let flush = {
                    state.lock.withLock {
                        if state.stagedSinceCommit > 0 {
                            state.flushRequested = true
                            state.lock.broadcast()
                        }
                    }
                }
                while try reader.next(
                    willWait: flush,
                    { line, number in
                        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
                        let event = try decoder.decode(line, lineNumber: number)
                        _ = try self.stage(event)
                        state.lock.withLock {
                            state.inputBytes += line.count + 1
                            state.stagedSinceCommit += 1
                            if state.stagedSinceCommit >= batchLimit {
                                state.flushRequested = true
                                state.lock.broadcast()
                            }
                        }
                    })
                {}
            } catch let error as EventDecodingError {
                state.lock.withLock { state.rejected = error }
            } catch let error as LedgerError {
                state.lock.withLock { state.failure = error }
            } catch {
                state.lock.withLock { state.failure = .invalidRequest("\(error)") }
            }
            state.lock.withLock {
                state.finished = true
                state.lock.broadcast()
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
        var outcome = AppendStreamOutcome()
        while true {
            let finished = state.lock.withLock { () -> Bool in
                while !state.finished && !state.flushRequested { state.lock.wait() }
                state.flushRequested = false
                state.stagedSinceCommit = 0
                return state.finished
            }
            let results = try commit()
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
}
