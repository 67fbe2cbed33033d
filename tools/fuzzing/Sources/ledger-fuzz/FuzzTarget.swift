// The fuzz targets: what each one feeds its input to, and which property turns into a crash. Every target
// must survive any input without trapping; the interchange and adapter targets also check that whatever the
// decoder accepts can be stored and read back (a rejected input is fine, an accepted but unreadable one is not).
import Foundation
import LedgerAdapters
import LedgerCore
import LedgerProjections

@testable import LedgerStore

/// One fuzz target: a name for the command line and the function libFuzzer calls with each input.
struct FuzzTarget: Sendable {
    /// The name `tools/fuzz` and `ledger-fuzz` take.
    let name: String
    /// What the target feeds its input to.
    let summary: String
    /// Runs one input; returns normally for any input that does not reveal a defect.
    let run: @Sendable (UnsafeRawBufferPointer) -> Void

    /// Every target, in the order `tools/fuzz` runs them.
    static let all: [FuzzTarget] =
        [
            FuzzTarget(
                name: "interchange",
                summary: "EventDecoder on one interchange line; accepted events are encoded and read back",
                run: { Workbench.shared.checkRoundTrip(line: $0) }),
            FuzzTarget(
                name: "record", summary: "RecordView, entry and leaf hash, EventRenderer, EventValue on one record",
                run: { Workbench.shared.readRecord($0) }),
            FuzzTarget(
                name: "value",
                summary: "EventRenderer and EventValue on a record with opened parts (varint-prefixed record, items)",
                run: { Workbench.shared.readRecordWithParts($0) }),
            FuzzTarget(
                name: "frame", summary: "LedgerStore's frame parser and every record in a decompressed frame",
                run: { Workbench.shared.readFrame($0) }),
            FuzzTarget(
                name: "sidecar",
                summary: "the slot walk of a side-car frame (compact or not), its erasure writes and the join",
                run: { Workbench.shared.eraseSideCarFrame($0) }),
            FuzzTarget(
                name: "retention-policy", summary: "RetentionPolicy.parse, rule selection and period ends",
                run: { Workbench.shared.parseRetentionPolicy($0) }),
            FuzzTarget(
                name: "qa-scorecard", summary: "QAScorecard.parse", run: { Workbench.shared.parseScorecard($0) }),
            FuzzTarget(
                name: "crm-mapping", summary: "CRMMapping.parse and its templates",
                run: { Workbench.shared.parseMapping($0) }),
        ]
        + InputAdapters.all.keys.sorted().map { kind in
            FuzzTarget(
                name: kind, summary: "the \(kind) adapter; its events go through the interchange round trip",
                run: { Workbench.shared.runAdapter(kind, input: $0) })
        }
}

/// A data key source that gives every (call, class) the same key: the targets check decoding, not key handling.
struct FixedKeys: DataKeyProvider {
    let key: SymmetricKey

    func dataKey(call: String, dataClass: DataClass) throws -> SymmetricKey { key }
}

/// The decoders, encoder and buffers the targets reuse from one input to the next (libFuzzer calls the target
/// on one thread, so one shared instance is enough).
final class Workbench {
    /// The instance the targets use.
    nonisolated(unsafe) static let shared = Workbench()

    private var decoder = EventDecoder()
    private var encoder: RecordEncoder
    private var keys: FixedKeys
    private var output: [UInt8] = []
    private let compressor: ZstdCompressor
    /// When the ledger "accepted" each round-tripped event: 2024-01-01T00:00:00Z.
    private let acceptedAt: Int64 = 1_704_067_200_000_000

    private init() {
        do {
            encoder = try RecordEncoder()
            compressor = try ZstdCompressor(level: 1, minimumMatch: 4)
            keys = FixedKeys(key: try SymmetricKey(bytes: Array(repeating: 0x5A, count: AESGCM.keyByteCount)))
        } catch {
            fatalError("ledger-fuzz: cannot set up the record encoder: \(error)")
        }
    }

    // MARK: - Interchange and adapters

