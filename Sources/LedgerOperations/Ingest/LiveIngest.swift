// The workflow of a live relay: one transcription session's messages, each read by LiveSession (the adapter of
// `ingest --from gladia-live|transcribe-stream`, message by message) and its events decoded as `append` decodes
// them, ready to be taken together by the relay's sink (a ledger, or the shard streams of `serve --cluster`). A
// message whose events cannot all be made and decoded is rejected and leaves the session as it was; the cost of a
// message does not grow with the session.
import Foundation
public import LedgerAdapters
public import LedgerCore

/// Why a live message was rejected.
public enum LiveIngestError: Error, CustomStringConvertible {
    /// The adapter cannot read the message.
    case rejected(AdapterError)
    /// Event `number` the adapter made from the message is not a valid interchange event.
    case invalidEvent(number: Int, reason: String)

    /// The reason, for the producer.
    public var description: String {
        switch self {
        case .rejected(let error): error.path.isEmpty ? error.reason : "\(error.path): \(error.reason)"
        case .invalidEvent(let number, let reason): "event \(number) the adapter made is not valid: \(reason)"
        }
    }
}

/// One live session's messages turned into events to append.
public struct LiveIngest {
    /// The events one message (or the session's end) gave, decoded, with what the session held or released.
    public struct Batch: Sendable {
        /// The events to take together, in order: each interchange line and its decoded event.
        public var accepted: [AcceptedEvent]
        /// The decoded events of `accepted`.
        public var events: [DecodedEvent] { accepted.map(\.event) }
        /// Optional enrichments left out.
        public var warnings: [AdapterError]
        /// Utterances whose final waits for its entities.
        public var held: [String]
        /// Utterances whose held final is among `events`.
        public var released: [String]
        /// Released finals given without entities (theirs did not come within the wait).
        public var releasedWithoutEntities: [String]
    }

    private var session: LiveSession
    private var decoder: EventDecoder

    /// A session read with adapter `kind` (one of `LiveSession.kinds`), nil for another. Gladia finals wait up to
    /// `entityWait` for their entities (nil: not at all); events are at most `maximumEventBytes`.
    public init?(kind: String, options: IngestOptions, entityWait: Duration?, maximumEventBytes: Int) {
        guard let session = LiveSession(kind: kind, options: options, entityWait: entityWait) else { return nil }
        self.session = session
        decoder = EventDecoder(maximumEventBytes: maximumEventBytes)
    }

    /// The utterances whose final is held.
    public var heldUtterances: [String] { session.heldUtterances }

    /// The events of message `number`, received at `now`; a rejected message leaves the session as it was.
    public mutating func add(
        _ message: [UInt8], number: Int, now: ContinuousClock.Instant = .now
    ) throws(LiveIngestError) -> Batch {
        var next = session
        let step: LiveSession.Step
        do { step = try next.add(message, number: number, now: now) } catch { throw .rejected(error) }
        let batch = try decode(step)
        session = next
        return batch
    }

    /// The held finals, given now (the socket closed). Events that do not decode are left out and reported.
    public mutating func finish() -> (batch: Batch, invalid: [LiveIngestError]) {
        let step = session.finish()
        var events: [AcceptedEvent] = []
        var invalid: [LiveIngestError] = []
        for (index, event) in step.events.enumerated() {
            do throws(LiveIngestError) { events.append(try decode(event, number: index + 1)) } catch {
                invalid.append(error)
            }
        }
        return (
            Batch(
                accepted: events, warnings: step.warnings, held: [], released: step.released,
                releasedWithoutEntities: step.releasedWithoutEntities),
            invalid
        )
    }

    private mutating func decode(_ step: LiveSession.Step) throws(LiveIngestError) -> Batch {
        var events: [AcceptedEvent] = []
        for (index, event) in step.events.enumerated() { events.append(try decode(event, number: index + 1)) }
        return Batch(
            accepted: events, warnings: step.warnings, held: step.held, released: step.released,
            releasedWithoutEntities: step.releasedWithoutEntities)
    }

    private mutating func decode(_ event: [UInt8], number: Int) throws(LiveIngestError) -> AcceptedEvent {
        let decoded = event.withUnsafeBytes { raw in
            Result { () throws(EventDecodingError) in try decoder.decode(raw, lineNumber: number) }
        }
        switch decoded {
        case .success(let decoded): return AcceptedEvent(line: event, event: decoded)
        case .failure(let error): throw .invalidEvent(number: number, reason: "\(error)")
        }
    }
}
