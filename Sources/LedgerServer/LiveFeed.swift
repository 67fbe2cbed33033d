// Live transcripts: LedgerService signals which calls got durable events; LiveFeed reads each such call's
// transcript once (coalescing signals that arrive while it reads) and hands every subscriber of the call the
// lines that are new or changed for it. Each subscriber has a bounded queue: one that falls that far behind is
// dropped with an `end` message saying so, never slowing the append path or the other subscribers. A read-only
// service has no append path: the feed follows the log another process writes instead (`follow`).
import LedgerProjections
import LedgerStore
import Synchronization

/// Tells a listener which calls got new events, once those events are durable.
public final class AppendSignal: Sendable {
    /// The listener, boxed: kept directly in the Mutex, the closure showed in profiles as ever deeper chains of
    /// reabstraction thunks calling each other (18% of the service's CPU after about 1,700 requests); boxed, they
    /// are gone.
    private final class Listener: Sendable {
        let body: @Sendable (Set<String>?) -> Void
        init(_ body: @escaping @Sendable (Set<String>?) -> Void) { self.body = body }
    }
    private let listener = Mutex<Listener?>(nil)

    /// No listener yet.
    public init() {}

    /// Calls `body` with the calls of every later append, or nil when an append did not say which calls it
    /// touched (replacing an earlier listener).
    public func listen(_ body: @escaping @Sendable (Set<String>?) -> Void) {
        let boxed = Listener(body)
        listener.withLock { $0 = boxed }
    }

    /// Signals that `calls` got new durable events.
    func send(_ calls: Set<String>) {
        guard !calls.isEmpty, let listening = listener.withLock({ $0 }) else { return }
        listening.body(calls)
    }

    /// Signals that some calls got new durable events, without saying which (a vendor document read without
    /// `call`): a listener looks again at every call it follows.
    func sendUnknownCalls() {
        listener.withLock { $0 }?.body(nil)
    }
}

/// One message of a call's live stream.
enum LiveMessage: Sendable, Equatable {
    /// A transcript line, new or changed (a partial superseded, a partial made final).
    case line(TranscriptLine)
    /// Nothing new: a comment line that keeps the connection checked.
    case keepAlive
    /// The stream ends: the call ended, or the subscriber fell too far behind.
    case end(reason: String)
}

/// One reader of a call's live stream: a bounded queue of messages and the versions of lines it was sent.
final class LiveSubscription: Sendable {
    /// The call.
    let call: String
    /// How many messages may wait in the queue.
    private let capacity: Int
    private struct State {
        var queue: [LiveMessage] = []
        var waiter: CheckedContinuation<LiveMessage?, Never>?
        var closed = false
        /// The seq of the version of each utterance already queued.
        var sent: [String: UInt64] = [:]
    }
    private let state = Mutex(State())

    init(call: String, capacity: Int) {
        self.call = call
        self.capacity = capacity
    }

