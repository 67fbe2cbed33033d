// Interchange decoding, record sealing and rendering: round trips of every example event, and precise errors.
import Foundation
import LedgerCore
import Testing

/// Hands out one fresh key per (call, class), like the store's key store.
struct InMemoryKeys: DataKeyProvider {
    var keys: [String: SymmetricKey] = [:]

    mutating func dataKey(call: String, dataClass: DataClass) throws -> SymmetricKey {
        let name = call + "\u{0}" + dataClass.name
        if let key = keys[name] { return key }
        let key = try SymmetricKey.random()
        keys[name] = key
        return key
    }
}

private func decode(_ line: String, maximumEventBytes: Int = 1 << 20) throws(EventDecodingError) -> DecodedEvent {
    var decoder = EventDecoder(maximumEventBytes: maximumEventBytes)
    let bytes = Array(line.utf8)
    var result: Result<DecodedEvent, EventDecodingError>!
    bytes.withUnsafeBytes { raw in
        result = Result { () throws(EventDecodingError) in try decoder.decode(raw, lineNumber: 7) }
    }
    return try result.get()
}

private func jsonObject(_ bytes: [UInt8]) throws -> NSDictionary {
    try JSONSerialization.jsonObject(with: Data(bytes)) as! NSDictionary
}

/// Seals `event`, then renders it back with all parts opened (or none, when `redacted`).
private func roundTrip(_ event: DecodedEvent, keys: inout InMemoryKeys, redacted: Bool = false) throws -> [UInt8] {
    var encoder = try RecordEncoder()
    var record: [UInt8] = []
    let leaf = try encoder.encode(event, seq: 41, time: 1_764_147_600_000_000, keys: &keys, appendingTo: &record)
    let cipher = try AESGCM()
    var out: [UInt8] = []
    try record.withUnsafeBytes { raw in
        let view = try RecordView(raw)
        #expect(view.seq == 41)
        #expect(MerkleHasher.leafHash(view.entry) == leaf)
        var contents: [EventRenderer.PartContent] = []
        for part in view.parts {
            if redacted {
                contents.append(.unavailable(state: "shredded"))
                continue
            }
            let key = try keys.dataKey(call: event.call, dataClass: DataClass(name: view.string(part.classRange))!)
            let sealed = Array(UnsafeRawBufferPointer(rebasing: raw[part.payloadRange]))
            let plaintext = try cipher.open(sealed, key: key, associatedData: view.associatedData(for: part))
            contents.append(.opened(try SealedPlaintext.items(plaintext, decompressor: ZstdDecompressor())))
        }
        try EventRenderer.render(view, parts: contents, into: &out)
    }
    return out
}

@Suite struct EventCodingTests {
    static let examples: [String] = try! String(contentsOf: FixtureFiles.url("events/examples.jsonl"), encoding: .utf8)
        .split(separator: "\n").map(String.init)

    @Test func examplesCoverEveryEventType() throws {
        let types = Set(try Self.examples.map { try decode($0).type })
        #expect(types == Set(EventType.allCases))
    }

    @Test(arguments: examples)
    func sealedEventReadsBackExactly(line: String) throws {
        var keys = InMemoryKeys()
        let event = try decode(line)
        let rendered = try jsonObject(try roundTrip(event, keys: &keys))
        let input = try jsonObject(Array(line.utf8))
        #expect(rendered["body"] as! NSDictionary == input["body"] as! NSDictionary)
        for field in ["type", "call", "tenant", "source", "idempotency", "occurred"] {
            #expect(rendered[field] as? String == input[field] as? String, "envelope field \(field)")
        }
        #expect(rendered["seq"] as? Int == 41)
    }

    @Test func numbersRenderExactlyAsWritten() throws {
        var keys = InMemoryKeys()
        let line =
            #"{"type":"enrichment.result","call":"c","tenant":"t","source":"s/1","idempotency":"n1","body":{"kind":"sentiment","provider":"p","result":{"label":"NEUTRAL","score":0.970,"scores":{"a":-12.50,"b":1,"c":1e-5,"d":0.0,"e":123456.000001,"f":-0.0}}}}"#
        let text = String(decoding: try roundTrip(try decode(line), keys: &keys), as: UTF8.self)
        #expect(text.contains(#""score":0.970"#))
        #expect(text.contains(#""scores":{"a":-12.50,"b":1,"c":1e-05,"d":0.0,"e":123456.000001,"f":-0.0}"#))
    }

