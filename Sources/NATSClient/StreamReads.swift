// StreamReads: reading a stream back without a durable consumer: the last message of a subject (direct lookup)
// and ephemeral, unacknowledged pull consumers that start at a sequence or a time (replay); and erasing one
// stored message.
import CNats

/// A message read back from a stream: its bytes and its sequence in the stream.
public struct StoredMessage: Sendable, Equatable {
    /// The payload.
    public var data: [UInt8]
    /// The stream sequence.
    public var sequence: UInt64
}

/// Where an ephemeral replay consumer starts.
public enum ReplayStart: Sendable, Equatable {
    /// At this stream sequence.
    case sequence(UInt64)
    /// At the first message stored at or after this time (nanoseconds since 1970, UTC).
    case time(nanoseconds: Int64)
}

extension NATSConnection {
    /// The last message stored on `subject` in `stream`, nil when the subject has none.
    public func lastMessage(stream: String, subject: String) throws(NATSError) -> StoredMessage? {
        let operation = "read the last message of \(subject) in stream \(stream)"
        let arena = CStringArena()
        var message: OpaquePointer?
        var code = jsErrCode(0)
        let status = js_GetLastMsg(
            &message, jetStream, try arena.string(stream, for: operation), try arena.string(subject, for: operation),
            nil, &code)
        if status == NATS_NOT_FOUND || code == JSNoMessageFoundErr { return nil }
        try check(status, operation, code: code)
        guard let message else { return nil }
        defer { natsMsg_Destroy(message) }
        var data: [UInt8] = []
        let length = Int(max(natsMsg_GetDataLength(message), 0))
        if let bytes = natsMsg_GetData(message), length > 0 {
            data = Array(UnsafeRawBufferPointer(start: bytes, count: length))
        }
        return StoredMessage(data: data, sequence: natsMsg_GetSequence(message))
    }

    /// Erases the message at `sequence` of `stream`: every server of the stream's replica group removes it and
    /// overwrites its bytes in its message store (`js_EraseMsg`, unlike a delete or a per-subject limit, which only
    /// drop it from the index). Returns false when the stream holds no message at that sequence (already gone).
    @discardableResult
    public func eraseMessage(stream: String, sequence: UInt64) throws(NATSError) -> Bool {
        let operation = "erase message \(sequence) of stream \(stream)"
        let arena = CStringArena()
        var code = jsErrCode(0)
        let status = js_EraseMsg(jetStream, try arena.string(stream, for: operation), sequence, nil, &code)
        if status == NATS_NOT_FOUND || code == JSSequenceNotFoundErr || code == JSNoMessageFoundErr { return false }
        try check(status, operation, code: code)
        return true
    }

    /// An ephemeral pull consumer on `stream` for `subject` (a filter; `>` wildcards allowed) that delivers every
    /// message from `start` on, without acknowledgements; the server drops it 60 s after its last fetch.
    public func replayConsumer(stream: String, subject: String, start: ReplayStart) throws(NATSError) -> PullConsumer {
        let operation = "replay \(subject) of stream \(stream)"
        let arena = CStringArena()
        var subOptions = jsSubOptions()
        jsSubOptions_Init(&subOptions)
        subOptions.Stream = try arena.string(stream, for: operation)
        subOptions.Config.AckPolicy = js_AckNone
        subOptions.Config.InactiveThreshold = 60_000_000_000
        switch start {
        case .sequence(let sequence):
            subOptions.Config.DeliverPolicy = js_DeliverByStartSequence
            subOptions.Config.OptStartSeq = max(sequence, 1)
        case .time(let nanoseconds):
            subOptions.Config.DeliverPolicy = js_DeliverByStartTime
            subOptions.Config.OptStartTime = nanoseconds
        }
        var subscription: OpaquePointer?
        var code = jsErrCode(0)
        try check(
            js_PullSubscribe(
                &subscription, jetStream, try arena.string(subject, for: operation), nil, nil, &subOptions, &code),
            operation, code: code)
        guard let subscription else { throw NATSError(operation: operation, message: "no subscription object") }
        return PullConsumer(subscription: subscription, description: "replay of \(subject) in stream \(stream)")
    }

    /// Every message of `stream` on `subject` (a filter; `>` wildcards allowed), oldest first, read through an
    /// ephemeral replay consumer until it has none left; `timeout` bounds each wait for the next batch.
    public func messages(stream: String, subject: String, timeout: Double = 2) throws(NATSError) -> [JetStreamMessage] {
        guard let state = try streamState(stream), state.messages > 0 else { return [] }
        let consumer = try replayConsumer(stream: stream, subject: subject, start: .sequence(1))
        guard try consumer.undelivered() > 0 else { return [] }
        var result: [JetStreamMessage] = []
        while true {
            let batch = try consumer.fetch(batch: 256, timeout: timeout)
            guard let last = batch.messages.last else { return result }
            result += batch.messages
            if last.pending == 0 { return result }
        }
    }
}
