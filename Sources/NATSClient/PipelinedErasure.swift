// PipelinedErasure: erasing a run of a stream's messages with many JetStream API requests in flight on one
// connection. Each request is the one `js_EraseMsg` sends (`$JS.API.STREAM.MSG.DELETE.<stream>`, `{"seq":N}`,
// a secure erase since `no_erase` is unset), with a reply subject of its own under one inbox, so each answer is
// matched to its sequence whatever order the servers answer in.
import CNats
import Foundation

extension NATSConnection {
    /// Erases every message of `stream` at `sequences` as `eraseMessage(stream:sequence:)` does, keeping up to
    /// `inFlight` requests outstanding on this connection, and returns how many it erased. A sequence the stream
    /// holds no message at (already erased, or never stored) is not an error and is not counted. It returns only
    /// once every sequence was answered; it throws the first failure, or a timeout when no answer came for
    /// `timeout` seconds, and then some of `sequences` may be erased and some not.
    public func eraseMessages(
        stream: String, sequences: Range<UInt64>, inFlight: Int, timeout: Double = 5
    ) throws(NATSError) -> Int {
        guard !sequences.isEmpty else { return 0 }
        let operation = "erase messages \(sequences.lowerBound)..<\(sequences.upperBound) of stream \(stream)"
        let arena = CStringArena()
        var inbox: UnsafeMutablePointer<natsInbox>?
        try check(natsInbox_Create(&inbox), operation)
        guard let inbox else { throw NATSError(operation: operation, message: "no inbox") }
        let prefix = String(cString: inbox)
        natsInbox_Destroy(inbox)
        var subscription: OpaquePointer?
        try check(
            natsConnection_SubscribeSync(&subscription, handle, try arena.string(prefix + ".*", for: operation)),
            operation)
        guard let subscription else { throw NATSError(operation: operation, message: "no subscription object") }
        defer { natsSubscription_Destroy(subscription) }
        let subject = try arena.string("$JS.API.STREAM.MSG.DELETE.\(stream)", for: operation)
        let wait = Int64(max(timeout, 0.001) * 1000)
        var next = sequences.lowerBound
        var outstanding = 0
        var erased = 0
        while next < sequences.upperBound || outstanding > 0 {
            while next < sequences.upperBound && outstanding < max(inFlight, 1) {
                let body = Array("{\"seq\":\(next)}".utf8)
                let length = try cInt(body.count, for: operation)
                let status = "\(prefix).\(next)".withCString { reply in
                    body.withUnsafeBytes { bytes in
                        natsConnection_PublishRequest(handle, subject, reply, bytes.baseAddress, length)
                    }
                }
                try check(status, operation)
                next += 1
                outstanding += 1
            }
            var message: OpaquePointer?
            try check(natsSubscription_NextMsg(&message, subscription, wait), operation)
            guard let message else { throw NATSError(operation: operation, message: "no reply object") }
            defer { natsMsg_Destroy(message) }
            outstanding -= 1
            if try Self.erasureAnswer(message, stream: stream) { erased += 1 }
        }
        return erased
    }

    /// Whether the answer to one erase request says the message was erased (true) or absent (false); throws what
    /// it reports otherwise.
    private static func erasureAnswer(_ message: OpaquePointer, stream: String) throws(NATSError) -> Bool {
        let replySubject = natsMsg_GetSubject(message).map { String(cString: $0) } ?? ""
        let sequence = replySubject.split(separator: ".").last.map(String.init) ?? "?"
        let operation = "erase message \(sequence) of stream \(stream)"
        let length = Int(max(natsMsg_GetDataLength(message), 0))
        guard let bytes = natsMsg_GetData(message), length > 0 else {
            throw NATSError(operation: operation, status: NATS_NO_RESPONDERS)
        }
        let data = Data(bytes: bytes, count: length)
        guard let answer = try? JSONDecoder().decode(EraseAnswer.self, from: data) else {
            throw NATSError(operation: operation, message: "unreadable answer \(String(decoding: data, as: UTF8.self))")
        }
        if answer.success == true { return true }
        guard let failure = answer.error else {
            throw NATSError(operation: operation, message: "answer without success or error")
        }
        let code = failure.errCode ?? 0
        if code == Int(JSSequenceNotFoundErr.rawValue) || code == Int(JSNoMessageFoundErr.rawValue) { return false }
        var error = NATSError(operation: operation, message: failure.description ?? "JetStream error")
        error.jetStreamCode = code
        throw error
    }
}

/// The JetStream API's answer to a message delete request.
private struct EraseAnswer: Decodable {
    struct Failure: Decodable {
        var errCode: Int?
        var description: String?

        enum CodingKeys: String, CodingKey {
            case errCode = "err_code"
            case description
        }
    }

    var success: Bool?
    var error: Failure?
}
