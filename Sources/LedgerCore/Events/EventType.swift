// The closed, versioned set of event types and the body schema of each (DESIGN.md §2).
// Extend by adding types or optional fields; never change the meaning of an existing one.

/// What happened to a call (or to the ledger).
public enum EventType: String, CaseIterable, Sendable {
    /// Contact metadata when a call starts (Connect contact trace record fields).
    case callStarted = "call.started"
    /// Contact metadata when a call ends.
    case callEnded = "call.ended"
    /// A Kinesis Video Streams audio fragment was received.
    case audioFragmentReceived = "audio.fragment.received"
    /// A transcript segment, partial or final.
    case transcriptSegment = "transcript.segment"
    /// The result of an enrichment (sentiment, entities, PII, summary...).
    case enrichmentResult = "enrichment.result"
    /// A CRM write and its response.
    case crmWrite = "crm.write"
    /// A CRM write that failed.
    case crmWriteFailed = "crm.write.failed"
    /// A CRM write about to be sent: appended durably before the request, and answered by the `crm.write` or
    /// `crm.write.failed` that records its outcome. One left unanswered marks a write whose outcome is unknown
    /// (the process was killed in between), which the next apply reads back from the CRM instead of resending.
    case crmWriteStarted = "crm.write.started"
    /// A retention policy was assigned to a call.
    case retentionPolicyAssigned = "retention.policy.assigned"
    /// A legal hold was placed on a call.
    case legalHoldPlaced = "legal.hold.placed"
    /// A legal hold was released.
    case legalHoldReleased = "legal.hold.released"
    /// Data classes of a call were erased.
    case retentionPurged = "retention.purged"
    /// The ciphertext of a call's erased data classes was removed from the sealed segments (compaction).
    case retentionCompacted = "retention.compacted"
    /// A projection definition (scorecard, mapping, policy) changed.
    case projectionDefinitionChanged = "projection.definition.changed"
    /// A streaming transcription session changed state (started, recording ended, ended, failed).
    case transcriptionSession = "transcription.session"
    /// A card payment taken during the call was authorized (or declined): the trigger PCI DSS erasure counts from.
    case paymentAuthorized = "payment.authorized"
    /// A reader was granted a view of a call's data (`call-ledger serve`), recorded before the answer was sent.
    case accessGranted = "access.granted"

    /// Whether events of this type must name a call. A policy assigned without a call governs every call of
    /// its tenant.
    public var requiresCall: Bool { self != .projectionDefinitionChanged && self != .retentionPolicyAssigned }

    /// The body schema.
    public var schema: ObjectSchema {
        switch self {
        case .callStarted: EventSchemas.callStarted
        case .callEnded: EventSchemas.callEnded
        case .audioFragmentReceived: EventSchemas.audioFragmentReceived
        case .transcriptSegment: EventSchemas.transcriptSegment
        case .enrichmentResult: EventSchemas.enrichmentResult
        case .crmWrite, .crmWriteFailed: EventSchemas.crmWrite
        case .crmWriteStarted: EventSchemas.crmWriteStarted
        case .retentionPolicyAssigned: EventSchemas.retentionPolicyAssigned
        case .legalHoldPlaced, .legalHoldReleased: EventSchemas.legalHold
        case .retentionPurged: EventSchemas.retentionPurged
        case .retentionCompacted: EventSchemas.retentionCompacted
        case .projectionDefinitionChanged: EventSchemas.projectionDefinitionChanged
        case .transcriptionSession: EventSchemas.transcriptionSession
        case .paymentAuthorized: EventSchemas.paymentAuthorized
        case .accessGranted: EventSchemas.accessGranted
        }
    }
}

/// The body schemas, one per event type. FORMAT.md §6 documents each field.
public enum EventSchemas {
    static let shortText = FieldType.string(maxBytes: 256)
    static let identifier = FieldType.string(maxBytes: 512)
    static let milliseconds = FieldType.integer(0...Int64(1) << 40)
    static let confidence = FieldType.number(0...1)
    static let track = FieldType.enumeration(["AUDIO_FROM_CUSTOMER", "AUDIO_TO_CUSTOMER"])
    static let role = FieldType.enumeration(["agent", "customer", "unknown"])
    static let sentimentLabel = FieldType.enumeration(["POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"])

