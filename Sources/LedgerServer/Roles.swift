// Roles and what each may do: the table README's "Roles" section documents. Adapters ask here; they never decide.
public import LedgerProjections

/// A principal's role (README, `call-ledger serve`, Roles).
public enum Role: String, CaseIterable, Sendable, Codable {
    /// Writes events; reads nothing.
    case ingest
    /// Sees the summary and QA result of their own calls; no stored transcript text, but their own live call's
    /// redacted lines on the stream (the agent-assist view).
    case agent
    /// Sees redacted transcripts of their tenants (and queues).
    case qa
    /// Sees redacted transcripts of their tenants (and queues).
    case supervisor
    /// Opens raw personal data of their tenants' calls (transcripts, audit bundles), only for a stated purpose.
    case compliance
    /// Sees checkpoints, proofs and audit bundles without opened classes; no transcript text.
    case auditor
    /// Writes events (holds, retention assignments) and sees redacted transcripts, QA, retention status, proofs
    /// and audit bundles (without opened classes) of their tenants.
    case admin

    /// Whether the role may use `endpoint` at all (a role that may not answers 403).
    public func allows(_ endpoint: Endpoint) -> Bool {
        switch endpoint {
        case .health, .metrics: true
        case .appendEvents: self == .ingest || self == .admin
        case .checkpoint: self != .ingest
        case .listCalls, .getCall, .transcript: !transcriptViews.isEmpty
        case .ingestDocument, .liveRelay: self == .ingest || self == .admin
        case .gladiaWebhook, .firehose: self == .ingest
        case .inclusionProof, .consistencyProof, .redactionProof, .auditBundle:
            self == .auditor || self == .compliance || self == .admin
        case .qa, .stream: !transcriptViews.isEmpty
        case .retention: self == .compliance || self == .admin
        }
    }

    /// The transcript views the role may ask for.
    public var transcriptViews: Set<TranscriptView> {
        switch self {
        case .ingest, .auditor: []
        case .agent: [.summary]
        case .qa, .supervisor, .admin: [.summary, .redacted]
        case .compliance: [.summary, .redacted, .raw]
        }
    }

    /// The view a transcript request without `view` gets.
    public var defaultTranscriptView: TranscriptView {
        self == .agent ? .summary : .redacted
    }
}

/// The endpoints roles are checked against.
public enum Endpoint: String, CaseIterable, Sendable {
    /// `GET /healthz` (no token).
    case health
    /// `GET /metrics` (no token).
    case metrics
    /// `POST /v1/events`.
    case appendEvents
    /// `GET /v1/checkpoint`.
    case checkpoint
    /// `GET /v1/calls`.
    case listCalls
    /// `GET /v1/calls/{id}`.
    case getCall
    /// `GET /v1/calls/{id}/transcript`.
    case transcript
    /// `GET /v1/proofs/inclusion`.
    case inclusionProof
    /// `POST /v1/ingest/{kind}`.
    case ingestDocument
    /// `POST /v1/webhooks/gladia` (a configured source's secret, acting as `ingest`).
    case gladiaWebhook
    /// `POST /v1/firehose/{source}` (a configured stream's access key, acting as `ingest`).
    case firehose
    /// `GET /v1/live/{call}` (WebSocket).
    case liveRelay
    /// `GET /v1/proofs/consistency`.
    case consistencyProof
    /// `GET /v1/proofs/redaction/{call}`.
    case redactionProof
    /// `GET /v1/calls/{id}/qa`.
    case qa
    /// `GET /v1/calls/{id}/retention`.
    case retention
    /// `GET /v1/calls/{id}/audit-bundle`.
    case auditBundle
    /// `GET /v1/calls/{id}/stream` (Server-Sent Events).
    case stream
}

/// What a transcript read shows.
public enum TranscriptView: String, CaseIterable, Sendable {
    /// The call's summary (times, agent, queue, counts): no transcript text.
    case summary
    /// The transcript with personal-data spans shown as `[REDACTED:<kind>]`.
    case redacted
    /// The transcript with personal-data spans opened (appends `access.granted` first).
    case raw
}

/// Who is asking: from an API key or a verified JWT.
public struct Principal: Sendable, Equatable {
    /// The token's subject or the API key's principal name.
    public var name: String
    /// The role.
    public var role: Role
    /// The tenants the token is scoped to; `*` stands for every tenant.
    public var tenants: Set<String>
    /// The queues (names or ids) the token is limited to, if it is (qa, supervisor).
    public var queues: Set<String>?
    /// The agent (name or id) whose calls an `agent` token sees.
    public var agent: String?

    /// A principal.
    public init(name: String, role: Role, tenants: Set<String>, queues: Set<String>? = nil, agent: String? = nil) {
        self.name = name
        self.role = role
        self.tenants = tenants
        self.queues = queues
        self.agent = agent
    }

    /// Whether the token covers `tenant`.
    public func covers(tenant: String) -> Bool {
        tenants.contains("*") || tenants.contains(tenant)
    }

    /// Whether the principal may see the call `summary` describes at all: its tenant, its queue (when the token
    /// names queues) and, for an agent, their own call. A call it may not see answers 404, as if absent.
    public func canSee(_ summary: CallSummary) -> Bool {
        guard covers(tenant: summary.tenant) else { return false }
        if let queues, !queues.isEmpty {
            guard let queue = summary.queue, queues.contains(queue) else { return false }
        }
        if role == .agent {
            guard let agent, let handler = summary.agent, handler == agent else { return false }
        }
        return true
    }
}
