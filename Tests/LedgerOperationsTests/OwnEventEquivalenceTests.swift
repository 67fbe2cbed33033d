// The typed own events against the `[String: Any]` + `JSONSerialization` path the CLI used before them: for the same
// inputs, the same interchange line, byte for byte, and so the same decoded event (body bytes, sealed parts and
// input byte count), which is what the appended record and its frame are made of.
import Foundation
import LedgerConnectors
import LedgerCore
import LedgerOperations
import LedgerProjections
import Testing

/// The old path: an event dictionary rendered as the CLI rendered it.
private func legacyLine(_ event: [String: Any]) throws -> [UInt8] {
    Array(try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]))
}

private func decode(_ line: [UInt8]) throws -> DecodedEvent {
    var decoder = EventDecoder()
    var bytes = line
    return try bytes.withUnsafeMutableBytes { try decoder.decode(UnsafeRawBufferPointer($0), lineNumber: 1) }
}

/// Expects `typed` to render exactly as `legacy` did and to decode to the same event.
private func expectSame(_ typed: any OwnEventConvertible, _ legacy: [String: Any]) throws {
    let old = try legacyLine(legacy)
    let new = typed.ownEvent.jsonLine
    #expect(String(decoding: new, as: UTF8.self) == String(decoding: old, as: UTF8.self))
    #expect(new == old)
    var decoder = EventDecoder()
    #expect(try typed.ownEvent.decoded(with: &decoder, lineNumber: 1) == decode(old))
}

// MARK: - The old builders, as the CLI had them

private let source = "call-ledger/0.1"

private func legacyDefinitionChanged(
    projection: String, name: String, version: String, digest: String, path: String?, tenant: String, logSize: UInt64
) -> [String: Any] {
    var body: [String: Any] = [
        "projection": projection, "definition": ["name": name, "version": version, "digest": digest],
    ]
    if let path { body["path"] = path }
    return [
        "type": EventType.projectionDefinitionChanged.rawValue, "tenant": tenant, "source": source,
        "idempotency": "definition:\(projection):\(name):\(digest):\(logSize)", "body": body,
    ]
}

private func legacyHold(
    _ type: EventType, suffix: String, call: String, tenant: String, hold: String, reason: String, by: String?
) -> [String: Any] {
    var body: [String: Any] = ["hold": hold, "reason": reason]
    if let by { body["by"] = by }
    return [
        "type": type.rawValue, "call": call, "tenant": tenant, "source": source,
        "idempotency": "hold:\(hold):\(call):\(suffix)", "body": body,
    ]
}

private func legacyAssigned(
    call: String?, tenant: String, name: String, version: String, digest: String
)
    -> [String: Any]
{
    let reference: [String: Any] = ["name": name, "version": version, "digest": digest]
    var event: [String: Any] = [
        "type": EventType.retentionPolicyAssigned.rawValue, "tenant": tenant, "source": source,
        "idempotency": "retention:\(call ?? "tenant:" + tenant):\(name):\(digest)", "body": ["policy": reference],
    ]
    if let call { event["call"] = call }
    return event
}

private func legacyPurged(
    call: String, tenant: String, classes: [String], policy: String, version: String, digest: String,
    method: String, treeSize: UInt64, root: String
) -> [String: Any] {
    [
        "type": EventType.retentionPurged.rawValue, "call": call, "tenant": tenant, "source": source,
        "idempotency": "purge:\(call):\(policy):\(treeSize)",
        "body": [
            "classes": classes, "policy": ["name": policy, "version": version, "digest": digest],
            "method": method, "checkpoint": ["tree_size": treeSize, "root": root],
        ],
    ]
}

private func legacyCompacted(
    call: String, tenant: String, seq: UInt64, classes: [String], parts: Int, segments: Int
)
    -> [String: Any]
{
    [
        "type": EventType.retentionCompacted.rawValue, "call": call, "tenant": tenant, "source": source,
        "idempotency": "compacted:\(call):\(seq)",
        "body": ["classes": classes, "parts": parts, "segments": segments],
    ]
}

private func jsonObject(_ value: CRMValue) -> Any {
    switch value {
    case .string(let text): text
    case .integer(let number): number
    case .double(let number): number
    case .bool(let flag): flag
    case .null: NSNull()
    }
}

private struct CRMCase {
    var system = "salesforce"
    var call = "c-1"
    var tenant = "acme"
    var object = "VoiceCall"
    var externalIdField = "Call_Id__c"
    var externalId = "c-1/ext"
    var mapping = DefinitionReference(name: "voicecall", version: "2", digest: String(repeating: "ab", count: 32))
    var requestKey = "0123456789abcdef:42"
    var changes: [(field: String, value: CRMValue)] = []