    /// Decodes `line`; when the decoder accepts it, the event's record must encode, parse and read back.
    func checkRoundTrip(line: UnsafeRawBufferPointer) {
        let event: DecodedEvent
        do { event = try decoder.decode(line, lineNumber: 1) } catch { return }
        var record: [UInt8] = []
        do {
            _ = try encoder.encode(event, seq: 1, time: acceptedAt, keys: &keys, appendingTo: &record)
        } catch {
            fatalError("accepted event cannot be encoded: \(error)")
        }
        let opened = event.parts.map { EventRenderer.PartContent.opened($0.items) }
        let locked = Array(repeating: EventRenderer.PartContent.unavailable(state: "locked"), count: opened.count)
        record.withUnsafeBytes { raw in
            let view: RecordView
            do { view = try RecordView(raw) } catch {
                fatalError("record of an accepted event does not parse: \(error)")
            }
            read(view, parts: opened, context: "accepted event with its parts opened", mustSucceed: true)
            read(view, parts: locked, context: "accepted event with its parts locked", mustSucceed: true)
        }
    }

    /// Runs the adapter `kind` on `input`, then the round trip on every event it makes.
    func runAdapter(_ kind: String, input: UnsafeRawBufferPointer) {
        guard let adapter = InputAdapters.all[kind] else { fatalError("no adapter \(kind)") }
        let options = IngestOptions(
            call: adapter.requiredOptions.contains(.call) ? "fuzz-call" : nil, file: "fuzz-input",
            track: adapter.requiredOptions.contains(.track) ? .fromCustomer : nil,
            callStart: adapter.readsCallStart ? Timestamp(micros: acceptedAt) : nil)
        let events: [[UInt8]]
        do { events = try adapter.events(from: Data(input), options: options) } catch { return }
        for event in events {
            event.withUnsafeBytes { checkRoundTrip(line: $0) }
        }
    }

    // MARK: - Records and frames

    /// Parses `input` as one record and reads it with its parts locked and with none known.
    func readRecord(_ input: UnsafeRawBufferPointer) {
        guard let view = try? RecordView(input) else { return }
        read(view, parts: Array(repeating: .unavailable(state: "locked"), count: view.partCount), context: "record")
        read(view, parts: [], context: "record")
    }

    /// Reads a varint-prefixed record, then gives its parts the varint-prefixed item lists that follow
    /// (`opened`); parts past the last list are `shredded`.
    func readRecordWithParts(_ input: UnsafeRawBufferPointer) {
        var reader = ByteReader(input)
        guard let recordRange = try? reader.readLengthPrefixedRange(),
            let view = try? RecordView(UnsafeRawBufferPointer(rebasing: input[recordRange]))
        else { return }
        var parts: [EventRenderer.PartContent] = []
        while parts.count < view.partCount {
            if let range = try? reader.readLengthPrefixedRange() {
                parts.append(.opened(Array(UnsafeRawBufferPointer(rebasing: input[range]))))
            } else {
                parts.append(.unavailable(state: "shredded"))
            }
        }
        read(view, parts: parts, context: "record with opened parts")
    }

    /// Parses `input` as a decompressed frame and reads every record in it.
    func readFrame(_ input: UnsafeRawBufferPointer) {
        // Compact content (FORMAT.md §2.2) is expanded first, as every reader does.
        var content = Array(input)
        guard (try? CompactRecords.expand(&content)) != nil else { return }
        content.withUnsafeBytes { raw in
            guard let frame = try? FrameContent(raw) else { return }
            try? frame.forEachRecord { view in
                read(
                    view, parts: Array(repeating: .unavailable(state: "locked"), count: view.partCount),
                    context: "frame")
            }
        }
    }

