// Gladia v2 pre-recorded results (GET /v2/pre-recorded/{id}) and callback bodies → transcript segments and
// enrichment results. Named entities of personal kinds become pii.<kind> spans of the segments they fall in.
public import Foundation

/// Reads a Gladia v2 pre-recorded result, or a callback body that carries one.
public enum GladiaAdapter: InputAdapter {
    /// `gladia`.
    public static let kind = "gladia"
    /// What it reads.
    public static let summary = "Gladia v2 pre-recorded result (GET /v2/pre-recorded/{id}) or callback body"

    /// Gladia entity types that name personal data, and the PII kind each becomes.
    static let personalEntityKinds: Set<String> = [
        "PERSON", "NAME", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "CREDIT_CARD_NUMBER", "IBAN_CODE", "IBAN",
        "BANK_ACCOUNT", "US_SSN", "SSN", "ADDRESS", "STREET_ADDRESS", "DATE_OF_BIRTH", "AGE", "PASSPORT",
        "US_PASSPORT", "DRIVER_LICENSE", "US_DRIVER_LICENSE", "IP_ADDRESS", "PIN", "CVV",
    ]

    /// An entity found by named-entity recognition, in seconds.
    struct Entity {
        var type: String
        var text: String
        var start: Int64?
        var end: Int64?
        var personal: Bool { GladiaAdapter.personalEntityKinds.contains(type.uppercased()) }
        var kind: String { type.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined() }
    }