    /// A named reference with an optional ARN (queue, agent).
    static let namedReference = FieldType.object(
        ObjectSchema([
            FieldSchema("id", identifier), FieldSchema("name", shortText), FieldSchema("arn", identifier),
        ]))

    /// A versioned definition reference (policy, mapping, scorecard).
    static let definitionReference = FieldType.object(
        ObjectSchema([
            FieldSchema("name", shortText, required: true), FieldSchema("version", shortText, required: true),
            FieldSchema("digest", .sha256),
        ]))

    /// A span of transcript text: content, or `pii.<kind>` when it carries `"pii"`.
    static let textSpan = FieldType.object(
        ObjectSchema(
            [FieldSchema("text", .sealedText(.string(maxBytes: 65_536)), required: true)],
            allowsPIIAnnotation: true))

    /// Transcript text: a string, or an array of spans where PII spans are sealed on their own.
    static let transcriptText = FieldType.stringOr(
        .sealedText(.string(maxBytes: 262_144)), .array(textSpan, maxCount: 10_000))

    static let word = FieldType.object(
        ObjectSchema(
            [
                FieldSchema("word", .sealedText(.string(maxBytes: 1024)), required: true),
                FieldSchema("start_ms", milliseconds),
                FieldSchema("end_ms", milliseconds),
                FieldSchema("confidence", confidence),
                FieldSchema("type", .enumeration(["pronunciation", "punctuation"])),
            ], allowsPIIAnnotation: true))

    static let endpoint = FieldType.object(
        ObjectSchema([
            FieldSchema("type", .enumeration(["TELEPHONE_NUMBER", "VOIP", "CONTACT_FLOW", "AGENT", "OTHER"])),
            FieldSchema("address", .sealed(.pii("phone_number"), .string(maxBytes: 256))),
        ]))

    static let systemEndpoint = FieldType.object(
        ObjectSchema([
            FieldSchema("type", .enumeration(["TELEPHONE_NUMBER", "VOIP", "CONTACT_FLOW", "AGENT", "OTHER"])),
            FieldSchema("address", shortText),
        ]))

    static let trackLayout = FieldType.object(
        ObjectSchema([
            FieldSchema("track", track, required: true), FieldSchema("role", role, required: true),
            FieldSchema("channel", .integer(0...15)),
        ]))

    /// `call.started`.
    public static let callStarted = ObjectSchema([
        FieldSchema("channel", .enumeration(["VOICE", "CHAT", "TASK", "EMAIL"]), required: true),
        FieldSchema(
            "initiation_method",
            .enumeration([
                "INBOUND", "OUTBOUND", "TRANSFER", "QUEUE_TRANSFER", "CALLBACK", "API", "DISCONNECT", "MONITOR",
                "EXTERNAL_OUTBOUND", "WEBRTC_API", "AGENT_REPLY", "FLOW",
            ])),
        FieldSchema("initiated_at", .timestamp),
        FieldSchema("connected_to_agent_at", .timestamp),
        FieldSchema("queue", namedReference),
        FieldSchema("agent", namedReference),
        FieldSchema("customer_endpoint", endpoint),
        FieldSchema("system_endpoint", systemEndpoint),
        FieldSchema("tracks", .array(trackLayout, maxCount: 8)),
        FieldSchema("language", .string(maxBytes: 35)),
        FieldSchema("instance", identifier),
        FieldSchema("previous_contact", identifier),
        FieldSchema("initial_contact", identifier),
        FieldSchema("updated_at", .timestamp),
        FieldSchema("connected_to_system_at", .timestamp),
        FieldSchema("next_contact", identifier),
    ])

    /// One recording of a contact (Amazon Connect `Recordings[]`): where and how it is stored, and when it ran,
    /// also as milliseconds from the call's start.
    static let recording = FieldType.object(
        ObjectSchema([
            FieldSchema("location", .string(maxBytes: 2048)), FieldSchema("status", shortText),
            FieldSchema("type", shortText), FieldSchema("storage", shortText), FieldSchema("participant", shortText),
            FieldSchema("started_at", .timestamp), FieldSchema("stopped_at", .timestamp),
            FieldSchema("start_ms", milliseconds), FieldSchema("end_ms", milliseconds),
            FieldSchema("fragment_start", .string(maxBytes: 128)), FieldSchema("fragment_stop", .string(maxBytes: 128)),
        ]))

