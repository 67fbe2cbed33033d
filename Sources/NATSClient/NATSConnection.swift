// NATSConnection: one connection to a NATS cluster with its JetStream context; publishes with a message id and
// waits for the PubAck, and creates or reads streams and consumers.
import CNats

/// What JetStream answered to a publish: the stream, the message's sequence in it, and whether the stream
/// dropped it as a duplicate of an earlier message with the same `Nats-Msg-Id` inside its duplicate window.
public struct PublishAck: Sendable, Equatable {
    /// The stream that stored the message.
    public var stream: String
    /// The message's sequence in the stream (for a duplicate: the original's).
    public var sequence: UInt64
    /// True when the stream had already stored a message with this id.
    public var duplicate: Bool
}

/// A JetStream stream to create (or update to): file storage, limits retention.
public struct StreamConfiguration: Sendable, Equatable {
    /// The stream's name.
    public var name: String
    /// The subjects it stores.
    public var subjects: [String]
    /// How many servers hold each message (1 to 5).
    public var replicas: Int
    /// How long, in seconds, the stream remembers a `Nats-Msg-Id` to drop a re-sent message.
    public var duplicateWindowSeconds: Double
    /// Messages kept per subject (the older ones are removed as a new one arrives); nil keeps them all.
    public var maxMessagesPerSubject: Int?
    /// Seconds a message is kept; nil keeps it until a limit above removes it.
    public var maxAgeSeconds: Double?

    /// A stream configuration.
    public init(name: String, subjects: [String], replicas: Int, duplicateWindowSeconds: Double) {
        self.name = name
        self.subjects = subjects
        self.replicas = replicas
        self.duplicateWindowSeconds = duplicateWindowSeconds
    }
}

/// A stream's state and its replica group as the server reports them.
public struct StreamState: Sendable, Equatable {
    /// Messages held.
    public var messages: UInt64
    /// Bytes held.
    public var bytes: UInt64
    /// Sequence of the first message held.
    public var firstSequence: UInt64
    /// Sequence of the last message stored.
    public var lastSequence: UInt64
    /// The server leading the stream's replica group, if one is elected.
    public var leader: String?
    /// The other replicas: name, whether caught up, whether offline.
    public var replicas: [ReplicaState]
}

/// One follower of a replica group.
public struct ReplicaState: Sendable, Equatable {
    /// The server's name.
    public var name: String
    /// True when it holds everything the leader has.
    public var current: Bool
    /// True when the leader cannot reach it.
    public var offline: Bool
}

/// A durable consumer's position as the server reports it.
public struct ConsumerState: Sendable, Equatable {
    /// Messages in the stream not yet delivered to the consumer.
    public var pending: UInt64
    /// Messages delivered and not yet acknowledged.
    public var ackPending: Int64
    /// Messages delivered more than once.
    public var redelivered: Int64
    /// The stream sequence up to which everything is acknowledged.
    public var ackFloor: UInt64
}

/// A connection to a NATS cluster and its JetStream context. Not shared between threads: confine it to one.
public final class NATSConnection {
    private let connection: OpaquePointer
    let jetStream: OpaquePointer
    /// The servers it was given.
    public let servers: [String]
    /// The C connection, for the other wrappers of this module.
    var handle: OpaquePointer { connection }

    /// Connects to one of `servers` (URLs such as `nats://127.0.0.1:4222`), reconnecting to the others
    /// without limit when the one in use goes away; `requestTimeout` bounds each JetStream API call.
    public init(servers: [String], name: String, requestTimeout: Double = 5) throws(NATSError) {
        let operation = "connect to \(servers.joined(separator: ","))"
        guard !servers.isEmpty else { throw NATSError(operation: operation, message: "no server URL given") }
        let arena = CStringArena()
        var options: OpaquePointer?
        try check(natsOptions_Create(&options), operation)
        guard let options else { throw NATSError(operation: operation, message: "no options object") }
        defer { natsOptions_Destroy(options) }
        let urls = try arena.strings(servers, for: operation)
        try check(natsOptions_SetServers(options, urls, try cInt(servers.count, for: operation)), operation)
        try check(natsOptions_SetName(options, try arena.string(name, for: operation)), operation)
        try check(natsOptions_SetTimeout(options, 2000), operation)
        try check(natsOptions_SetMaxReconnect(options, -1), operation)
        try check(natsOptions_SetReconnectWait(options, 250), operation)
        try check(natsOptions_SetPingInterval(options, 1000), operation)
        var connection: OpaquePointer?
        try check(natsConnection_Connect(&connection, options), operation)
        guard let connection else { throw NATSError(operation: operation, message: "no connection object") }
        var jsOptions = jsOptions()
        jsOptions_Init(&jsOptions)
        jsOptions.Wait = Int64(requestTimeout * 1000)
        var jetStream: OpaquePointer?
        let status = natsConnection_JetStream(&jetStream, connection, &jsOptions)
        guard status == NATS_OK, let jetStream else {
            let error = NATSError(operation: "open JetStream context", status: status)
            natsConnection_Destroy(connection)
            throw error
        }
        self.connection = connection
        self.jetStream = jetStream
        self.servers = servers
    }

