// PipelinedPublisher: JetStream publishes with many PubAcks in flight on one connection (js_PublishMsgAsync with a
// PublishAsync ack handler, js_PublishAsyncComplete); each message's own PubAck, or its own error, comes back.
import CNats
import Foundation

/// One message for `PipelinedPublisher.publish(_:timeout:)`: its subject, bytes and `Nats-Msg-Id`.
public struct OutgoingMessage: Sendable, Equatable {
    /// The subject it is published on.
    public var subject: String
    /// Its bytes.
    public var data: [UInt8]
    /// Its `Nats-Msg-Id` (the stream drops a second message with the same id inside its duplicate window).
    public var messageID: String

    /// A message to publish.
    public init(subject: String, data: [UInt8], messageID: String) {
        self.subject = subject
        self.data = data
        self.messageID = messageID
    }
}

/// Publishes messages on a connection without waiting for each PubAck before sending the next: they leave in order
/// on the one connection, and each gets its own PubAck or error. Not shared between threads: confine it to one,
/// with its connection.
public final class PipelinedPublisher {
    /// Held so that the connection outlives the context made on it.
    private let connection: NATSConnection
    private let context: OpaquePointer
    private let pending = PendingAcks()

    /// A JetStream context of its own on `connection` whose ack handler settles each message published through it;
    /// at most `maxPending` messages are in flight (a publish waits for room).
    init(connection: NATSConnection, handle: OpaquePointer, maxPending: Int) throws(NATSError) {
        let operation = "open JetStream context for pipelined publishes"
        var options = jsOptions()
        jsOptions_Init(&options)
        options.PublishAsync.MaxPending = Int64(max(maxPending, 1))
        options.PublishAsync.AckHandler = { _, message, ack, failure, closure in
            PendingAcks.settle(message: message, ack: ack, failure: failure, closure: closure)
        }
        options.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(pending).toOpaque()
        options.PublishAsync.StallWait = 30_000
        var context: OpaquePointer?
        try check(natsConnection_JetStream(&context, handle, &options), operation)
        guard let context else { throw NATSError(operation: operation, message: "no JetStream context") }
        self.connection = connection
        self.context = context
    }

    deinit { jsCtx_Destroy(context) }

    /// Publishes every message, in order, keeping them all in flight at once, and returns one result per message
    /// once each was acknowledged (its PubAck: the stream's replica group stored it), failed (no responders, a
    /// JetStream error), or got no answer within `timeout` seconds (a `NATS_TIMEOUT` error: it may or may not be
    /// stored).
    public func publish(_ messages: [OutgoingMessage], timeout: Double) -> [Result<PublishAck, NATSError>] {
        let wait = Int64(max(timeout, 0.001) * 1000)
        var results = [Result<PublishAck, NATSError>?](repeating: nil, count: messages.count)
        for (index, message) in messages.enumerated() {
            do throws(NATSError) {
                try send(message, index: index, wait: wait)
            } catch {
                results[index] = .failure(error)
            }
        }
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = wait + 1000
        _ = js_PublishAsyncComplete(context, &options)
        var unanswered = natsMsgList()
        if js_PublishAsyncGetPendingList(&unanswered, context) == NATS_OK { natsMsgList_Destroy(&unanswered) }
        for (index, result) in pending.drain() { results[index] = result }
        return results.enumerated().map { index, result in
            result
                ?? .failure(
                    NATSError(operation: "publish to \(messages[index].subject)", status: NATS_TIMEOUT))
        }
    }

    private func send(_ message: OutgoingMessage, index: Int, wait: Int64) throws(NATSError) {
        let operation = "publish to \(message.subject)"
        let arena = CStringArena()
        let subject = try arena.string(message.subject, for: operation)
        let length = try cInt(message.data.count, for: operation)
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MsgId = try arena.string(message.messageID, for: operation)
        options.MaxWait = wait
        var created: OpaquePointer?
        try check(
            message.data.withUnsafeBytes { bytes in
                natsMsg_Create(&created, subject, nil, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), length)
            }, operation)
        guard let created else { throw NATSError(operation: operation, message: "no message object") }
        let key = Int(bitPattern: created)
        pending.expect(key: key, index: index, operation: operation)
        var owned: OpaquePointer? = created
        let status = js_PublishMsgAsync(context, &owned, &options)
        guard status == NATS_OK else {
            pending.forget(key: key)
            natsMsg_Destroy(owned)
            throw NATSError(operation: operation, status: status)
        }
    }
}

extension NATSConnection {
    /// A publisher on this connection keeping up to `maxPending` publishes in flight (its own JetStream context).
    public func pipelinedPublisher(maxPending: Int = 4096) throws(NATSError) -> PipelinedPublisher {
        try PipelinedPublisher(connection: self, handle: handle, maxPending: maxPending)
    }
}

/// The messages in flight (by their `natsMsg` address, unique while the library holds them) and the answers that
/// came, filled by the library's thread.
private final class PendingAcks: @unchecked Sendable {
    private let lock = NSLock()
    private var expected: [Int: (index: Int, operation: String)] = [:]
    private var answers: [(Int, Result<PublishAck, NATSError>)] = []

    /// The library's ack handler: hands the message's PubAck or error to the `PendingAcks` its context was made
    /// with, then destroys the message (the handler owns it).
    static func settle(
        message: OpaquePointer?, ack: UnsafeMutablePointer<jsPubAck>?, failure: UnsafeMutablePointer<jsPubAckErr>?,
        closure: UnsafeMutableRawPointer?
    ) {
        defer { natsMsg_Destroy(message) }
        guard let closure, let message else { return }
        let pending = Unmanaged<PendingAcks>.fromOpaque(closure).takeUnretainedValue()
        if let ack {
            pending.settle(
                key: Int(bitPattern: message),
                .success(
                    PublishAck(
                        stream: ack.pointee.Stream.map { String(cString: $0) } ?? "", sequence: ack.pointee.Sequence,
                        duplicate: ack.pointee.Duplicate)))
        } else if let failure {
            pending.settle(key: Int(bitPattern: message), failure: failure.pointee)
        }
    }

    func expect(key: Int, index: Int, operation: String) {
        lock.withLock { expected[key] = (index, operation) }
    }

    func forget(key: Int) {
        lock.withLock { _ = expected.removeValue(forKey: key) }
    }

    func settle(key: Int, _ result: Result<PublishAck, NATSError>) {
        lock.withLock {
            guard let entry = expected.removeValue(forKey: key) else { return }
            answers.append((entry.index, result))
        }
    }

    func settle(key: Int, failure: jsPubAckErr) {
        lock.withLock {
            guard let entry = expected.removeValue(forKey: key) else { return }
            var error = NATSError(operation: entry.operation, status: failure.Err, jetStreamCode: failure.ErrCode)
            if let text = failure.ErrText.map({ String(cString: $0) }), !text.isEmpty { error.message = text }
            answers.append((entry.index, .failure(error)))
        }
    }

    /// The answers that came, leaving nothing expected (a message without one got none in time).
    func drain() -> [(Int, Result<PublishAck, NATSError>)] {
        lock.withLock {
            expected.removeAll()
            defer { answers.removeAll() }
            return answers
        }
    }
}
