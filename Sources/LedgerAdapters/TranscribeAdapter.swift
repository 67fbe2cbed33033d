// Plain Amazon Transcribe batch output → transcript segments. The output has no utterances, so a turn is a
// run of items with the same speaker (speaker_labels) or channel (channel identification); punctuation
// joins the word before it, whatever its label; items without a label of their own (older outputs) take the
// speaker of the `speaker_labels.segments` item with the same start time, else of the segment that contains
// them. `[PII]` placeholders of redacted output become pii spans.
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
    public static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        try collected(data, options: options)
    }

    /// The events of one Transcribe output file, one turn at a time as its items are read.
    public static func stream(
        _ data: Data, options: IngestOptions, emit: (_ event: [UInt8]) throws(AdapterError) -> Void
    ) throws(AdapterError) -> AdapterReport {
        // The items and the speaker segments (nearly all of a large output) are parsed one at a time.
        let (document, deferred) = try JSONCursor.parse(
            data, file: options.file,
            deferringArraysAt: [["results", "items"], ["results", "speaker_labels", "segments"]])
        if let status = document["status"], try status.string() != "COMPLETED" {
            throw status.fail("the job is \(try status.string()), not COMPLETED")
        }
        let jobName = try document["jobName"]?.string()
        guard let call = options.call ?? jobName else {
            throw document.fail("the output has no jobName: pass --call ID")
        }
        let scope = InterchangeEvent.scope(jobName ?? call, call: call)
        let results = try document.required("results")
        let listedSegments = results["speaker_labels"]?["segments"]
        let segmentElements = try listedSegments.map { cursor throws(AdapterError) in
            try LazyElements.deferred(deferred, or: cursor)
        }
        let listedItems = try results.required("items")
        let items = try LazyElements.deferred(deferred, or: listedItems)
        // Only older outputs need the speaker segments (their items carry no label): they are read when an item
        // first needs them.
        var segments: SpeakerSegments?
        // A turn is a run of words of one label; punctuation (which has no label or time in older outputs)
        // belongs to the word before it and never starts a turn. Each turn is emitted when the next one starts.
        var turn: [Item] = []
        var turnLabel: String??
        var turnIndex = -1
        try items.forEach { _, cursor throws(AdapterError) in
            let type = try cursor.required("type").string()
            guard type == "pronunciation" || type == "punctuation" else {
                throw try cursor.required("type").fail("must be pronunciation or punctuation")
            }
            let alternative = try cursor.required("alternatives").elements().first
            guard let alternative else { throw try cursor.required("alternatives").fail("has no alternative") }
            let start = try seconds(cursor["start_time"])
            var label = try (cursor["speaker_label"] ?? cursor["channel_label"])?.string()
            if label == nil, let start {
                if segments == nil { segments = try speakerSegments(segmentElements) }
                label = segments?.label(at: start)
            }
            let item = Item(
                content: try alternative.required("content").string(), punctuation: type == "punctuation",
                start: start, end: try seconds(cursor["end_time"]),
                confidence: try alternative["confidence"].map { value throws(AdapterError) in try confidence(value) },
                label: label)
            if turnIndex >= 0, item.punctuation || turnLabel == .some(item.label) {
                turn.append(item)
            } else {
                if turnIndex >= 0 {
                    try emitTurn(turn, index: turnIndex, call: call, scope: scope, options: options, emit: emit)
                }
                turn = [item]
                turnLabel = .some(item.label)
                turnIndex += 1
            }
        }
        if turnIndex >= 0 {
            try emitTurn(turn, index: turnIndex, call: call, scope: scope, options: options, emit: emit)
        }
        return AdapterReport()
    }

    /// Emits the segment of turn `index` (none for a turn of punctuation only).
    static func emitTurn(
        _ turn: [Item], index: Int, call: String, scope: String, options: IngestOptions,
        emit: (_ event: [UInt8]) throws(AdapterError) -> Void
    ) throws(AdapterError) {
        let words = turn.filter { !$0.punctuation }
        guard let first = words.first, let last = words.last else { return }
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
        try emit(
            try InterchangeEvent.make(
                type: "transcript.segment", call: call, tenant: options.tenant, source: "transcribe/1",
                idempotency: "transcribe:\(scope):turn-\(index)", body: body, file: options.file))
    }

    /// The speaker segments of `speaker_labels.segments`: older outputs label only the items listed there, not
    /// the items of `results.items`.
    struct SpeakerSegments {
        /// The label of each listed item, by its start in milliseconds.
        var byStart: [Int64: String] = [:]
        /// Each segment's span and label, in order.
        var spans: [(start: Int64, end: Int64, label: String)] = []

        /// The speaker of a word starting at `start`: the listed item's, else the segment's that contains it.
        func label(at start: Int64) -> String? {
            byStart[start] ?? spans.first { $0.start <= start && start < $0.end }?.label
        }
    }

    /// The speaker segments of `results.speaker_labels.segments`, if any.
    static func speakerSegments(_ segments: LazyElements?) throws(AdapterError) -> SpeakerSegments {
        var found = SpeakerSegments()
        guard let segments else { return found }
        try segments.forEach { _, segment throws(AdapterError) in
            let label = try segment["speaker_label"]?.string()
            if let label, let start = try seconds(segment["start_time"]), let end = try seconds(segment["end_time"]) {
                found.spans.append((start, end, label))
            }
            for item in try segment["items"]?.elements() ?? [] {
                guard let start = try seconds(item["start_time"]),
                    let itemLabel = try item["speaker_label"]?.string() ?? label
                else { continue }
                found.byStart[start] = itemLabel
            }
        }
        return found
    }

    /// A confidence written as a decimal string (`"0.987"`), from 0 to 1.
    static func confidence(_ cursor: JSONCursor) throws(AdapterError) -> Double {
        let text = try cursor.string()
        guard let value = Double(text), value.isFinite, (0...1).contains(value) else {
            throw cursor.fail("must be a confidence from 0 to 1 written as a string, got \"\(text)\"")
        }
        return value
    }

    /// Seconds written as a decimal string (`"0.79"`), as whole milliseconds.
    static func seconds(_ cursor: JSONCursor?) throws(AdapterError) -> Int64? {
        guard let cursor else { return nil }
        guard let value = Double(try cursor.string()), value.isFinite, value >= 0, value < 1e9 else {
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