    deinit {
        jsCtx_Destroy(jetStream)
        natsConnection_Close(connection)
        natsConnection_Destroy(connection)
    }

    /// Publishes `data` on `subject` with `messageID` as its `Nats-Msg-Id` and waits up to `timeout` seconds for
    /// the stream's PubAck, which arrives once the stream's replica group stored it (a majority of replicas).
    /// With `expectedLastSubjectSequence` (above 0) the stream stores it only if the last message it holds on
    /// `subject` has that sequence; otherwise the error's `isRevisionConflict` is true.
    public func publish(
        subject: String, data: [UInt8], messageID: String, timeout: Double, expectedLastSubjectSequence: UInt64 = 0
    ) throws(NATSError)
        -> PublishAck
    {
        let operation = "publish to \(subject)"
        let arena = CStringArena()
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MsgId = try arena.string(messageID, for: operation)
        options.ExpectLastSubjectSeq = expectedLastSubjectSequence
        options.MaxWait = Int64(max(timeout, 0.001) * 1000)
        let cSubject = try arena.string(subject, for: operation)
        let length = try cInt(data.count, for: operation)
        var ack: UnsafeMutablePointer<jsPubAck>?
        var code = jsErrCode(0)
        let status = data.withUnsafeBytes {
            js_Publish(&ack, jetStream, cSubject, $0.baseAddress, length, &options, &code)
        }
        try check(status, operation, code: code)
        guard let ack else { throw NATSError(operation: operation, message: "no PubAck object") }
        defer { jsPubAck_Destroy(ack) }
        return PublishAck(
            stream: ack.pointee.Stream.map { String(cString: $0) } ?? "", sequence: ack.pointee.Sequence,
            duplicate: ack.pointee.Duplicate)
    }

    /// Creates the stream, or updates it to `configuration` when it exists with other settings; returns its state.
    @discardableResult
    public func ensureStream(_ configuration: StreamConfiguration) throws(NATSError) -> StreamState {
        let operation = "create stream \(configuration.name)"
        let arena = CStringArena()
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        config.Name = try arena.string(configuration.name, for: operation)
        config.Subjects = try arena.strings(configuration.subjects, for: operation)
        config.SubjectsLen = try cInt(configuration.subjects.count, for: operation)
        config.Storage = js_FileStorage
        config.Retention = js_LimitsPolicy
        config.Replicas = Int64(configuration.replicas)
        config.Duplicates = Int64(configuration.duplicateWindowSeconds * 1_000_000_000)
        config.MaxMsgsPerSubject = Int64(configuration.maxMessagesPerSubject ?? -1)
        config.MaxAge = Int64((configuration.maxAgeSeconds ?? 0) * 1_000_000_000)
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        var status = NATS_TIMEOUT
        // A replicated stream is answered once its replicas elect a leader, which on a loaded machine can take
        // longer than one API wait; the request is idempotent (the same configuration again, or an update of the
        // stream a timed-out request did create), so a timeout is retried twice before it is reported.
        for _ in 0..<3 where status == NATS_TIMEOUT {
            code = jsErrCode(0)
            status = js_AddStream(&info, jetStream, &config, nil, &code)
            if status != NATS_OK && code == JSStreamNameExistErr {
                code = jsErrCode(0)
                status = js_UpdateStream(&info, jetStream, &config, nil, &code)
            }
        }
        try check(status, operation, code: code)
        guard let info else { throw NATSError(operation: operation, message: "no stream info object") }
        defer { jsStreamInfo_Destroy(info) }
        return Self.state(of: info)
    }

    /// The stream's state, or nil when no stream has that name.
    public func streamState(_ name: String) throws(NATSError) -> StreamState? {
        let operation = "read stream \(name)"
        let arena = CStringArena()
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status = js_GetStreamInfo(&info, jetStream, try arena.string(name, for: operation), nil, &code)
        if status == NATS_NOT_FOUND || code == JSStreamNotFoundErr { return nil }
        try check(status, operation, code: code)
        guard let info else { throw NATSError(operation: operation, message: "no stream info object") }
        defer { jsStreamInfo_Destroy(info) }
        return Self.state(of: info)
    }