    @Test func sensitiveFieldsGoToTheirOwnParts() throws {
        let final = Self.examples.first { $0.contains("\"final\":true") }!
        let event = try decode(final)
        #expect(event.parts.map(\.dataClass) == [.content, .pii("credit_card_number"), .pii("name")])
        let body = String(decoding: event.body, as: UTF8.self)
        #expect(!body.contains("4111") && !body.contains("Jane") && !body.contains("card number"))
        #expect(body.contains("utt-0003"))
        let plaintext = String(decoding: event.parts[1].items, as: UTF8.self)
        #expect(plaintext.contains("4111 1111 1111 1111") && !plaintext.contains("Jane"))
    }

    @Test func redactedRenderingShowsClassAndDigestOnly() throws {
        var keys = InMemoryKeys()
        let final = Self.examples.first { $0.contains("\"final\":true") }!
        let text = String(decoding: try roundTrip(try decode(final), keys: &keys, redacted: true), as: UTF8.self)
        // The sealed values themselves: "4111" alone can turn up in a digest's hex (the digests are of ciphertext).
        #expect(!text.contains("4111 1111") && !text.contains("Jane"))
        #expect(text.contains("{\"redacted\":\"pii.credit_card_number\",\"digest\":\""))
        #expect(text.contains("\"sealed\":[{\"class\":\"content\""))
    }

    @Test func partsAreBoundToTheirEnvelope() throws {
        var keys = InMemoryKeys()
        let event = try decode(Self.examples[0])
        var encoder = try RecordEncoder()
        var first: [UInt8] = []
        var second: [UInt8] = []
        _ = try encoder.encode(event, seq: 1, time: 5, keys: &keys, appendingTo: &first)
        _ = try encoder.encode(event, seq: 2, time: 5, keys: &keys, appendingTo: &second)
        let cipher = try AESGCM()
        try first.withUnsafeBytes { a in
            try second.withUnsafeBytes { b in
                let viewA = try RecordView(a)
                let viewB = try RecordView(b)
                let part = viewA.parts[0]
                let key = try keys.dataKey(call: event.call, dataClass: .pii("phone_number"))
                let sealed = Array(UnsafeRawBufferPointer(rebasing: a[part.payloadRange]))
                _ = try cipher.open(sealed, key: key, associatedData: viewA.associatedData(for: part))
                #expect(throws: CryptoError.authenticationFailed) {
                    try cipher.open(sealed, key: key, associatedData: viewB.associatedData(for: viewB.parts[0]))
                }
            }
        }
    }
}