    /// Takes `input` as a varint length, that many bytes of frame content as stored (`CLF2` or `CLF4`, or
    /// anything), then a side-car's bitmap and slots; compresses the content into a zstd frame followed by that
    /// side-car, as the writer stores a frame (FORMAT.md §2.1). Then lists the writes that would erase every
    /// slot, which must lie inside the stored bytes; when the content is compact and expands, the writes listed
    /// from the expanded content must be the same (compaction walks compact records without expanding them);
    /// last, joins the frame as a reader does.
    func eraseSideCarFrame(_ input: UnsafeRawBufferPointer) {
        var reader = ByteReader(input)
        guard let range = try? reader.readLengthPrefixedRange() else { return }
        let content = Array(UnsafeRawBufferPointer(rebasing: input[range]))
        var stored: [UInt8] = []
        do { try compressor.compress(content, appendingTo: &stored) } catch {
            fatalError("sidecar: content of \(content.count) bytes does not compress: \(error)")
        }
        let payload = UnsafeRawBufferPointer(rebasing: input[reader.offset...])
        withUnsafeBytes(of: SealedSideCar.magic.littleEndian) { stored.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: payload.count).littleEndian) { stored.append(contentsOf: $0) }
        stored.append(contentsOf: payload)
        func writes(_ content: [UInt8]) -> [SealedSideCar.Write]? {
            content.withUnsafeBytes { content in
                stored.withUnsafeBytes { stored in
                    try? SealedSideCar.erasure(content: content, stored: stored) { _, _ in true }.writes
                }
            }
        }
        let listed = writes(content)
        for write in listed ?? [] where write.offset < 0 || write.offset + write.bytes.count > stored.count {
            fatalError("sidecar: a write at \(write.offset) of \(write.bytes.count) bytes leaves \(stored.count) bytes")
        }
        var expanded = content
        if content.withUnsafeBytes({ CompactRecords.isCompact($0) }), (try? CompactRecords.expand(&expanded)) != nil,
            let listed, let fromExpanded = writes(expanded), listed != fromExpanded
        {
            fatalError("sidecar: the compact records list other writes than their expanded form")
        }
        var joined = content
        try? SealedSideCar.join(&joined, stored: stored)
    }

    /// Everything a reader does with one record: its entry and leaf hash, each part's digest and associated
    /// data, its JSON rendering, its body as values, and its top-level members. With `mustSucceed`, a decoding
    /// error is a defect (the record was made by the encoder from an accepted event).
    private func read(
        _ view: RecordView, parts: [EventRenderer.PartContent], context: String, mustSucceed: Bool = false
    ) {
        var scratch: [UInt8] = []
        _ = view.entry
        _ = view.leafHash(scratch: &scratch)
        for part in view.parts {
            _ = view.digest(of: part)
            _ = view.associatedData(for: part)
        }
        output.removeAll(keepingCapacity: true)
        do {
            try EventRenderer.render(view, parts: parts, into: &output)
        } catch {
            if mustSucceed { fatalError("\(context): EventRenderer.render failed: \(error)") }
        }
        do {
            _ = try EventValue.body(of: view, parts: parts)
        } catch {
            if mustSucceed { fatalError("\(context): EventValue.body failed: \(error)") }
        }
        guard let type = view.eventType else { return }
        let reader = EventValue.MemberReader(type: type, members: type.schema.fields.map(\.name))
        do {
            try reader.read(view) { _, _ in }
        } catch {
            if mustSucceed { fatalError("\(context): EventValue.MemberReader failed: \(error)") }
        }
    }

    // MARK: - Definition files

    /// Parses a retention policy, selects a rule and computes every period's end from a few starts.
    func parseRetentionPolicy(_ input: UnsafeRawBufferPointer) {
        guard let policy = try? RetentionPolicy.parse(Array(input), file: "fuzz.yaml") else { return }
        _ = policy.rule(tenant: "acme", queue: "support", channel: "voice", attributes: ["region": "eu"])
        for rule in policy.rules {
            for retention in rule.classes.values {
                _ = retention.period.description
                for start in [0, acceptedAt, 253_402_300_799_999_999] as [Int64] {
                    _ = retention.period.end(after: start)
                }
            }
        }
    }

    /// Parses a QA scorecard.
    func parseScorecard(_ input: UnsafeRawBufferPointer) {
        _ = try? QAScorecard.parse(Array(input), file: "fuzz.yaml")
    }

    /// Parses a CRM mapping, diffs it against itself and re-parses each of its templates from its source.
    func parseMapping(_ input: UnsafeRawBufferPointer) {
        guard let mapping = try? CRMMapping.parse(Array(input), file: "fuzz.yaml") else { return }
        guard mapping.changes(from: mapping).isEmpty else { fatalError("a CRM mapping differs from itself") }
        for record in mapping.records {
            guard let reparsed = try? CRMTemplate.parse(record.externalId.source), reparsed == record.externalId
            else { fatalError("CRM template '\(record.externalId.source)' does not re-parse to itself") }
        }
    }
}
