// The facts a CRM mapping can read about a call, each with a stable name, a static type and whether it is
// personal data: call metadata from the call summary, counts and talk time from the final transcript lines,
// sentiment, categories and the summary from enrichments, the first entity of a type, and QA scores. A fact the
// ledger does not hold is `absent`; text it holds sealed but cannot read (erased, or no key file), or an entity
// the source redacted, is `unreadable`.
import LedgerCore

/// The type of a fact or template result.
public enum CRMValueType: String, Sendable, Equatable {
    /// Text.
    case string
    /// A whole number.
    case integer
    /// A number with a fraction.
    case double
    /// True or false.
    case bool
}

/// One fact a template can name.
struct CRMFact: Sendable, Equatable {
    /// The name templates use (`call.id`, `entity.name`, `qa.support-call-basics.score`).
    let name: String
    /// The type of its value.
    let type: CRMValueType
    /// Whether its value is personal data (transcript content or a PII span).
    let personal: Bool
    /// Reads it from a call's facts.
    let read: @Sendable (CRMFacts) -> CRMFactValue

    static func == (lhs: CRMFact, rhs: CRMFact) -> Bool { lhs.name == rhs.name }

    /// The fact called `name`, or nil when there is none.
    static func named(_ name: String) -> CRMFact? {
        if let fact = fixed[name] { return fact }
        if name.hasPrefix("entity."), isEntityType(String(name.dropFirst(7))) {
            let type = String(name.dropFirst(7))
            return CRMFact(name: name, type: .string, personal: true) { $0.entity(type) }
        }
        let rest = name.dropFirst(3)
        if name.hasPrefix("qa."), let dot = rest.lastIndex(of: "."), DefinitionFile.isName(String(rest[..<dot])) {
            let scorecard = String(rest[..<dot])
            switch rest[rest.index(after: dot)...] {
            case "score": return CRMFact(name: name, type: .double, personal: false) { $0.qaScore(scorecard) }
            case "automatic_fail":
                return CRMFact(name: name, type: .bool, personal: false) { $0.qaAutomaticFail(scorecard) }
            default: return nil
            }
        }
        return nil
    }

    /// Whether `type` is an entity type: 1 to 64 of `a-z`, `0-9`, `_`.
    private static func isEntityType(_ type: String) -> Bool {
        (1...64).contains(type.utf8.count)
            && type.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "_")
            }
    }

    /// The facts with fixed names, documented in Projections/crm/README.md.
    static let fixed: [String: CRMFact] = {
        func fact(
            _ name: String, _ type: CRMValueType, personal: Bool = false,
            _ read: @escaping @Sendable (CRMFacts) -> CRMFactValue
        ) -> (String, CRMFact) {
            (name, CRMFact(name: name, type: type, personal: personal, read: read))
        }
        var facts = [
            fact("call.id", .string) { CRMFacts.text($0.summary.call) },
            fact("call.tenant", .string) { CRMFacts.text($0.summary.tenant) },
            fact("call.channel", .string) { CRMFacts.text($0.summary.channel) },
            fact("call.queue", .string) { CRMFacts.text($0.summary.queue) },
            fact("call.agent", .string) { CRMFacts.text($0.summary.agent) },
            fact("call.disconnect_reason", .string) { CRMFacts.text($0.summary.disconnectReason) },
            fact("call.started_at", .string) { CRMFacts.text($0.summary.startedAt.map(CRMFacts.rfc3339)) },
            fact("call.connected_to_agent_at", .string) {
                CRMFacts.text($0.summary.connectedToAgentAt.map(CRMFacts.rfc3339))
            },
            fact("call.ended_at", .string) { CRMFacts.text($0.summary.endedAt.map(CRMFacts.rfc3339)) },
            fact("call.duration_ms", .integer) { facts in
                facts.summary.shownDurationMs.map { .known(.integer($0)) } ?? .unavailable(.absent)
            },
            fact("call.duration_seconds", .integer) { facts in
                facts.summary.shownDurationMs.map { .known(.integer(($0 + 500) / 1000)) } ?? .unavailable(.absent)
            },
            fact("transcript.lines", .integer) { .known(.integer(Int64($0.finalLines.count))) },
            fact("categories", .string) { facts in
                var names: [String] = []
                for note in facts.notes where note.kind == "category" {
                    for name in note.names where !name.isEmpty && !names.contains(name) { names.append(name) }
                }
                return CRMFacts.text(names.joined(separator: ", "))
            },
            fact("summary", .string, personal: true) { facts in
                guard let span = facts.notes.last(where: { $0.kind == "summary" && $0.text != nil })?.text else {
                    return .unavailable(.absent)
                }
                return CRMFacts.value(of: span)
            },
        ]
        for role in ["agent", "customer"] {
            facts += [
                fact("transcript.\(role)_lines", .integer) { facts in
                    .known(.integer(Int64(facts.finalLines.count { $0.role == role })))
                },
                fact("talk.\(role)_seconds", .double) { facts in
                    guard !facts.finalLines.isEmpty else { return .unavailable(.absent) }
                    return .known(.double(Double(facts.talkMs(role)) / 1000))
                },
                fact("talk.\(role)_share", .double) { facts in
                    let total = facts.talkMs(nil)
                    guard total > 0 else { return .unavailable(.absent) }
                    return .known(.double(Double(facts.talkMs(role)) / Double(total)))
                },
                fact("sentiment.\(role)", .string) { CRMFacts.text($0.prevailingSentiment(role)) },
                fact("sentiment.\(role).last", .string) { CRMFacts.text($0.sentimentLabels(role).last) },
                fact("sentiment.\(role).score", .double) { facts in
                    let metric = "sentiment.overall.\(role)"
                    guard let score = facts.notes.last(where: { $0.metrics[metric] != nil })?.metrics[metric] else {
                        return .unavailable(.absent)
                    }
                    return .known(.double(score))
                },
            ]
        }
        return Dictionary(uniqueKeysWithValues: facts)
    }()
}