    /// Queues the lines of `transcript` this subscriber has not been sent in that version, then `end` when the
    /// call has ended. Returns false once the subscription is closed.
    func offer(_ transcript: CallTranscript) -> Bool {
        var messages: [LiveMessage] = []
        let open = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            for line in transcript.lines where state.sent[line.utterance] != line.seq {
                state.sent[line.utterance] = line.seq
                messages.append(.line(line))
            }
            return true
        }
        guard open else { return false }
        for message in messages { push(message) }
        if transcript.summary.endedAt != nil { push(.end(reason: "the call ended")) }
        return !isClosed
    }

    /// Queues `message`; when the queue is full, drops what is queued and ends the stream saying why.
    func push(_ message: LiveMessage) {
        let waiter = state.withLock { state -> CheckedContinuation<LiveMessage?, Never>? in
            guard !state.closed else { return nil }
            if case .end = message { state.closed = true }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            if state.queue.count >= capacity {
                state.queue = [
                    .end(reason: "slow consumer: more than \(capacity) messages behind; reconnect to resume")
                ]
                state.closed = true
            } else {
                state.queue.append(message)
            }
            return nil
        }
        waiter?.resume(returning: message)
    }

    /// Whether no more messages will be queued.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// The next message, waiting for one; nil once the stream ended and its messages were taken, or when the
    /// task is cancelled.
    func next() async -> LiveMessage? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> LiveMessage?? in
                    if !state.queue.isEmpty { return .some(state.queue.removeFirst()) }
                    if state.closed || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Ends the subscription: a waiting `next` returns nil.
    func cancel() {
        let waiter = state.withLock { state -> CheckedContinuation<LiveMessage?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}

/// The subscribers of live calls and the reads that feed them.
actor LiveFeed {
    private let service: LedgerService
    private let capacity: Int
    private var subscribers: [String: [ObjectIdentifier: LiveSubscription]] = [:]
    private var pending: Set<String> = []
    private var draining = false

    /// A feed over `service`'s appends; each subscriber may fall `capacity` messages behind.
    init(service: LedgerService, capacity: Int = 1024) {
        self.service = service
        self.capacity = capacity
    }

    /// Starts listening to the service's appends.
    nonisolated func start() {
        service.appended.listen { [weak self] calls in
            guard let self else { return }
            Task { await self.changed(calls) }
        }
    }

    /// How often a read-only service looks whether the log another process writes grew.
    static let followInterval = Duration.milliseconds(20)

    /// Read-only: follows the log another process appends to, looking every `interval` whether its newest segment
    /// changed (a stat, no read); when it did and calls are followed, reads the new events' calls and feeds them
    /// as an append of this service would. Runs while the feed exists.
    nonisolated func follow(every interval: Duration) {
        let service = self.service
        Task { [weak self] in
            var stamp = LogStamp.now(service.directory)
            // The seq the next look reads from; nil while no one subscribes (each subscriber reads its call first).
            var next: UInt64?
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                let now = LogStamp.now(service.directory)
                guard now != stamp else { continue }
                guard await self.hasSubscribers else {
                    stamp = now
                    next = nil
                    continue
                }
                guard let from = next else {
                    // Subscribers came while the log was not followed: look again at each of their calls.
                    guard let size = try? await service.size() else { continue }
                    stamp = now
                    next = size
                    await self.changed(nil)
                    continue
                }
                guard let (size, calls) = try? await service.changes(since: from) else { continue }
                stamp = now
                next = max(from, size)
                if !calls.isEmpty { await self.changed(calls) }
            }
        }
    }

    /// Whether any call has a subscriber.
    private var hasSubscribers: Bool { !subscribers.isEmpty }

    /// A new subscriber of `call`; its first messages are the call's lines so far.
    func subscribe(call: String) -> LiveSubscription {
        let subscription = LiveSubscription(call: call, capacity: capacity)
        subscribers[call, default: [:]][ObjectIdentifier(subscription)] = subscription
        changed([call])
        return subscription
    }

    /// Removes `subscription`.
    func unsubscribe(_ subscription: LiveSubscription) {
        subscription.cancel()
        subscribers[subscription.call]?[ObjectIdentifier(subscription)] = nil
        if subscribers[subscription.call]?.isEmpty == true { subscribers[subscription.call] = nil }
    }

    private func changed(_ calls: Set<String>?) {
        pending.formUnion(calls?.filter { subscribers[$0] != nil } ?? Set(subscribers.keys))
        guard !draining, !pending.isEmpty else { return }
        draining = true
        Task { await drain() }
    }

    /// Reads the transcripts of the calls pending, all in one read (one reader, one catch-up of the projection),
    /// and offers each to its call's subscribers; again until nothing is pending (the calls signalled meanwhile).
    private func drain() async {
        while !pending.isEmpty {
            let calls = pending.filter { subscribers[$0]?.isEmpty == false }
            pending = []
            guard !calls.isEmpty else { continue }
            let transcripts: [String: Result<CallTranscript?, LedgerError>]
            do {
                transcripts = try await service.read { _, engine throws(LedgerError) in
                    try engine.transcripts(calls: calls)
                }
            } catch {
                transcripts = Dictionary(uniqueKeysWithValues: calls.map { ($0, .failure(error)) })
            }
            for (call, result) in transcripts {
                guard let listening = subscribers[call]?.values, !listening.isEmpty else { continue }
                let transcript: CallTranscript?
                switch result {
                case .success(let read): transcript = read
                case .failure(let error):
                    for subscription in listening {
                        subscription.push(.end(reason: "the ledger could not be read: \(error)"))
                        unsubscribe(subscription)
                    }
                    continue
                }
                guard let transcript else { continue }
                for subscription in listening where !subscription.offer(transcript) {
                    subscribers[call]?[ObjectIdentifier(subscription)] = nil
                }
                if subscribers[call]?.isEmpty == true { subscribers[call] = nil }
            }
        }
        draining = false
    }
}