    var target: CRMWriteTarget {
        CRMWriteTarget(
            system: system, call: call, tenant: tenant, object: object, externalIdField: externalIdField,
            externalId: externalId, mapping: mapping, requestKey: requestKey)
    }

    var legacyStarted: [String: Any] {
        [
            "type": EventType.crmWriteStarted.rawValue, "call": call, "tenant": tenant, "source": "crm/\(system)",
            "idempotency": "crm-started:\(object):\(externalId):\(requestKey)",
            "body": [
                "system": system, "object": object, "external_id_field": externalIdField, "external_id": externalId,
                "field_names": changes.map(\.field),
                "mapping": ["name": mapping.name, "version": mapping.version, "digest": mapping.digest],
                "request_key": requestKey,
            ] as [String: Any],
        ]
    }

    func legacyOutcome(_ outcome: UpsertOutcome, readBack: Bool) -> [String: Any] {
        var fields: [String: Any] = [:]
        for change in changes { fields[change.field] = jsonObject(change.value) }
        var body: [String: Any] = [
            "system": system, "object": object, "external_id_field": externalIdField, "external_id": externalId,
            "fields": fields, "mapping": ["name": mapping.name, "version": mapping.version, "digest": mapping.digest],
            "request_key": requestKey, "status": outcome.status, "attempts": outcome.attempts,
        ]
        if let id = outcome.id { body["record_id"] = id }
        if let error = outcome.errorText { body["error"] = error }
        if readBack { body["read_back"] = true }
        return [
            "type": outcome.succeeded ? EventType.crmWrite.rawValue : EventType.crmWriteFailed.rawValue,
            "call": call, "tenant": tenant, "source": "crm/\(system)",
            "idempotency": "crm:\(object):\(externalId):\(requestKey)", "body": body,
        ]
    }

    func typedOutcome(_ outcome: UpsertOutcome, readBack: Bool) -> CRMWriteOutcomeEvent {
        CRMWriteOutcomeEvent(
            target: target, succeeded: outcome.succeeded, fields: CRMWriteEvents.fields(changes),
            status: outcome.status, attempts: outcome.attempts, recordId: outcome.id, error: outcome.errorText,
            readBack: readBack)
    }
}

// MARK: - Tests

@Suite("Typed own events render byte-identically to the JSONSerialization path")
struct OwnEventEquivalenceTests {
    private static let digest = String(repeating: "0f", count: 32)
    private static let awkward = [
        "plain", "a/b/c.yaml", "quote \" and \\ backslash", "tab\tnew\nline\r", "\u{1}\u{8}\u{c}\u{1f}\u{7f}",
        "é 😀 \u{2028}", "",
    ]

    @Test func definitionChangedMatches() throws {
        for path in [nil, "Projections/retention/calls-7y.yaml", "dir with spaces/ü.yaml"] {
            for (projection, tenant) in [("retention", "acme"), ("crm", "*"), ("qa", "*")] {
                let typed = DefinitionChangedEvent(
                    projection: projection,
                    definition: DefinitionReference(name: "calls/7y", version: "1.2", digest: Self.digest),
                    path: path, tenant: tenant, logSize: UInt64.max)
                try expectSame(
                    typed,
                    legacyDefinitionChanged(
                        projection: projection, name: "calls/7y", version: "1.2", digest: Self.digest, path: path,
                        tenant: tenant, logSize: UInt64.max))
            }
        }
    }

    @Test func legalHoldsMatch() throws {
        for text in Self.awkward where !text.isEmpty {
            for by in [nil, text] {
                for action in [LegalHoldEvent.Action.placed, .released] {
                    let typed = LegalHoldEvent(
                        action: action, call: "call/1", tenant: "acme", hold: "case-\(text.count)", reason: text, by: by
                    )
                    try expectSame(
                        typed,
                        legacyHold(
                            action.eventType, suffix: action.rawValue, call: "call/1", tenant: "acme",
                            hold: "case-\(text.count)", reason: text, by: by))
                }
            }
        }
    }

    @Test func retentionAssignmentsMatch() throws {
        for call in [nil, "c-9", "call/with/slashes"] {
            let typed = RetentionAssignedEvent(
                call: call, tenant: "acme", policy: DefinitionReference(name: "pci", version: "3", digest: Self.digest))
            try expectSame(
                typed, legacyAssigned(call: call, tenant: "acme", name: "pci", version: "3", digest: Self.digest))
        }
    }