    /// The durable consumer's position, or nil when the stream has no consumer of that name.
    public func consumerState(stream: String, durable: String) throws(NATSError) -> ConsumerState? {
        let operation = "read consumer \(durable) of stream \(stream)"
        let arena = CStringArena()
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(0)
        let status = js_GetConsumerInfo(
            &info, jetStream, try arena.string(stream, for: operation), try arena.string(durable, for: operation),
            nil, &code)
        if status == NATS_NOT_FOUND || code == JSConsumerNotFoundErr || code == JSStreamNotFoundErr { return nil }
        try check(status, operation, code: code)
        guard let info else { throw NATSError(operation: operation, message: "no consumer info object") }
        defer { jsConsumerInfo_Destroy(info) }
        return ConsumerState(
            pending: info.pointee.NumPending, ackPending: info.pointee.NumAckPending,
            redelivered: info.pointee.NumRedelivered, ackFloor: info.pointee.AckFloor.Stream)
    }

    /// Creates (or finds) the durable pull consumer `durable` on `stream` (explicit acks, every message from the
    /// first, redelivered after `ackWait` seconds without an ack) and subscribes to it.
    public func pullConsumer(
        stream: String, durable: String, ackWait: Double, maxAckPending: Int
    ) throws(NATSError)
        -> PullConsumer
    {
        let operation = "subscribe to consumer \(durable) of stream \(stream)"
        let arena = CStringArena()
        let cStream = try arena.string(stream, for: operation)
        let cDurable = try arena.string(durable, for: operation)
        if try consumerState(stream: stream, durable: durable) == nil {
            var config = jsConsumerConfig()
            jsConsumerConfig_Init(&config)
            config.Durable = cDurable
            config.AckPolicy = js_AckExplicit
            config.DeliverPolicy = js_DeliverAll
            config.AckWait = Int64(ackWait * 1_000_000_000)
            config.MaxAckPending = Int64(maxAckPending)
            var info: UnsafeMutablePointer<jsConsumerInfo>?
            var code = jsErrCode(0)
            try check(js_AddConsumer(&info, jetStream, cStream, &config, nil, &code), operation, code: code)
            if let info { jsConsumerInfo_Destroy(info) }
        }
        var subOptions = jsSubOptions()
        jsSubOptions_Init(&subOptions)
        subOptions.Stream = cStream
        subOptions.Consumer = cDurable
        var subscription: OpaquePointer?
        var code = jsErrCode(0)
        try check(
            js_PullSubscribe(&subscription, jetStream, nil, cDurable, nil, &subOptions, &code), operation, code: code)
        guard let subscription else { throw NATSError(operation: operation, message: "no subscription object") }
        return PullConsumer(subscription: subscription, description: "consumer \(durable) of stream \(stream)")
    }

    /// Binds to the key-value bucket, creating it when absent with `history` revisions per key, entries expiring
    /// `ttl` seconds after their last write (the bucket's `max_age`), on `replicas` servers.
    public func keyValueBucket(_ bucket: String, ttl: Double, replicas: Int) throws(NATSError) -> KeyValueBucket {
        let operation = "open key-value bucket \(bucket)"
        let arena = CStringArena()
        let cBucket = try arena.string(bucket, for: operation)
        var store: OpaquePointer?
        var status = js_KeyValue(&store, jetStream, cBucket)
        if status == NATS_NOT_FOUND {
            var config = kvConfig()
            kvConfig_Init(&config)
            config.Bucket = cBucket
            config.History = 1
            config.TTL = Int64(ttl * 1_000_000_000)
            config.Replicas = try cInt(replicas, for: operation)
            config.StorageType = js_FileStorage
            status = js_CreateKeyValue(&store, jetStream, &config)
        }
        try check(status, operation)
        guard let store else { throw NATSError(operation: operation, message: "no key-value object") }
        return KeyValueBucket(store: store, name: bucket)
    }

    private static func state(of info: UnsafeMutablePointer<jsStreamInfo>) -> StreamState {
        let state = info.pointee.State
        var leader: String?
        var replicas: [ReplicaState] = []
        if let cluster = info.pointee.Cluster {
            leader = cluster.pointee.Leader.map { String(cString: $0) }
            if let peers = cluster.pointee.Replicas {
                for index in 0..<Int(max(cluster.pointee.ReplicasLen, 0)) {
                    guard let peer = peers[index] else { continue }
                    replicas.append(
                        ReplicaState(
                            name: peer.pointee.Name.map { String(cString: $0) } ?? "",
                            current: peer.pointee.Current, offline: peer.pointee.Offline))
                }
            }
        }
        return StreamState(
            messages: state.Msgs, bytes: state.Bytes, firstSequence: state.FirstSeq, lastSequence: state.LastSeq,
            leader: leader, replicas: replicas)
    }
}