@Suite struct EventDecodingErrorTests {
    private func expectError(_ line: String, field: String, reasonContains: String, maximumEventBytes: Int = 1 << 20) {
        do {
            _ = try decode(line, maximumEventBytes: maximumEventBytes)
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.line == 7)
            #expect(error.field == field, "\(error)")
            #expect(error.reason.contains(reasonContains), "\(error)")
        }
    }

    private let base =
        #"{"type":"call.ended","call":"c1","tenant":"t","source":"s/1","idempotency":"k1","body":{"disconnected_at":"2026-11-26T09:05:12Z"}}"#

    @Test func acceptsTheBaseEvent() throws {
        #expect(try decode(base).type == .callEnded)
    }

    @Test func malformedJSON() {
        expectError(#"{"type":"call.ended","#, field: "", reasonContains: "invalid JSON at byte")
        expectError(#"{"type": 01}"#, field: "", reasonContains: "leading zeros")
    }

    @Test func unknownType() {
        expectError(
            base.replacingOccurrences(of: "call.ended", with: "call.exploded"), field: "type",
            reasonContains: "unknown event type \"call.exploded\"")
    }

    @Test func missingCallId() {
        expectError(
            base.replacingOccurrences(of: #""call":"c1","#, with: ""), field: "call",
            reasonContains: "required field is missing")
    }

    @Test func wrongFieldType() {
        let line = base.replacingOccurrences(
            of: #""disconnected_at":"2026-11-26T09:05:12Z""#,
            with: #""disconnected_at":"2026-11-26T09:05:12Z","duration_ms":"long""#)
        expectError(line, field: "body.duration_ms", reasonContains: "must be an integer")
    }

    @Test func nestedFieldPathIsNamed() {
        let final = EventCodingTests.examples.first { $0.contains("\"final\":true") }!
        let line = final.replacingOccurrences(of: #""start_ms":8450"#, with: #""start_ms":-5"#)
        expectError(line, field: "body.words[4].start_ms", reasonContains: "outside")
    }

    @Test func unknownEnumValueAndUnknownField() {
        let segment = EventCodingTests.examples.first { $0.contains("\"final\":false") }!
        expectError(
            segment.replacingOccurrences(of: #""role":"customer""#, with: #""role":"supervisor""#),
            field: "body.role", reasonContains: "\"supervisor\" is not one of agent, customer, unknown")
        expectError(
            segment.replacingOccurrences(of: #""final":false"#, with: #""final":false,"finale":1"#),
            field: "body.finale", reasonContains: "unknown field")
    }

    @Test func oversizedEvent() {
        expectError(base, field: "", reasonContains: "over the 64-byte maximum event size", maximumEventBytes: 64)
    }

    @Test func invalidUTF8() {
        var bytes = Array(base.utf8)
        let index = bytes.firstIndex(of: UInt8(ascii: "c"))! + 7
        bytes[index] = 0xC3
        bytes[index + 1] = 0x28
        var decoder = EventDecoder()
        #expect(throws: EventDecodingError.self) {
            try bytes.withUnsafeBytes { try decoder.decode($0, lineNumber: 1) }
        }
        do {
            try bytes.withUnsafeBytes { _ = try decoder.decode($0, lineNumber: 1) }
        } catch {
            #expect("\(error)".contains("UTF-8"))
        }
    }

    @Test func ledgerAssignedFieldsAreRejected() {
        expectError(
            base.replacingOccurrences(of: #"{"type""#, with: #"{"seq":3,"type""#), field: "seq",
            reasonContains: "assigned by the ledger")
    }

    @Test func badTimestampAndDigest() {
        expectError(
            base.replacingOccurrences(of: "2026-11-26T09:05:12Z", with: "2026-13-26T09:05:12Z"),
            field: "body.disconnected_at", reasonContains: "out of range")
        let fragment = EventCodingTests.examples[1].replacingOccurrences(of: "9f86d081", with: "9F86D081")
        expectError(fragment, field: "body.sha256", reasonContains: "lowercase hex")
    }

    @Test func duplicateMembersAreRejected() {
        expectError(
            base.replacingOccurrences(of: #""tenant":"t","#, with: #""tenant":"t","tenant":"u","#),
            field: "tenant", reasonContains: "duplicate")
    }
}

@Suite struct TimestampTests {
    @Test func parsesAndFormatsRFC3339() {
        #expect(Timestamp.parse("1970-01-01T00:00:00Z")?.micros == 0)
        #expect(
            Timestamp.parse("2026-11-26T09:30:00.25+01:00")?.micros
                == Timestamp.parse("2026-11-26T08:30:00.250Z")?.micros)
        for text in [
            "2026-11-26T09:30:00.250Z", "2024-02-29T23:59:59.000001Z", "2026-11-26T09:30:00.25+01:00",
            "2026-11-26T09:30:00-00:00", "1999-12-31T23:00:00.5-05:30",
        ] {
            #expect(Timestamp.parse(text)?.formatted == text)
        }
        #expect(Timestamp.parse("2023-02-29T00:00:00Z") == nil)
        #expect(Timestamp.parse("2023-02-28t00:00:00z") == nil)
        #expect(Timestamp.format(micros: -1) == "1969-12-31T23:59:59.999999Z")
    }

    /// The hand-written digits match `String(format:)` for values and widths across the whole range.
    @Test func decimalDigitsMatchStringFormat() {
        var values: [Int] = [0, 1, -1, 9, 10, 99, 100, 999_999, .max, .min, .max - 1, .min + 1]
        for _ in 0..<2_000 { values.append(Int.random(in: .min ... .max) >> Int.random(in: 0..<63)) }
        for value in values {
            for width in [0, 1, 2, 3, 4, 6, 19, 20] {
                var out: [UInt8] = []
                out.appendDecimal(value, minimumDigits: width)
                let magnitude = String(value.magnitude)
                let padded = String(repeating: "0", count: max(0, width - magnitude.count)) + magnitude
                #expect(String(decoding: out, as: UTF8.self) == (value < 0 ? "-" : "") + padded, "\(value) \(width)")
            }
        }
    }

    /// Formatting agrees with Foundation's Gregorian calendar on random instants of years 1583-9999.
    @Test func formattingAgreesWithFoundationOnRandomInstants() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let range: ClosedRange<Int64> = -12_212_553_600_000_000...RecordLimits.timestampMicros.upperBound
        for _ in 0..<2_000 {
            let micros = Int64.random(in: range)
            let (seconds, fraction) = micros.quotientAndRemainder(dividingBy: 1_000_000)
            let whole = fraction < 0 ? seconds - 1 : seconds
            let parts = calendar.dateComponents(
                [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(whole)))
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, fraction < 0 ? fraction + 1_000_000 : fraction)
            #expect(Timestamp.format(micros: micros) == expected)
        }
    }

    /// Only instants whose UTC form has a year 0000-9999 are accepted, whatever the offset.
    @Test func refusesInstantsOutsideYears0000To9999InUTC() {
        #expect(Timestamp.parse(Array("0000-01-01T00:00:00+00:01".utf8)) == .failure(.instantOutOfRange))
        #expect(Timestamp.parse(Array("9999-12-31T23:59:59.999999-00:01".utf8)) == .failure(.instantOutOfRange))
        #expect(Timestamp.parse("0000-01-01T00:00:00Z")?.micros == RecordLimits.timestampMicros.lowerBound)
        #expect(Timestamp.parse("9999-12-31T23:59:59.999999Z")?.micros == RecordLimits.timestampMicros.upperBound)
        #expect(Timestamp.parse("0000-01-01T00:00:00-23:59")?.formatted == "0000-01-01T00:00:00-23:59")
    }

    /// Formatting never traps: a year outside 0000-9999 (a record stored before the writer checked the UTC
    /// instant, read back in UTC) gets a sign or a fifth digit.
    @Test func formattingIsTotal() {
        let early = RecordLimits.timestampMicros.lowerBound - 60_000_000
        #expect(Timestamp.format(micros: early) == "-0001-12-31T23:59:00.000000Z")
        #expect(
            Timestamp(micros: early, fractionDigits: 0, zone: .offset(minutes: 1)).formatted
                == "0000-01-01T00:00:00+00:01")
        #expect(Timestamp.format(micros: RecordLimits.timestampMicros.upperBound + 1) == "10000-01-01T00:00:00.000000Z")
        #expect(!Timestamp(micros: .min, zone: .offset(minutes: -1439)).formatted.isEmpty)
        #expect(!Timestamp(micros: .max, zone: .offset(minutes: 1439)).formatted.isEmpty)
    }

    /// Readers refuse a stored instant far outside the writer's range instead of trapping on it.
    @Test func decodingRefusesInstantsFarOutsideTheRange() {
        for micros in [RecordLimits.readableTimestampMicros.lowerBound - 1, Int64.max] {
            var bytes: [UInt8] = []
            Timestamp(micros: micros, zone: .offset(minutes: 60)).encode(to: &bytes)
            let result = bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                return Result { () throws(DecodingError) in try Timestamp.decode(&reader) }
            }
            #expect(throws: DecodingError.self) { try result.get() }
        }
    }
}

@Suite struct RecordLimitTests {
    private static func segment(kinds: Int) -> String {
        let spans = (0..<kinds).map { #"{"text":"s\#($0)","pii":"k\#($0)"}"# }.joined(separator: ",")
        return
            #"{"type":"transcript.segment","call":"c","tenant":"t","source":"s/1","idempotency":"i","body":{"utterance":"u","final":true,"role":"agent","start_ms":0,"end_ms":1,"text":[\#(spans)],"provider":"p"}}"#
    }

    /// 64 classes fit one record; the 65th is refused at the field that needs it.
    @Test func sealedPartsStopAt64() throws {
        #expect(try decode(Self.segment(kinds: 64)).parts.count == RecordLimits.maximumParts)
        #expect(throws: EventDecodingError.self) { try decode(Self.segment(kinds: 65)) }
        do {
            _ = try decode(Self.segment(kinds: 65))
        } catch {
            #expect(error.field == "body.text[64].text")
            #expect(error.reason.hasPrefix("pii.k64 "))
        }
    }

    /// The encoder refuses a hand-built event with too many parts before it writes anything.
    @Test func encoderRefusesMoreThan64Parts() throws {
        var event = try decode(Self.segment(kinds: 64))
        var extra = try #require(event.parts.first)
        extra.dataClass = .pii("extra")
        event.parts.append(extra)
        var encoder = try RecordEncoder()
        var keys = InMemoryKeys()
        var record: [UInt8] = []
        #expect(throws: RecordLimitError.self) {
            _ = try encoder.encode(event, seq: 0, time: 0, keys: &keys, appendingTo: &record)
        }
        #expect(record.isEmpty)
    }

    /// A record stored before the writer kept to the limits (65 sealed parts, a decimal of scale 19) still
    /// reads back: readers accept more than the writer makes.
    @Test func recordsBeyondTheWriterLimitsStoredEarlierStillRead() throws {
        var record: [UInt8] = [RecordEncoder.formatVersion]
        record.appendVarint(0)
        record.appendZigzag(0)
        record.append(0)
        for field in ["enrichment.result", "c", "t", "s/1", "i"] { record.appendString(field) }
        let body: [UInt8] = [ValueTag.decimal.rawValue, 0x0A, 19]
        record.appendVarint(UInt64(body.count))
        record.append(contentsOf: body)
        record.appendVarint(65)
        for index in 0..<65 {
            record.appendString("pii.k\(index)")
            record.append(RecordEncoder.partCompacted)
            record.append(contentsOf: repeatElement(0, count: 32))
        }
        try record.withUnsafeBytes { raw in
            let view = try RecordView(raw)
            #expect(view.partCount == 65)
            var out: [UInt8] = []
            let parts = Array(repeating: EventRenderer.PartContent.unavailable(state: "compacted"), count: 65)
            try EventRenderer.render(view, parts: parts, into: &out)
            #expect(String(decoding: out, as: UTF8.self).contains(#""body":0.0000000000000000005,"#))
            #expect(try EventValue.body(of: view, parts: parts) == .number(5e-19))
        }
    }

    /// A decimal with more fraction digits than a decimal value holds is stored as a float and reads back.
    @Test func longDecimalsAreStoredAsFloats() throws {
        let line =
            #"{"type":"enrichment.result","call":"c","tenant":"t","source":"s/1","idempotency":"i","body":{"kind":"sentiment","provider":"p","result":{"score":0.0000000000000000000,"confidence":0.000000000000000001}}}"#
        var keys = InMemoryKeys()
        let rendered = String(decoding: try roundTrip(try decode(line), keys: &keys), as: UTF8.self)
        #expect(rendered.contains(#""score":0.0,"confidence":0.000000000000000001"#), "\(rendered)")
    }
}

@Suite struct FormatDocumentationTests {
    @Test func formatDocumentListsEveryFieldNumber() throws {
        let format = try String(
            contentsOf: FixtureFiles.root.deletingLastPathComponent().appendingPathComponent("FORMAT.md"),
            encoding: .utf8)
        #expect(format.contains(EventSchemas.fieldNumberTables()), "regenerate FORMAT.md §10 field numbers")
    }
}