    @Test func purgesAndCompactionsMatch() throws {
        for (classes, method, size) in [
            (["pii.credit_card_number"], "crypto-shred", UInt64(7)),
            (["content", "pii.name", "crm.values", "audio"], "zero-retention", UInt64(1) << 40),
        ] {
            let typed = RetentionPurgedEvent(
                call: "c-1", tenant: "acme", classes: classes,
                policy: DefinitionReference(name: "pci", version: "3", digest: Self.digest), method: method,
                treeSize: size, root: Self.digest)
            try expectSame(
                typed,
                legacyPurged(
                    call: "c-1", tenant: "acme", classes: classes, policy: "pci", version: "3", digest: Self.digest,
                    method: method, treeSize: size, root: Self.digest))
            let compacted = RetentionCompactedEvent(
                call: "c-1", tenant: "acme", purgeSeq: size, classes: classes, parts: 123_456, segments: 3)
            try expectSame(
                compacted,
                legacyCompacted(call: "c-1", tenant: "acme", seq: size, classes: classes, parts: 123_456, segments: 3))
        }
    }

    @Test func crmWritesMatch() throws {
        var crm = CRMCase()
        crm.changes = [
            ("Subject", .string("Call about card / refund")), ("Sentiment__c", .string("NEGATIVE")),
            ("Sentiment_Score__c", .double(-0.25)), ("QA_Score__c", .double(3.0)), ("Duration__c", .integer(-42)),
            ("Escalated__c", .bool(true)), ("Notes__c", .null), ("a_lower", .double(0.1)), ("Big__c", .double(1e21)),
            ("Tiny__c", .double(1e-7)), ("Zero__c", .double(-0.0)), ("field10", .integer(Int64.max)),
            ("field9", .integer(Int64.min)), ("Description", .string("line\none \"quoted\" é")),
            ("Subject", .string("the later value wins")),
        ]
        try expectSame(
            CRMWriteStartedEvent(target: crm.target, fieldNames: crm.changes.map(\.field)), crm.legacyStarted)
        let outcomes = [
            UpsertOutcome(
                externalId: crm.externalId, succeeded: true, status: 201, attempts: 1, id: "0LQ5g000000XyZ",
                created: true, errors: []),
            UpsertOutcome(
                externalId: crm.externalId, succeeded: false, status: 400, attempts: 3, id: nil, created: nil,
                errors: [
                    SalesforceRecordError(code: "INVALID_FIELD", message: "No such column 'X/Y'", fields: ["X"])
                ]),
            UpsertOutcome(
                externalId: crm.externalId, succeeded: false, status: 0, attempts: 5, id: nil, created: nil,
                errors: [SalesforceRecordError(code: "REQUEST_FAILED", message: "timed out", fields: [])]),
        ]
        for outcome in outcomes {
            for readBack in [false, true] {
                try expectSame(
                    crm.typedOutcome(outcome, readBack: readBack), crm.legacyOutcome(outcome, readBack: readBack))
            }
        }
        crm.changes = []
        try expectSame(crm.typedOutcome(outcomes[1], readBack: true), crm.legacyOutcome(outcomes[1], readBack: true))
    }

    /// CRM field names are free-form: their order must be `JSONSerialization`'s (case-insensitive, numeric,
    /// locale-aware), not byte order, or the recorded body would differ.
    @Test func crmFieldOrderMatchesForRandomNames() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("aAbBzZ_09éÉ.-")
        let outcome = UpsertOutcome(
            externalId: "x", succeeded: true, status: 200, attempts: 1, id: nil, created: false, errors: [])
        for _ in 0..<200 {
            var crm = CRMCase()
            for index in 0..<Int.random(in: 1...12, using: &generator) {
                let name = String(
                    (0..<Int.random(in: 1...6, using: &generator)).map { _ in
                        alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
                    })
                crm.changes.append((name, .integer(Int64(index))))
            }
            try expectSame(crm.typedOutcome(outcome, readBack: false), crm.legacyOutcome(outcome, readBack: false))
        }
    }

    @Test func nonFiniteNumbersAreRefusedNamingTheField() throws {
        var crm = CRMCase()
        crm.changes = [("Score__c", .double(.nan))]
        var decoder = EventDecoder()
        #expect(throws: EventDecodingError.self) {
            try crm.typedOutcome(
                UpsertOutcome(
                    externalId: "x", succeeded: true, status: 200, attempts: 1, id: nil, created: nil, errors: []),
                readBack: false
            ).ownEvent.decoded(with: &decoder, lineNumber: 3)
        }
    }
}