    /// `call.ended`.
    public static let callEnded = ObjectSchema([
        FieldSchema("disconnected_at", .timestamp, required: true),
        FieldSchema("disconnect_reason", shortText),
        FieldSchema("duration_ms", milliseconds),
        FieldSchema("agent_interaction_ms", milliseconds),
        FieldSchema("hold_ms", milliseconds),
        FieldSchema("hold_count", .integer(0...100_000)),
        FieldSchema(
            "recording",
            .object(
                ObjectSchema([
                    FieldSchema("location", .string(maxBytes: 2048)), FieldSchema("status", shortText),
                    FieldSchema("type", shortText),
                ]))),
        FieldSchema("updated_at", .timestamp),
        FieldSchema("recordings", .array(recording, maxCount: 64)),
    ])

    /// `audio.fragment.received`. `track` and `sha256` are optional because a streaming STT provider's receipt
    /// of an audio chunk (Gladia live `audio_chunk` acknowledgments) names neither; such receipts carry the
    /// chunk's place in the stream instead (`byte_offset`, `start_ms`, `end_ms`).
    public static let audioFragmentReceived = ObjectSchema([
        FieldSchema("stream", identifier, required: true),
        FieldSchema("fragment_number", .string(maxBytes: 128), required: true),
        FieldSchema("track", track),
        FieldSchema("producer_timestamp", .timestamp),
        FieldSchema("server_timestamp", .timestamp),
        FieldSchema("duration_ms", milliseconds, required: true),
        FieldSchema("bytes", .integer(0...Int64(1) << 40), required: true),
        FieldSchema("sha256", .sha256),
        FieldSchema("audio", .sealed(.audio, .bytes(maxBytes: 786_432))),
        FieldSchema("byte_offset", .integer(0...Int64(1) << 48)),
        FieldSchema("start_ms", milliseconds),
        FieldSchema("end_ms", milliseconds),
        FieldSchema("start_origin", .enumeration(["call_start", "first_fragment"])),
    ])

    /// `transcript.segment`.
    public static let transcriptSegment = ObjectSchema([
        FieldSchema("utterance", identifier, required: true),
        FieldSchema("final", .boolean, required: true),
        FieldSchema("role", role, required: true),
        FieldSchema("track", track),
        FieldSchema("channel", .integer(0...15)),
        FieldSchema("speaker", shortText),
        FieldSchema("start_ms", milliseconds, required: true),
        FieldSchema("end_ms", milliseconds, required: true),
        FieldSchema("text", transcriptText, required: true),
        FieldSchema("words", .array(word, maxCount: 10_000)),
        FieldSchema("confidence", confidence),
        FieldSchema("language", .string(maxBytes: 35)),
        FieldSchema("provider", shortText, required: true),
        FieldSchema("model", shortText),
    ])

    static let entity = FieldType.object(
        ObjectSchema(
            [
                FieldSchema("type", shortText, required: true),
                FieldSchema("text", .sealedText(.string(maxBytes: 4096))),
                FieldSchema("utterance", identifier),
                FieldSchema("start_ms", milliseconds),
                FieldSchema("end_ms", milliseconds),
                FieldSchema("begin_offset", .integer(0...Int64(Int32.max))),
                FieldSchema("end_offset", .integer(0...Int64(Int32.max))),
                FieldSchema("confidence", confidence),
            ], allowsPIIAnnotation: true))

    /// The result of an enrichment; which members appear depends on `kind`.
    static let enrichmentPayload = ObjectSchema([
        FieldSchema("label", shortText),
        FieldSchema("score", .number(-1_000_000...1_000_000)),
        FieldSchema("scores", .map(.number(-1_000_000...1_000_000), maxCount: 64)),
        FieldSchema("entities", .array(entity, maxCount: 10_000)),
        FieldSchema("text", .sealedText(.string(maxBytes: 262_144))),
        FieldSchema("code", .string(maxBytes: 35)),
        FieldSchema("confidence", confidence),
        FieldSchema("names", .array(shortText, maxCount: 1000)),
        FieldSchema("metrics", .map(.number(-1e15...1e15), maxCount: 256)),
        FieldSchema("values", .array(.number(-1e15...1e15), maxCount: 100_000)),
    ])