/// What a CRM mapping reads about one call: its transcript (summary, lines, enrichments) and its QA evaluations.
public struct CRMFacts: Sendable {
    /// The call's transcript.
    public let transcript: CallTranscript
    /// Its QA evaluations; for a scorecard evaluated more than once, the last one counts.
    public let evaluations: [QAEvaluation]
    /// The final lines, by start time.
    let finalLines: [TranscriptLine]
    /// Every enrichment of the call (on lines or the call), once each, in seq order.
    let notes: [EnrichmentNote]

    /// The facts of `transcript` and its `evaluations`.
    public init(transcript: CallTranscript, evaluations: [QAEvaluation] = []) {
        self.transcript = transcript
        self.evaluations = evaluations
        finalLines = transcript.lines.filter(\.isFinal)
        var seen: Set<UInt64> = []
        notes = (transcript.callEnrichments + transcript.lines.flatMap(\.enrichments))
            .filter { seen.insert($0.seq).inserted }.sorted { $0.seq < $1.seq }
    }

    /// The value of the fact called `name` (see Projections/crm/README.md), or nil when no fact has that name.
    public func value(of name: String) -> CRMFactValue? {
        CRMFact.named(name)?.read(self)
    }

    var summary: CallSummary { transcript.summary }

    /// A text fact: absent when missing or empty.
    static func text(_ value: String?) -> CRMFactValue {
        guard let value, !value.isEmpty else { return .unavailable(.absent) }
        return .known(.string(value))
    }

    /// RFC 3339 UTC text of an instant in µs: whole seconds when it has no fraction, else milliseconds or µs.
    static func rfc3339(_ micros: Int64) -> String {
        let digits = micros % 1_000_000 == 0 ? 0 : micros % 1000 == 0 ? 3 : 6
        return Timestamp(micros: micros, fractionDigits: digits).formatted
    }

    /// A span's text as a fact: unreadable when sealed out of reach, absent when empty.
    static func value(of span: TextSpan) -> CRMFactValue {
        guard let text = span.text else {
            return .unavailable(.unreadable(because: span.unavailableBecause ?? "unreadable"))
        }
        return text.isEmpty ? .unavailable(.absent) : .known(.string(text))
    }

    /// The speaking time of `role` (everyone's when nil) over the final lines, in ms.
    func talkMs(_ role: String?) -> Int64 {
        finalLines.filter { role == nil || $0.role == role }.reduce(0) { $0 + max(0, $1.endMs - $1.startMs) }
    }

    /// The sentiment labels (uppercased) of `role`'s final lines in time order: each line's last sentiment.
    func sentimentLabels(_ role: String) -> [String] {
        finalLines.filter { $0.role == role }.compactMap { line in
            line.enrichments.last { $0.kind == "sentiment" && $0.label?.isEmpty == false }?.label?.uppercased()
        }
    }

    /// The label most of `role`'s rated lines carry; among equally frequent labels, the one rated last.
    func prevailingSentiment(_ role: String) -> String? {
        let labels = sentimentLabels(role)
        var counts: [String: Int] = [:]
        var lastIndex: [String: Int] = [:]
        for (index, label) in labels.enumerated() {
            counts[label, default: 0] += 1
            lastIndex[label] = index
        }
        return counts.keys.max { (counts[$0]!, lastIndex[$0]!) < (counts[$1]!, lastIndex[$1]!) }
    }

    /// The first entity (in seq order) of an `entities` or `pii` enrichment whose type, or PII kind, is `type`
    /// (case-insensitive).
    func entity(_ type: String) -> CRMFactValue {
        for note in notes where note.kind == "entities" || note.kind == "pii" {
            for entity in note.entities
            where entity.type.lowercased() == type || entity.text?.piiKind?.lowercased() == type {
                guard let span = entity.text else { return .unavailable(.absent) }
                if let text = span.text, Self.isRedactionPlaceholder(text) {
                    return .unavailable(.unreadable(because: "redacted"))
                }
                return Self.value(of: span)
            }
        }
        return .unavailable(.absent)
    }

    /// Whether `text` is what a source writes in place of redacted PII: an upper-case name in brackets, such as
    /// Transcribe's `[NAME]` or Contact Lens' `[PII]`.
    static func isRedactionPlaceholder(_ text: String) -> Bool {
        let inner = text.utf8.dropFirst().dropLast()
        return text.utf8.count > 2 && text.hasPrefix("[") && text.hasSuffix("]")
            && inner.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || $0 == UInt8(ascii: "_") }
    }

    /// The score of the last evaluation under `scorecard`.
    func qaScore(_ scorecard: String) -> CRMFactValue {
        guard let score = evaluations.last(where: { $0.scorecard == scorecard })?.score else {
            return .unavailable(.absent)
        }
        return .known(.double(score))
    }

    /// Whether the last evaluation under `scorecard` failed automatically.
    func qaAutomaticFail(_ scorecard: String) -> CRMFactValue {
        guard let evaluation = evaluations.last(where: { $0.scorecard == scorecard }) else {
            return .unavailable(.absent)
        }
        return .known(.bool(evaluation.automaticFail))
    }
}
