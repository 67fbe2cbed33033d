// TranscriptJSON writes exactly the bytes Foundation's JSONEncoder writes for the same transcripts, lines and
// summaries (sorted snake_case keys, unescaped slashes, redacted or not): on simulated calls, with and without the
// key file, and on generated calls whose strings, metric names and numbers are chosen to find differences.
import Foundation
import LedgerCore
import LedgerProjections
import LedgerSimulator
import LedgerStore
import LedgerTestSupport
import Testing

@Suite struct TranscriptJSONTests {
    /// Pieces of text that escaping, sorting and normalisation treat differently.
    private static let pieces = [
        "a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\r", "\u{8}", "\u{C}", "\u{1}", "\u{1F}", "\u{7F}", "é",
        "e\u{301}", "日本", "😀", "\u{2028}", "<&>", "'", "0", "_",
    ]
    /// Numbers whose shortest form is plain, exponent, negative zero or integral.
    private static let numbers: [Double] = [
        0, -0.0, 1, 0.5, 1e-7, 1e15, -1e15, 1e14, 999_999_999_999_999.9, 123_456_789.123, 0.1, -3.75,
        .leastNonzeroMagnitude, 42,
    ]
    /// Metric names differing in case, digits, underscores and normalisation.
    private static let metricNames = ["talkTime", "B", "_x", "a10", "a9", "a", "é", "e\u{301}", "Z", "z/y", "q\"q"]

    /// Whether `piece` holds no control character (call ids and tenants may not).
    private static func isPrintable(_ piece: String) -> Bool {
        piece.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    }

    /// Where `written` and `encoded` first differ, with some bytes of each from there.
    private static func firstDifference(_ written: [UInt8], _ encoded: [UInt8]) -> String {
        let at = zip(written, encoded).prefix { $0 == $1 }.count
        let context = max(0, at - 40)
        return
            "at byte \(at): written …\(String(decoding: written[context..<min(written.count, at + 40)], as: UTF8.self)) "
            + "encoded …\(String(decoding: encoded[context..<min(encoded.count, at + 40)], as: UTF8.self))"
    }

    private func encoder(redacted: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.userInfo = [.redactsPII: redacted]
        return encoder
    }

