// Plain Amazon Transcribe batch output → transcript segments. The output has no utterances, so a turn is a
// run of items with the same speaker (speaker_labels) or channel (channel identification); punctuation
// joins the word before it; items without a label of their own (older outputs) take the speaker of the
// `speaker_labels.segments` item with the same start time. `[PII]` placeholders of redacted output become pii spans.
public import Foundation

/// Reads Amazon Transcribe batch output (`results.transcripts`, `results.items`).
public enum TranscribeAdapter: InputAdapter {
    /// `transcribe`.
    public static let kind = "transcribe"
    /// What it reads.
    public static let summary = "Amazon Transcribe batch output (results.items with speaker or channel labels)"

    /// One word or punctuation mark of the output.
    struct Item {
        var content: String
        var punctuation: Bool
        var start: Int64?
        var end: Int64?
        var confidence: Double?
        var label: String?
    }

    /// The events of one Transcribe output file.
    public static func events(from data: Data, options: IngestOptions) throws(AdapterError) -> [[UInt8]] {
        let document = try JSONCursor.parse(data, file: options.file)
        if let status = document["status"], try status.string() != "COMPLETED" {
            throw status.fail("the job is \(try status.string()), not COMPLETED")
        }
        let jobName = try document["jobName"]?.string()
        guard let call = options.call ?? jobName else {
            throw document.fail("the output has no jobName: pass --call ID")
        }
        let job = jobName ?? call
        let results = try document.required("results")
        let segmentLabels = try labelsByStartTime(results)
        var items: [Item] = []
        for cursor in try results.required("items").elements() {
            let type = try cursor.required("type").string()
            guard type == "pronunciation" || type == "punctuation" else {
                throw try cursor.required("type").fail("must be pronunciation or punctuation")
            }
            let alternative = try cursor.required("alternatives").elements().first
            guard let alternative else { throw try cursor.required("alternatives").fail("has no alternative") }
            items.append(
                Item(
                    content: try alternative.required("content").string(), punctuation: type == "punctuation",
                    start: try seconds(cursor["start_time"]), end: try seconds(cursor["end_time"]),
                    confidence: try alternative["confidence"].map { value throws(AdapterError) in
                        try Double(value.string()).orThrow(value.fail("must be a number as a string"))
                    },
                    label: try (cursor["speaker_label"] ?? cursor["channel_label"])?.string()
                        ?? cursor["start_time"].flatMap { try? segmentLabels[$0.string()] }))
        }
        var turns: [[Item]] = []
        for item in items {
            if let last = turns.last?.last, item.punctuation || item.label == last.label {
                turns[turns.count - 1].append(item)
            } else {
                turns.append([item])
            }
        }
        return turns.enumerated().compactMap { index, turn -> [UInt8]? in
            let words = turn.filter { !$0.punctuation }
            guard let first = words.first, let last = words.last else { return nil }
            var text = ""
            for item in turn {
                if !text.isEmpty && !item.punctuation { text += " " }
                text += item.content
            }
            let number = first.label.flatMap { Int($0.drop { !$0.isNumber }) }
            var body: [String: Any] = [
                "utterance": "turn-\(index)", "final": true, "role": number.flatMap { options.roles[$0] } ?? "unknown",
                "start_ms": first.start ?? 0, "end_ms": last.end ?? first.start ?? 0, "provider": "amazon-transcribe",
                "text": TranscribeCallAnalyticsAdapter.redactedSpans(text),
                "words": turn.map { item -> [String: Any] in
                    var word: [String: Any] = [
                        "word": item.content, "type": item.punctuation ? "punctuation" : "pronunciation",
                    ]
                    if let start = item.start { word["start_ms"] = start }
                    if let end = item.end { word["end_ms"] = end }
                    if let confidence = item.confidence, !item.punctuation { word["confidence"] = confidence }
                    if item.content.contains(TranscribeCallAnalyticsAdapter.placeholder) {
                        word["pii"] = TranscribeCallAnalyticsAdapter.redactedKind
                    }
                    return word
                },
            ]
            if let label = first.label {
                if label.hasPrefix("ch_"), let number { body["channel"] = number } else { body["speaker"] = label }
            }
            return InterchangeEvent.make(
                type: "transcript.segment", call: call, tenant: options.tenant, source: "transcribe/1",
                idempotency: "transcribe:\(job):turn-\(index)", body: body)
        }
    }

    /// Older outputs label only the items inside `speaker_labels.segments`: their speaker by start time.
    static func labelsByStartTime(_ results: JSONCursor) throws(AdapterError) -> [String: String] {
        guard let segments = results["speaker_labels"]?["segments"] else { return [:] }
        var labels: [String: String] = [:]
        for segment in try segments.elements() {
            for item in try segment["items"]?.elements() ?? [] {
                guard let start = item["start_time"], let label = item["speaker_label"] ?? segment["speaker_label"]
                else { continue }
                labels[try start.string()] = try label.string()
            }
        }
        return labels
    }

    /// Seconds written as a decimal string (`"0.79"`), as whole milliseconds.
    static func seconds(_ cursor: JSONCursor?) throws(AdapterError) -> Int64? {
        guard let cursor else { return nil }
        guard let value = Double(try cursor.string()), value >= 0, value < 1e9 else {
            throw cursor.fail("must be a non-negative number of seconds written as a string")
        }
        return Int64((value * 1000).rounded())
    }
}

extension Optional {
    /// The wrapped value, or `error` thrown.
    func orThrow(_ error: AdapterError) throws(AdapterError) -> Wrapped {
        guard let value = self else { throw error }
        return value
    }
}
