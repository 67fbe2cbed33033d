// A live transcription session read one message at a time, as a relay receives it: each message gives the events
// it adds, in time linear in the message (the session keeps what its messages established, never the messages).
// The events are those the adapter gives for the whole capture, with one difference a live session cannot avoid:
// Gladia sends an utterance's `named_entity_recognition` message after its final, so a final read before its
// entities would keep names in the transcript's content class instead of sealing them apart. A session that waits
// for entities holds each such final (checked, not yet given) until its entities arrive, the session ends or the
// wait has passed, and gives it then, with the spans the entities name sealed as in the whole capture.
import Foundation

/// One live session of `gladia-live` or `transcribe-stream` messages, read message by message.
public struct LiveSession: Sendable {
    /// The adapters a live session can be read with.
    public static let kinds = [GladiaLiveAdapter.kind, TranscribeStreamAdapter.kind]

    /// What one message (or the session's end) gave.
    public struct Step: Sendable {
        /// The events to append, in order: the finals released by this message first, then its own.
        public var events: [[UInt8]] = []
        /// Optional enrichments of the message that could not be read and were left out.
        public var warnings: [AdapterError] = []
        /// The utterances whose final this message carried and that wait for their entities.
        public var held: [String] = []
        /// The utterances whose held final is among `events`.
        public var released: [String] = []
        /// Released finals given without entities because theirs did not arrive in time.
        public var releasedWithoutEntities: [String] = []
    }

    /// A final waiting for its entities: the message's bytes, its number, and when it arrived.
    struct HeldFinal: Sendable {
        var utterance: String
        var message: [UInt8]
        var number: Int
        var since: ContinuousClock.Instant
    }

    enum State: Sendable {
        case gladia(GladiaLiveAdapter.SessionState)
        case transcribe(TranscribeStreamAdapter.SessionState)
    }

    private var state: State
    private var held: [HeldFinal] = []
    /// How long a Gladia final waits for its entities; nil gives finals at once.
    public let entityWait: Duration?

    /// A session of `kind` (one of `kinds`) with `options`; nil for another kind. `entityWait` applies to
    /// `gladia-live` only.
    public init?(kind: String, options: IngestOptions, entityWait: Duration?) {
        switch kind {
        case GladiaLiveAdapter.kind: state = .gladia(GladiaLiveAdapter.SessionState(options: options))
        case TranscribeStreamAdapter.kind: state = .transcribe(TranscribeStreamAdapter.SessionState(options: options))
        default: return nil
        }
        self.entityWait = kind == GladiaLiveAdapter.kind ? entityWait : nil
    }

    /// The utterances whose final is held, oldest first.
    public var heldUtterances: [String] { held.map(\.utterance) }

    /// Reads message `number` (one JSON value) received at `now`. A message that cannot be read throws and leaves
    /// the session as it was; a message already read gives nothing.
    public mutating func add(
        _ message: [UInt8], number: Int, now: ContinuousClock.Instant
    ) throws(AdapterError) -> Step {
        switch state {
        case .transcribe(var session):
            let cursor = try Self.parse(message, number: number, options: session.options)
            let (events, warnings) = try session.add(cursor)
            state = .transcribe(session)
            return Step(events: events, warnings: warnings)
        case .gladia(var session):
            var held = self.held
            let cursor = try Self.parse(message, number: number, options: session.options)
            guard let parsed = try session.accept(cursor) else { return Step() }
            var step = Step()
            // What this message settles: its utterance's entities, the session's end, or the wait.
            let ending = parsed.type == "end_session" || parsed.type == "post_final_transcript"
            let due = held.filter { final in
                ending || session.recognized.contains(final.utterance)
                    || entityWait.map { final.since.duration(to: now) >= $0 } ?? true
            }
            held.removeAll { final in due.contains { $0.number == final.number } }
            for final in due { try Self.release(final, into: &step, &session) }
            let events = try session.events(of: parsed)
            let utterance = parsed.isFinal == true ? try parsed.data?.required("id").string() : nil
            if let utterance, entityWait != nil, !session.recognized.contains(utterance) {
                // Checked (the events above), and held until its entities are known.
                held.append(HeldFinal(utterance: utterance, message: message, number: number, since: now))
                step.held.append(utterance)
            } else {
                step.events += events
            }
            self.held = held
            state = .gladia(session)
            return step
        }
    }

    /// Gives every held final (the socket closed or the producer has no more messages).
    public mutating func finish() -> Step {
        guard case .gladia(var session) = state else { return Step() }
        var step = Step()
        for final in held {
            do { try Self.release(final, into: &step, &session) } catch {
                // Read once already when it was held: only a changed adapter could get here.
                step.warnings.append(error)
            }
        }
        held = []
        state = .gladia(session)
        return step
    }

    /// Adds the events of held `final` (read again, now with the entities the session has) to `step`.
    private static func release(
        _ final: HeldFinal, into step: inout Step, _ session: inout GladiaLiveAdapter.SessionState
    ) throws(AdapterError) {
        let cursor = try parse(final.message, number: final.number, options: session.options)
        let unwrapped = cursor["event"] != nil ? try cursor.required("payload") : cursor
        let message = try GladiaLiveAdapter.SessionState.message(unwrapped)
        step.released.append(final.utterance)
        do {
            step.events += try session.events(of: message)
            if !session.recognized.contains(final.utterance) { step.releasedWithoutEntities.append(final.utterance) }
        } catch {
            // Entities that do not fit the utterance's words: the final is given as it was checked, without them.
            var plain = session
            plain.entities[final.utterance] = nil
            step.events += try plain.events(of: message)
            session.partials = plain.partials
            session.finals = plain.finals
            step.warnings.append(error)
            step.releasedWithoutEntities.append(final.utterance)
        }
    }

    /// Message `number` parsed, its errors naming it as a line of the session.
    private static func parse(
        _ message: [UInt8], number: Int, options: IngestOptions
    ) throws(AdapterError)
        -> JSONCursor
    {
        try JSONCursor.parse(Data(message), file: options.file, line: number)
    }
}