    /// Checks every transcript of `calls` in `reader`, its lines and its summary, redacted and not.
    private func expectSameBytes(_ reader: LedgerReader, calls: [String]) throws -> Int {
        let engine = ProjectionEngine(reader: reader)
        var lines = 0
        for call in calls {
            let transcript = try #require(try engine.transcript(call: call))
            for redacted in [false, true] {
                let coder = encoder(redacted: redacted)
                let written = TranscriptJSON.transcript(transcript, redacted: redacted)
                let encoded = Array(try coder.encode(transcript))
                #expect(written == encoded, "\(Self.firstDifference(written, encoded))")
                for line in transcript.lines {
                    #expect(TranscriptJSON.line(line, redacted: redacted) == Array(try coder.encode(line)))
                }
                lines += transcript.lines.count
            }
            #expect(
                TranscriptJSON.summary(transcript.summary)
                    == Array(try encoder(redacted: false).encode(transcript.summary)))
        }
        return lines
    }

    private func ledger(_ scratch: ScratchDirectory, lines: [String]) throws -> String {
        try LedgerTestSupport.ledger(in: scratch, origin: "transcript-json.test/ledger", lines: lines)
    }

    @Test func simulatedCallsEncodeAsJSONEncoderDoesWithAndWithoutTheKeyFile() throws {
        let scratch = ScratchDirectory()
        let events = simulatedLines(calls: 6, seed: 41, agents: 3)
        let directory = try ledger(scratch, lines: events)
        let calls = Array(Set(try decodeLines(events).map(\.call))).filter { !$0.isEmpty }.sorted()
        #expect(try expectSameBytes(try LedgerReader(directory: directory), calls: calls) > 500)
        let summaries = try ProjectionEngine(reader: try LedgerReader(directory: directory)).calls()
        #expect(summaries.count == calls.count)
        #expect(TranscriptJSON.summaries(summaries) == Array(try encoder(redacted: false).encode(summaries)))
        #expect(TranscriptJSON.summaries([]) == Array(try encoder(redacted: false).encode([CallSummary]())))
        let locked = try LedgerReader(directory: directory, keyFilePath: scratch.file("no-such.key"))
        #expect(try expectSameBytes(locked, calls: calls) > 500)
    }

    @Test func generatedCallsWithAwkwardTextAndNumbersEncodeAsJSONEncoderDoes() throws {
        var random = SeededGenerator(seed: 0x5EED_0001)
        func text(_ count: Int) -> String {
            (0..<count).map { _ in Self.pieces.randomElement(using: &random) ?? "" }.joined()
        }
        func name(_ count: Int) -> String {
            (0..<count).map { _ in Self.pieces.filter(Self.isPrintable).randomElement(using: &random) ?? "" }.joined()
        }
        func number(within limit: Double = 1e15) -> Double {
            Bool.random(using: &random)
                ? Self.numbers.filter { abs($0) <= limit }.randomElement(using: &random) ?? 0
                : Double.random(in: -1e6...1e6, using: &random)
        }
        func maybe(_ value: Any) -> Any? { Bool.random(using: &random) ? value : nil }
        var lines: [String] = []
        var calls: [String] = []
        for callIndex in 0..<40 {
            let call = "call-\(callIndex)-" + name(3)
            calls.append(call)
            var sequence = 0
            func event(_ type: String, _ body: [String: Any?]) throws {
                sequence += 1
                let object: [String: Any] = [
                    "type": type, "call": call, "tenant": "tenant-" + name(2), "source": "gen/1",
                    "idempotency": "gen:\(callIndex):\(sequence)",
                    "occurred": "2026-11-26T09:00:\(10 + sequence % 40).000Z",
                    "body": body.compactMapValues { $0 },
                ]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
            }
            try event(
                "call.started",
                ["channel": "VOICE", "queue": maybe(["name": text(4)]), "agent": maybe(["id": text(3)])])
            for utterance in 0..<Int.random(in: 1...6, using: &random) {
                let spans: Any =
                    Bool.random(using: &random)
                    ? text(8)
                    : (0..<3).map { _ in
                        ["text": text(4), "pii": maybe(["name", "phone_number"].randomElement(using: &random) ?? "")]
                            .compactMapValues { $0 }
                    }
                try event(
                    "transcript.segment",
                    [
                        "utterance": "utt-\(utterance)" + text(1), "final": Bool.random(using: &random),
                        "role": "agent", "track": maybe("AUDIO_TO_CUSTOMER"),
                        "channel": maybe(Int.random(in: 0...3, using: &random)),
                        "speaker": maybe(text(2)), "start_ms": utterance * 1000, "end_ms": utterance * 1000 + 900,
                        "text": spans,
                        "confidence": maybe([0, 1, 0.5, 1e-7, 0.1, 0.999].randomElement(using: &random) ?? 0),
                        "language": maybe("en-" + text(1)),
                        "provider": text(2),
                    ])
            }
            var metrics: [String: Double] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &random) {
                metrics[Self.metricNames.randomElement(using: &random) ?? "m"] = number()
            }
            let result: [String: Any?] = [
                "label": maybe(text(3)), "score": maybe(number(within: 1e6)), "names": maybe([text(2), text(2)]),
                "text": maybe(text(5)), "metrics": metrics.isEmpty ? nil : metrics,
                "values": maybe((0..<3).map { _ in number() }),
                "entities": maybe([["type": text(2), "text": text(3), "pii": "name"], ["type": text(1)]]),
            ]
            try event(
                "enrichment.result",
                [
                    "kind": ["summary", "sentiment", "entities"].randomElement(using: &random) ?? "",
                    "utterances": maybe(["utt-0"]), "provider": text(2), "result": result.compactMapValues { $0 },
                ])
        }
        let scratch = ScratchDirectory()
        let directory = try ledger(scratch, lines: lines)
        #expect(try expectSameBytes(try LedgerReader(directory: directory), calls: calls) > 100)
    }
}
