// PullConsumer: fetches batches from a durable JetStream pull consumer; FetchedBatch acknowledges them.
import CNats

/// One message fetched from a stream: its bytes and where it sits in the stream.
public struct JetStreamMessage: Sendable, Equatable {
    /// The message's payload.
    public var data: [UInt8]
    /// Its sequence in the stream.
    public var streamSequence: UInt64
    /// How many times it has been delivered (1 the first time).
    public var deliveries: UInt64
    /// The subject it was published on.
    public var subject = ""
    /// Messages the consumer had left to deliver after this one when it was sent.
    public var pending: UInt64 = 0
}

/// A subscription to a durable pull consumer. Not shared between threads: confine it to one.
public final class PullConsumer {
    private let subscription: OpaquePointer
    private let name: String

    init(subscription: OpaquePointer, description: String) {
        self.subscription = subscription
        self.name = description
    }

    deinit { natsSubscription_Destroy(subscription) }

    /// Messages the consumer has not delivered yet, as the server counts them now.
    public func undelivered() throws(NATSError) -> UInt64 {
        let operation = "read the state of \(name)"
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(0)
        try check(natsSubscription_GetConsumerInfo(&info, subscription, nil, &code), operation, code: code)
        guard let info else { throw NATSError(operation: operation, message: "no consumer info object") }
        defer { jsConsumerInfo_Destroy(info) }
        return info.pointee.NumPending
    }

    /// Fetches up to `batch` messages, waiting at most `timeout` seconds; an empty batch when none came.
    public func fetch(batch: Int, timeout: Double) throws(NATSError) -> FetchedBatch {
        let operation = "fetch from \(name)"
        var list = natsMsgList()
        var code = jsErrCode(0)
        let status = natsSubscription_Fetch(
            &list, subscription, try cInt(batch, for: operation), Int64(max(timeout, 0.001) * 1000), &code)
        if status == NATS_TIMEOUT && list.Count == 0 { return FetchedBatch(handles: [], messages: [], name: name) }
        if status != NATS_OK {
            natsMsgList_Destroy(&list)
            try check(status, operation, code: code)
        }
        var handles: [OpaquePointer] = []
        var messages: [JetStreamMessage] = []
        if let items = list.Msgs {
            for index in 0..<Int(max(list.Count, 0)) {
                guard let message = items[index] else { continue }
                items[index] = nil
                handles.append(message)
                messages.append(Self.message(message))
            }
        }
        natsMsgList_Destroy(&list)
        return FetchedBatch(handles: handles, messages: messages, name: name)
    }

    private static func message(_ message: OpaquePointer) -> JetStreamMessage {
        var data: [UInt8] = []
        let length = Int(max(natsMsg_GetDataLength(message), 0))
        if let bytes = natsMsg_GetData(message), length > 0 {
            data = Array(UnsafeRawBufferPointer(start: bytes, count: length))
        }
        var result = JetStreamMessage(data: data, streamSequence: 0, deliveries: 0)
        result.subject = natsMsg_GetSubject(message).map { String(cString: $0) } ?? ""
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        if natsMsg_GetMetaData(&meta, message) == NATS_OK, let meta {
            result.streamSequence = meta.pointee.Sequence.Stream
            result.deliveries = meta.pointee.NumDelivered
            result.pending = meta.pointee.NumPending
            jsMsgMetaData_Destroy(meta)
        }
        return result
    }
}

/// The messages of one fetch, each to be acknowledged (done), or terminated (never to be redelivered).
/// Messages neither acknowledged nor terminated are redelivered after the consumer's ack wait.
public final class FetchedBatch {
    private var handles: [OpaquePointer?]
    private let name: String
    /// The messages, in the order the consumer delivered them.
    public let messages: [JetStreamMessage]

    init(handles: [OpaquePointer], messages: [JetStreamMessage], name: String) {
        self.handles = handles
        self.messages = messages
        self.name = name
    }

    deinit { for case let handle? in handles { natsMsg_Destroy(handle) } }

    /// Acknowledges the messages at `indices`, waiting for the server to confirm the last of them (acks travel
    /// in order on one connection, so the others reached it before).
    public func acknowledge(_ indices: [Int]) throws(NATSError) {
        let operation = "acknowledge messages of \(name)"
        let present = indices.filter { handles.indices.contains($0) && handles[$0] != nil }
        for (position, index) in present.enumerated() {
            guard let handle = handles[index] else { continue }
            if position == present.count - 1 {
                var code = jsErrCode(0)
                try check(natsMsg_AckSync(handle, nil, &code), operation, code: code)
            } else {
                try check(natsMsg_Ack(handle, nil), operation)
            }
        }
    }

    /// Tells the server never to redeliver the message at `index` (it cannot be processed).
    public func terminate(_ index: Int) throws(NATSError) {
        guard handles.indices.contains(index), let handle = handles[index] else { return }
        try check(natsMsg_Term(handle, nil), "terminate a message of \(name)")
    }
}
