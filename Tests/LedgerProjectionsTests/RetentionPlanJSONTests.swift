// The retention plan's own JSON writer gives exactly the bytes Foundation's JSONEncoder gives for the same items,
// whatever characters the names hold and whichever optional fields are absent.
import Foundation
import LedgerProjections
import Testing

@Suite struct RetentionPlanJSONTests {
    /// Items whose strings hold quotes, backslashes, slashes, control characters and non-ASCII text, with and
    /// without the optional fields and holds.
    private static let items: [RetentionItem] = [
        RetentionItem(
            call: "call-1", tenant: "acme-bank", dataClass: "transcript", policy: "gdpr", policyVersion: "2",
            policyDigest: String(repeating: "ab", count: 32), rule: "eu-customers", retain: "P30D",
            trigger: "call.ended", triggerMicros: 1_795_687_200_000_000, dueMicros: 1_798_279_200_000_000,
            status: .due, holds: []),
        RetentionItem(
            call: "a/b \"quoted\" back\\slash", tenant: "tab\there", dataClass: "line\nbreak\r\u{0008}\u{000C}",
            policy: "ctl\u{0001}\u{001F}\u{007F}", policyVersion: "é—日本", policyDigest: "", rule: "😀 emoji",
            retain: "zero", trigger: "crm.write", triggerMicros: nil, dueMicros: nil, status: .waiting,
            holds: ["case-114", "hold/with\"quote"]),
        RetentionItem(
            call: "call-3", tenant: "t", dataClass: "audio", policy: "p", policyVersion: "1", policyDigest: "00",
            rule: "r", retain: "P7Y", trigger: "call.started", triggerMicros: 1_577_836_800_123_456, dueMicros: nil,
            status: .held, holds: ["only"]),
        RetentionItem(
            call: "call-4", tenant: "t", dataClass: "audio", policy: "p", policyVersion: "1", policyDigest: "00",
            rule: "r", retain: "P1D", trigger: "call.started", triggerMicros: -62_135_596_800_000_001, dueMicros: -5,
            status: .due, holds: []),
    ]

    private func encoderBytes(_ items: [RetentionItem]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(items))
    }

    /// The plan writer's pieces joined, as the CLI writes them out.
    private func joined(_ items: [RetentionItem], terminator: [UInt8] = [], workers: Int = 2) -> [UInt8] {
        RetentionItem.jsonArrayPieces(items, terminator: terminator, workers: workers).flatMap { $0 }
    }

    @Test func planJSONEqualsWhatJSONEncoderWrites() throws {
        #expect(
            String(decoding: joined(Self.items), as: UTF8.self)
                == String(decoding: try encoderBytes(Self.items), as: UTF8.self))
        #expect(joined([]) == (try encoderBytes([])))
        for item in Self.items { #expect(joined([item]) == (try encoderBytes([item]))) }
    }

    @Test func planJSONEncodedInSlicesOnSeveralWorkersEqualsWhatJSONEncoderWrites() throws {
        // Enough items that the slices run on worker threads (a slice holds at least 256 items).
        let many = (0..<2_000).map { Self.items[$0 % Self.items.count] }
        let expected = try encoderBytes(many)
        for workers in [1, 2, 3, 8] {
            #expect(joined(many, workers: workers) == expected, "\(workers) workers")
        }
        #expect(joined(many, terminator: [0x0A], workers: 3) == expected + [0x0A])
    }
}