    /// `enrichment.result`.
    public static let enrichmentResult = ObjectSchema([
        FieldSchema(
            "kind",
            .enumeration([
                "sentiment", "entities", "pii", "summary", "language", "category", "issue", "outcome",
                "action_item", "loudness", "characteristics", "speech", "translation",
            ]), required: true),
        FieldSchema("utterances", .array(identifier, maxCount: 10_000)),
        FieldSchema("start_ms", milliseconds),
        FieldSchema("end_ms", milliseconds),
        FieldSchema("provider", shortText, required: true),
        FieldSchema("model", shortText),
        FieldSchema("result", .object(enrichmentPayload), required: true),
        FieldSchema("channel", .integer(0...15)),
    ])

    /// `crm.write` and `crm.write.failed`.
    public static let crmWrite = ObjectSchema([
        FieldSchema("system", shortText, required: true),
        FieldSchema("object", shortText, required: true),
        FieldSchema("external_id_field", shortText, required: true),
        FieldSchema("external_id", identifier, required: true),
        FieldSchema("record_id", identifier),
        FieldSchema("fields", .sealed(.crmValues, .map(.scalar(maxBytes: 131_072), maxCount: 1000)), required: true),
        FieldSchema("mapping", definitionReference, required: true),
        FieldSchema("request_key", identifier),
        FieldSchema("status", .integer(0...999), required: true),
        FieldSchema("attempts", .integer(1...1000)),
        FieldSchema("error", .sealed(.crmValues, .string(maxBytes: 16_384))),
        FieldSchema("read_back", .boolean),
    ])

    /// `crm.write.started`: names the fields, never their values.
    public static let crmWriteStarted = ObjectSchema([
        FieldSchema("system", shortText, required: true),
        FieldSchema("object", shortText, required: true),
        FieldSchema("external_id_field", shortText, required: true),
        FieldSchema("external_id", identifier, required: true),
        FieldSchema("field_names", .array(shortText, maxCount: 1000), required: true),
        FieldSchema("mapping", definitionReference, required: true),
        FieldSchema("request_key", identifier, required: true),
    ])

    /// `retention.policy.assigned`.
    public static let retentionPolicyAssigned = ObjectSchema([
        FieldSchema("policy", definitionReference, required: true),
        FieldSchema("rule", shortText),
    ])

    /// `legal.hold.placed` and `legal.hold.released`.
    public static let legalHold = ObjectSchema([
        FieldSchema("hold", identifier, required: true),
        FieldSchema("reason", .string(maxBytes: 4096), required: true),
        FieldSchema("by", shortText),
    ])

    /// `retention.purged`.
    public static let retentionPurged = ObjectSchema([
        FieldSchema("classes", .array(shortText, maxCount: 256), required: true),
        FieldSchema("policy", definitionReference, required: true),
        FieldSchema("method", .enumeration(["crypto-shred", "zero-retention"]), required: true),
        FieldSchema(
            "checkpoint",
            .object(
                ObjectSchema([
                    FieldSchema("tree_size", .integer(0...Int64.max), required: true),
                    FieldSchema("root", .sha256, required: true),
                ]))),
    ])

    /// `retention.compacted`.
    public static let retentionCompacted = ObjectSchema([
        FieldSchema("classes", .array(shortText, maxCount: 256), required: true),
        FieldSchema("parts", .integer(0...Int64.max), required: true),
        FieldSchema("segments", .integer(0...Int64.max), required: true),
    ])

    /// `transcription.session`.
    public static let transcriptionSession = ObjectSchema([
        FieldSchema("provider", shortText, required: true),
        FieldSchema("session", identifier, required: true),
        FieldSchema(
            "state",
            .enumeration([
                "started", "recording_started", "recording_stop_acknowledged", "recording_ended", "ended", "failed",
            ]), required: true),
        FieldSchema("reason", shortText),
        FieldSchema("bytes", .integer(0...Int64(1) << 48)),
        FieldSchema("error", .string(maxBytes: 1024)),
    ])

    /// `projection.definition.changed`.
    public static let projectionDefinitionChanged = ObjectSchema([
        FieldSchema("projection", .enumeration(["transcript", "qa", "crm", "retention"]), required: true),
        FieldSchema("definition", definitionReference, required: true),
        FieldSchema("path", .string(maxBytes: 1024)),
    ])

    /// `payment.authorized`.
    public static let paymentAuthorized = ObjectSchema([
        FieldSchema("authorized_at", .timestamp, required: true),
        FieldSchema("result", .enumeration(["approved", "declined", "error"]), required: true),
        FieldSchema("reference", identifier),
        FieldSchema("processor", shortText),
    ])
}