    /// The events of a Gladia result or callback.
    public static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        try collected(data, options: options)
    }

    /// The events of a Gladia result or callback, one at a time: the segments as their utterances are read, then
    /// the enrichments.
    public static func stream(
        _ data: Data, options: IngestOptions, emit: (_ event: [UInt8]) throws(AdapterError) -> Void
    ) throws(AdapterError) -> AdapterReport {
        // The utterances (nearly all of a large result) are parsed one at a time.
        let (document, deferred) = try JSONCursor.parse(
            data, file: options.file,
            deferringArraysAt: [
                ["result", "transcription", "utterances"], ["payload", "result", "transcription", "utterances"],
                ["payload", "transcription", "utterances"],
            ])
        var jobID = try document["id"]?.string()
        let result: JSONCursor
        if let event = document["event"] {
            let name = try event.string()
            guard name == "transcription.success" else {
                let detail = (try? document["payload"]?["error"]?.string()) ?? nil
                throw event.fail("the callback reports \(name)\(detail.map { ": \($0)" } ?? ""); nothing to ingest")
            }
            let payload = try document.required("payload")
            jobID = try payload["id"]?.string() ?? jobID
            guard let body = payload["result"] ?? (payload["transcription"] != nil ? payload : nil) else {
                throw payload.fail(
                    "the callback carries only the job id; fetch GET /v2/pre-recorded/\(jobID ?? "{id}") and ingest that result"
                )
            }
            result = body
        } else {
            if let status = document["status"], try status.string() != "done" {
                throw status.fail("the job is \(try status.string()), not done: there is no result yet")
            }
            result = try document.required("result")
        }
        guard let call = options.call ?? jobID else {
            throw document.fail("the result has no id: pass --call ID")
        }
        let scope = InterchangeEvent.scope(jobID ?? call, call: call)
        let model = try document["request_params"]?["model"]?.string()
        let source = "gladia/v2"
        let transcription = try result.required("transcription")
        let listed = try transcription.required("utterances")
        let utterances = try LazyElements.deferred(deferred, or: listed)
        var warnings = Warnings()
        // Entities also mark personal data in the segments: unlike the other add-ons, they must be readable.
        let entities = try addOnResults(result["named_entity_recognition"]).map { cursor throws(AdapterError) in
            Entity(
                type: try cursor.required("entity_type").string(), text: try cursor.required("text").string(),
                start: try cursor["start"]?.milliseconds(), end: try cursor["end"]?.milliseconds())
        }
        // The times of each utterance, by index (its id is `utterance-INDEX`), for the enrichments' overlaps.
        var spans: [(start: Int64, end: Int64)] = []
        try utterances.forEach { index, utterance throws(AdapterError) in
            let id = "utterance-\(index)"
            let start = try utterance.required("start").milliseconds()
            let end = try utterance.required("end").milliseconds()
            spans.append((start, end))
            let personal = entities.filter { entity in
                guard entity.personal, let entityStart = entity.start, let entityEnd = entity.end else { return false }
                return entityStart < end && entityEnd > start
            }
            let body = try segmentBody(utterance, id: id, final: true, personal: personal, model: model, options)
            try emit(
                try InterchangeEvent.make(
                    type: "transcript.segment", call: call, tenant: options.tenant, source: source,
                    idempotency: "gladia:\(scope):\(id)", body: body, file: options.file))
        }
        func utterancesOverlapping(_ start: Int64?, _ end: Int64?) -> [String] {
            guard let start, let end else { return [] }
            return spans.indices.filter { spans[$0].start < end && spans[$0].end > start }.map { "utterance-\($0)" }
        }
        let sentiments =
            warnings.optional { () throws(AdapterError) in
                try addOnResults(result["sentiment_analysis"]).map { sentiment throws(AdapterError) in
                    try sentimentBody(sentiment, utterancesOverlapping)
                }
            } ?? []
        for (index, body) in sentiments.enumerated() {
            try emit(
                try InterchangeEvent.make(
                    type: "enrichment.result", call: call, tenant: options.tenant, source: source,
                    idempotency: "gladia:\(scope):sentiment-\(index)", body: body, file: options.file))
        }
        if !entities.isEmpty {
            let list = entities.map { entity -> [String: Any] in
                var item: [String: Any] = ["type": entity.type, "text": entity.text]
                if entity.personal { item["pii"] = entity.kind }
                if let start = entity.start { item["start_ms"] = start }
                if let end = entity.end { item["end_ms"] = end }
                if let utterance = utterancesOverlapping(entity.start, entity.end).first {
                    item["utterance"] = utterance
                }
                return item
            }
            try emit(
                try InterchangeEvent.make(
                    type: "enrichment.result", call: call, tenant: options.tenant, source: source,
                    idempotency: "gladia:\(scope):entities",
                    body: ["kind": "entities", "provider": "gladia", "result": ["entities": list]], file: options.file))
        }
        let translations =
            warnings.optional { () throws(AdapterError) in
                try translationBodies(result["translation"], utterancesOverlapping)
            } ?? []
        for (key, body) in translations {
            try emit(
                try InterchangeEvent.make(
                    type: "enrichment.result", call: call, tenant: options.tenant, source: source,
                    idempotency: "gladia:\(scope):\(key)", body: body, file: options.file))
        }
        if let summary = warnings.optional({ () throws(AdapterError) in try summaryText(result["summarization"]) }),
            let summary
        {
            try emit(
                try InterchangeEvent.make(
                    type: "enrichment.result", call: call, tenant: options.tenant, source: source,
                    idempotency: "gladia:\(scope):summary",
                    body: ["kind": "summary", "provider": "gladia", "result": ["text": summary]], file: options.file))
        }
        return AdapterReport(warnings: warnings.errors)
    }

    /// The enrichment body of one sentiment result, on the utterances its times overlap.
    static func sentimentBody(
        _ sentiment: JSONCursor, _ utterancesOverlapping: (Int64?, Int64?) -> [String]
    ) throws(AdapterError) -> [String: Any] {
        let start = try sentiment["start"]?.milliseconds()
        let end = try sentiment["end"]?.milliseconds()
        let label = try sentiment.required("sentiment").string().uppercased()
        var result: [String: Any] = ["label": label]
        if let emotion = try sentiment["emotion"]?.string() { result["names"] = [emotion] }
        var body: [String: Any] = [
            "kind": "sentiment", "provider": "gladia", "utterances": utterancesOverlapping(start, end),
            "result": result,
        ]
        if let start, let end {
            body["start_ms"] = start
            body["end_ms"] = end
        }
        return body
    }

    /// The `translation` enrichments of the translation add-on (one result per target language): one per
    /// translated utterance, on the utterances of the transcript its times overlap, with the language as its
    /// label; or, for a result without utterances, one of its full transcript. Keyed by idempotency suffix.
    static func translationBodies(
        _ addOn: JSONCursor?, _ utterancesOverlapping: (Int64?, Int64?) -> [String]
    ) throws(AdapterError) -> [(String, [String: Any])] {
        var bodies: [(String, [String: Any])] = []
        for translation in try addOnResults(addOn) where translation["error"] == nil {
            let languages = try translation["languages"]?.elements().map { code throws(AdapterError) in
                try code.string()
            }
            guard let language = languages?.first else { throw try translation.required("languages").fail("is empty") }
            let utterances = try translation["utterances"]?.elements() ?? []
            for (index, utterance) in utterances.enumerated() {
                let start = try utterance.required("start").milliseconds()
                let end = try utterance.required("end").milliseconds()
                bodies.append(
                    (
                        "translation-\(language)-\(index)",
                        [
                            "kind": "translation", "provider": "gladia",
                            "utterances": utterancesOverlapping(start, end),
                            "start_ms": start, "end_ms": end,
                            "result": ["label": language, "text": try utterance.required("text").string()],
                        ]
                    ))
            }
            if utterances.isEmpty, let text = try translation["full_transcript"]?.string(), !text.isEmpty {
                bodies.append(
                    (
                        "translation-\(language)",
                        ["kind": "translation", "provider": "gladia", "result": ["label": language, "text": text]]
                    ))
            }
        }
        return bodies
    }

    /// A `transcript.segment` body for a Gladia utterance (`{start, end, text, channel, speaker, confidence,
    /// language, words}`, times in seconds), with the text of `personal` entities as pii spans and the words
    /// they cover marked.
    static func segmentBody(
        _ utterance: JSONCursor, id: String, final: Bool, personal: [Entity], model: String?, _ options: IngestOptions
    ) throws(AdapterError) -> [String: Any] {
        let start = try utterance.required("start").milliseconds()
        let end = try utterance.required("end").milliseconds()
        let text = try utterance.required("text").string()
        var body: [String: Any] = [
            "utterance": id, "final": final, "start_ms": start, "end_ms": end, "provider": "gladia",
            "text": textSpans(text, personal),
        ]
        let channel = try utterance["channel"].map { cursor throws(AdapterError) in try cursor.int(in: 0...1_000_000) }
        let speaker = try utterance["speaker"].map { cursor throws(AdapterError) in try cursor.int(in: 0...1_000_000) }
        if let channel { body["channel"] = channel }
        if let speaker { body["speaker"] = String(speaker) }
        body["role"] = (speaker ?? channel).flatMap { options.roles[$0] } ?? "unknown"
        if let confidence = try utterance["confidence"]?.number(in: 0...1) { body["confidence"] = confidence }
        if let language = try utterance["language"]?.string() { body["language"] = language }
        if let model { body["model"] = model }
        if let words = utterance["words"] {
            body["words"] = try words.elements().map { word throws(AdapterError) -> [String: Any] in
                let wordStart = try word.required("start").milliseconds()
                let wordEnd = try word.required("end").milliseconds()
                var item: [String: Any] = [
                    "word": try word.required("word").string(), "start_ms": wordStart, "end_ms": wordEnd,
                ]
                if let confidence = try word["confidence"]?.number(in: 0...1) { item["confidence"] = confidence }
                if let entity = personal.first(where: { entity in
                    guard let entityStart = entity.start, let entityEnd = entity.end else { return false }
                    return entityStart < wordEnd && entityEnd > wordStart
                }) {
                    item["pii"] = entity.kind
                }
                return item
            }
        }
        return body
    }

    /// The `results` of an add-on wrapper (`{success, is_empty, exec_time, error, results}`): an array as
    /// documented, or the same array serialized as a string as some SDKs declare it. Failed or empty add-ons
    /// give nothing.
    static func addOnResults(_ addOn: JSONCursor?) throws(AdapterError) -> [JSONCursor] {
        guard let addOn else { return [] }
        if let success = addOn["success"], try !success.bool() { return [] }
        guard let results = addOn["results"] else { return [] }
        if let text = results.value as? String {
            guard let data = text.data(using: .utf8), !text.isEmpty else { return [] }
            let parsed = try JSONCursor.parse(data, file: results.file)
            return try JSONCursor(value: parsed.value, path: results.path, file: results.file).elements()
        }
        return try results.elements()
    }

    /// The summarization add-on's text: a string, or an array of strings joined by newlines.
    static func summaryText(_ addOn: JSONCursor?) throws(AdapterError) -> String? {
        guard let addOn else { return nil }
        if let success = addOn["success"], try !success.bool() { return nil }
        guard let results = addOn["results"] else { return nil }
        if let text = results.value as? String { return text.isEmpty ? nil : text }
        let parts = try results.elements().map { part throws(AdapterError) in try part.string() }
        return parts.isEmpty ? nil : parts.joined(separator: "\n")
    }

    /// The text as one string, or as spans where personal entities were found in it.
    static func textSpans(_ text: String, _ entities: [Entity]) -> Any {
        var spans: [[String: Any]] = []
        var rest = Substring(text)
        for entity in entities {
            guard !entity.text.isEmpty,
                let range = rest.range(of: entity.text) ?? rest.range(of: entity.text, options: .caseInsensitive)
            else { continue }
            if range.lowerBound > rest.startIndex { spans.append(["text": String(rest[..<range.lowerBound])]) }
            spans.append(["text": String(rest[range]), "pii": entity.kind])
            rest = rest[range.upperBound...]
        }
        guard !spans.isEmpty else { return text }
        if !rest.isEmpty { spans.append(["text": String(rest)]) }
        return spans
    }
}
