// A call's stored attributes (a JSON object of strings, written by JSONSerialization) are read back by the ledger's
// own JSON tape: the same dictionary JSONSerialization reads, for random attributes whose names and values hold
// quotes, backslashes, slashes (which JSONSerialization escapes), control characters and non-ASCII text, and
// nothing for what is not an object of strings.
import Foundation
import LedgerProjections
import LedgerSimulator
import Testing

@Suite struct RetentionAttributesTests {
    private static let pieces = [
        "a", "queue", "INBOUND", "\"", "\\", "/", "arn:aws:connect:us-east-1/queue/x", "\n", "\t", "\u{1}", "é",
        "代理", "😀", " ", "",
    ]

    /// JSONSerialization's reading of `json` as an object of strings, or none, as the projection read it before.
    private static func reference(_ json: String) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: String] ?? [:]
    }

    @Test func storedAttributesReadAsJSONSerializationReadsThem() throws {
        var random = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 1...UInt64.max, using: &random)
        var generator = SeededGenerator(seed: seed)
        func text() -> String {
            (0..<Int(generator.next() % 4)).map { _ in Self.pieces[Int(generator.next() % UInt64(Self.pieces.count))] }
                .joined()
        }
        for _ in 0..<300 {
            var attributes: [String: String] = [:]
            for _ in 0..<Int(generator.next() % 6) { attributes[text()] = text() }
            let stored = String(
                decoding: try JSONSerialization.data(withJSONObject: attributes, options: [.sortedKeys]), as: UTF8.self)
            #expect(RetentionAttributes.parse(stored) == attributes, "seed \(seed): \(stored)")
            #expect(RetentionAttributes.parse(stored) == Self.reference(stored), "seed \(seed): \(stored)")
        }
    }

    @Test func whatIsNotAnObjectOfStringsReadsAsNoAttributes() {
        for json in [
            "", "[]", "\"a\"", "{\"a\":1}", "{\"a\":\"b\",\"c\":null}", "{\"a\":{\"b\":\"c\"}}", "{\"a\":", "{}",
        ] {
            #expect(RetentionAttributes.parse(json) == [:], "\(json)")
            #expect(Self.reference(json) == [:], "\(json)")
        }
        #expect(RetentionAttributes.parse(#"{"a\/b":"c\u00e9\n"}"#) == ["a/b": "cé\n"])
    }
}
