// The call table (what `call-ledger calls` prints) is written with digits and padding by hand, from the projection's
// stored rows (only the columns it needs, text bytes straight from SQLite) or from folded summaries; these tests
// compare both with a rendering built from Foundation's calendar and `String(format:)`, on generated calls whose
// start times, fractions, durations, agents and queues reach every padding width, non-ASCII text and the `-` cases.
import Foundation
import LedgerCore
import LedgerProjections
import LedgerSimulator
import LedgerStore
import LedgerTestSupport
import Testing

@Suite struct CallTableTests {
    /// The RFC 3339 UTC form with six fraction digits, through Foundation's Gregorian calendar.
    private static func reference(micros: Int64) -> String {
        let (quotient, remainder) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        let (seconds, fraction) = remainder < 0 ? (quotient - 1, remainder + 1_000_000) : (quotient, remainder)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
            parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, fraction)
    }

    /// `hh:mm:ss.mmm`, hours unbounded.
    private static func reference(durationMs: Int64) -> String {
        let value = max(0, durationMs)
        return String(
            format: "%02lld:%02lld:%02lld.%03lld", value / 3_600_000, value / 60_000 % 60, value / 1000 % 60,
            value % 1000)
    }

    /// The table as the reference renders it from the summaries' fields.
    private static func reference(_ summaries: [CallSummary]) -> String {
        var out = "CALL\tSTARTED\tDURATION\tAGENT\tQUEUE\tSEGMENTS\n"
        for summary in summaries {
            let fields = [
                summary.call, summary.startedAt.map { reference(micros: $0) } ?? "-",
                summary.shownDurationMs.map { reference(durationMs: $0) } ?? "-", summary.agent ?? "-",
                summary.queue ?? "-", String(summary.finalSegments),
            ]
            out += fields.joined(separator: "\t") + "\n"
        }
        return out
    }

    @Test func callTableMatchesAFoundationRenderingOfEverySummary() throws {
        var random = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 1...UInt64.max, using: &random)
        var generator = SeededGenerator(seed: seed)
        var lines: [String] = []
        let starts = [
            "1970-01-01T00:00:00Z", "2000-02-29T23:59:59.999999Z", "2026-11-26T09:05:07.5+01:00",
            "1999-12-31T23:00:00.000001-05:30", "9999-12-31T23:59:59.999999Z", "1600-02-29T00:00:00.1Z",
        ]
        let durations: [Int64] = [0, 1, 999, 1000, 59_999, 3_599_999, 3_600_000, 86_399_999, 360_000_000_007]
        for index in 0..<60 {
            let call = "call-\(index)"
            var sequence = 0
            func event(_ type: String, _ body: [String: Any]) throws {
                sequence += 1
                let object: [String: Any] = [
                    "type": type, "call": call, "tenant": "t", "source": "gen/1",
                    "idempotency": "table:\(index):\(sequence)", "occurred": "2026-11-26T09:00:00Z", "body": body,
                ]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
            }
            if index % 7 != 0 {
                var body: [String: Any] = [
                    "channel": "VOICE", "initiated_at": starts[Int(generator.next() % UInt64(starts.count))],
                ]
                // Agents with non-ASCII names (call 1 has one): the stored rows' text bytes are copied into the
                // table as they are.
                let agents = ["agent-\(generator.next() % 1000)", "Zoë Ångström-\(index)", "代理 \(index)"]
                if generator.next() % 3 != 0 || index == 1 { body["agent"] = ["id": agents[index % 3]] }
                if generator.next() % 3 != 0 { body["queue"] = ["name": "queue \(generator.next() % 5)"] }
                try event("call.started", body)
            }
            let utterances = index % 35 == 0 ? 1 : Int(generator.next() % 4)  // a call with neither start nor end
            for utterance in 0..<utterances {
                let end = index == 0 ? 0 : Int(generator.next() % 5_000_000)
                try event(
                    "transcript.segment",
                    [
                        "utterance": "u\(utterance)", "final": generator.next() % 4 != 0, "role": "agent",
                        "start_ms": 0, "end_ms": end, "text": "hello", "provider": "gen",
                    ])
            }
            if index % 5 != 0 {
                let duration = index == 1 ? durations[durations.count - 1] : durations[Int(generator.next() % 9)]
                try event("call.ended", ["duration_ms": duration, "disconnected_at": "2026-11-26T10:00:00Z"])
            }
        }
        let scratch = ScratchDirectory()
        let directory = try ledger(in: scratch, origin: "call-table.test/ledger", lines: lines)
        let engine = ProjectionEngine(reader: try LedgerReader(directory: directory))
        let summaries = try engine.calls()
        #expect(summaries.count == 60)
        #expect(summaries.contains { $0.startedAt == nil } && summaries.contains { $0.shownDurationMs == nil })
        #expect(summaries.contains { ($0.shownDurationMs ?? 0) >= 100 * 3_600_000 })
        #expect(summaries.contains { ($0.agent ?? "").contains("ë") })
        let expected = Self.reference(summaries)
        // Rendered from the stored rows (the whole log) and from folded summaries (an earlier bound).
        let table = String(decoding: try engine.callTable(), as: UTF8.self)
        let difference = zip(table.split(separator: "\n"), expected.split(separator: "\n")).first { $0 != $1 }
        #expect(table == expected, "seed \(seed): \(String(describing: difference))")
        let middle = UInt64(lines.count / 2)
        #expect(
            String(decoding: try engine.callTable(asOf: middle), as: UTF8.self)
                == Self.reference(try engine.calls(asOf: middle)))
        #expect(TranscriptRenderer.callTable([]) == Array("CALL\tSTARTED\tDURATION\tAGENT\tQUEUE\tSEGMENTS\n".utf8))
    }
}
