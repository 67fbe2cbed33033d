import Foundation
// audit export: one self-contained JSON file with a call's events (what the requester may read opened, the rest
// compacted to digests), their inclusion proofs in a signed checkpoint, a signed statement listing exactly which
// events the bundle holds, the data keys of the opened classes, and the redaction proof when the call has one.
// FORMAT.md §12 describes the file; `tools/verify bundle` checks it without Swift.
public import LedgerCore

/// The data classes of a bundle's call, by what the requester sees of them.
public struct BundleClasses: Sendable, Codable, Equatable {
    /// Classes whose parts are opened: the bundle carries their sealed bytes and data keys.
    public var opened: [String]
    /// Classes a `retention.purged` event erased: their parts are digests only.
    public var erased: [String]
    /// Classes not opened for another reason (left out by `--open`, or no data key): digests only.
    public var withheld: [String]
}

/// One event of an audit bundle.
public struct BundleEvent: Sendable, Equatable {
    /// The event's seq.
    public var seq: UInt64
    /// The record (FORMAT.md §3) with every part of a class that is not opened in compacted form.
    public var record: [UInt8]
    /// The event's entry (FORMAT.md §5), the same for the stored and the bundled record.
    public var entry: [UInt8]
    /// `SHA-256(0x00 || entry)`.
    public var leafHash: SHA256Digest
    /// The audit path in the tree of the bundle's checkpoint, leaf-most first (hex).
    public var inclusionProof: [String]
    /// The event as `call-ledger cat` renders it (a JSON object), opened parts inline, the others as
    /// `{"redacted": class, "digest": hex}`; the `sealed` states are `opened`, `erased` or `withheld`.
    public var rendered: [UInt8]
}

/// A call's audit bundle: see `LedgerReader.auditBundle(call:bound:open:)`.
public struct AuditBundle: Sendable, Equatable {
    /// The value of the bundle's `format` member.
    public static let format = "call-ledger/audit-bundle/v1"
    /// The first line of the signed statement: never an origin, so the note can never pass as a checkpoint.
    public static let statementHeader = "call-ledger/audit-export/v1"

    /// The call.
    public var call: String
    /// The bundle holds every event of the call with a seq below this.
    public var bound: UInt64
    /// The signed checkpoint the inclusion proofs end in.
    public var checkpoint: AnchorCheckpoint
    /// The signed statement (C2SP signed note by the checkpoint signer) naming the call, bound, checkpoint, the
    /// number of events and the SHA-256 of their leaf hashes, and the seqs of the call's `retention.purged` events.
    public var statement: String
    /// The call's data classes by what the requester sees.
    public var classes: BundleClasses
    /// The data key of each opened class.
    public var keys: [String: [UInt8]]
    /// The events, in seq order.
    public var events: [BundleEvent]
    /// The call's redaction proof, when it has `retention.purged` events.
    public var redaction: RedactionProof?

    /// The statement's text for these values (FORMAT.md §12).
    static func statementText(
        origin: String, checkpoint: Checkpoint, call: String, bound: UInt64, leaves: [SHA256Digest], purges: [UInt64]
    ) -> String {
        var concatenated: [UInt8] = []
        for leaf in leaves { leaf.append(to: &concatenated) }
        return """
            \(statementHeader)
            origin \(origin)
            checkpoint \(checkpoint.treeSize) \(checkpoint.rootHash.base64)
            call \(call)
            bound \(bound)
            events \(leaves.count) \(SHA256.hash(concatenated).hex)
            purges\(purges.map { " \($0)" }.joined())

            """
    }

    /// The bundle as one line of JSON (FORMAT.md §12).
    public func json() throws(LedgerError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func encoded(_ value: some Encodable) throws(LedgerError) -> [UInt8] {
            do { return Array(try encoder.encode(value)) } catch {
                throw .invalidRequest("the bundle cannot be encoded: \(error)")
            }
        }
        var out: [UInt8] = []
        out.appendASCII("{\"format\":")
        out.appendJSONString(Self.format)
        out.appendASCII(",\"call\":")
        out.appendJSONString(call)
        out.appendASCII(",\"bound\":")
        out.appendJSONInteger(bound)
        out.appendASCII(",\"checkpoint\":")
        out.append(contentsOf: try encoded(checkpoint))
        out.appendASCII(",\"statement\":")
        out.appendJSONString(statement)
        out.appendASCII(",\"classes\":")
        out.append(contentsOf: try encoded(classes))
        out.appendASCII(",\"keys\":")
        out.append(contentsOf: try encoded(keys.mapValues { Base64.encode($0) }))
        out.appendASCII(",\"events\":[")
        for (index, event) in events.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.appendASCII("{\"seq\":")
            out.appendJSONInteger(event.seq)
            out.appendASCII(",\"record\":")
            out.appendJSONString(Base64.encode(event.record))
            out.appendASCII(",\"entry\":")
            out.appendJSONString(Base64.encode(event.entry))
            out.appendASCII(",\"leaf_hash\":")
            out.appendJSONString(event.leafHash.hex)
            out.appendASCII(",\"inclusion_proof\":")
            out.append(contentsOf: try encoded(event.inclusionProof))
            out.appendASCII(",\"event\":")
            out.append(contentsOf: event.rendered)
            out.append(UInt8(ascii: "}"))
        }
        out.appendASCII("],\"redaction\":")
        if let redaction {
            out.append(contentsOf: try encoded(redaction))
        } else {
            out.appendASCII("null")
        }
        out.appendASCII("}\n")
        return out
    }
}

extension LedgerReader {
    /// The audit bundle of `call`: every event of the call with a seq below `bound` (default: all), each as its
    /// record with the parts of every class the requester does not see replaced by their digests (compacted form,
    /// which keeps the entry and leaf hash), its entry, leaf hash, rendering, and audit path in the latest signed
    /// checkpoint's tree; the checkpoint with its verifier key; a statement signed by the checkpoint signer that
    /// lists the events; the data keys of the opened classes, so that a verifier can authenticate and decrypt
    /// their parts; and the redaction proof when the call has `retention.purged` events.
    ///
    /// `open` names the classes to open (default: every class whose data key still exists). Needs the key file.
    public func auditBundle(
        call: String, bound: UInt64? = nil, open: Set<String>? = nil
    ) throws(LedgerError)
        -> AuditBundle
    {
        guard let signer = try checkpointSigner() else {
            throw .invalidRequest(
                "audit export needs the key file: it opens sealed parts with the data keys and signs the bundle's "
                    + "list of events with the checkpoint signer; pass --key-file or set CALL_LEDGER_KEY_FILE")
        }
        // Every event of the call, from a walk of the log (never from the index): the statement signed below
        // claims that the bundle holds all of them.
        let scan = try scan(call: call, keepingRecords: true)
        guard let first = scan.entries.first else { throw .invalidRequest("call '\(call)' is not in the ledger") }
        let limit = min(bound ?? storage.size, storage.size)
        let selected = scan.entries.filter { $0.seq < limit }
        guard let last = selected.last else {
            throw .invalidRequest(
                "call '\(call)' has no events below seq \(limit) (its first event is seq \(first.seq)); "
                    + "choose a later --as-of")
        }
        let redaction = scan.purges.isEmpty ? nil : try redactionProof(call: call)
        let erased = Set(redaction?.purges.flatMap(\.classes) ?? [])
        let present = Set(scan.parts.filter { $0.seq < limit }.map(\.dataClass))
        for name in (open ?? []).sorted() {
            if erased.contains(name) {
                throw .invalidRequest("--open \(name): that class of call '\(call)' was erased; it cannot be opened")
            }
            if !present.contains(name) {
                throw .invalidRequest(
                    "--open \(name): call '\(call)' has no sealed part of that class in the exported events "
                        + "(it has: \(present.sorted().joined(separator: ", ")))")
            }
        }
        var keys: [String: [UInt8]] = [:]
        var withheld: Set<String> = []
        for name in present.subtracting(erased) {
            if open?.contains(name) ?? true, let key = try dataKey(call: call, dataClass: name) {
                keys[name] = key.bytes
            } else {
                withheld.insert(name)
            }
        }
        let (checkpoint, anchor) = try anchor(covering: max(last.seq, scan.purges.last?.seq ?? 0) + 1)
        var tree = try proofTree()
        var events: [BundleEvent] = []
        for (bytes, seq) in zip(scan.records, scan.entries.map(\.seq)) where seq < limit {
            var failure: LedgerError?
            bytes.withUnsafeBytes { raw in
                do throws(LedgerError) {
                    let record: RecordView
                    do { record = try RecordView(raw) } catch {
                        throw .corrupt(
                            segment: "(seq \(seq))", offset: 0, seq: seq, reason: "the record does not parse: \(error)")
                    }
                    events.append(
                        try bundleEvent(
                            record, opened: Set(keys.keys), erased: erased, checkpoint: checkpoint, tree: &tree))
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
        }
        let purgeSeqs = scan.purges.map(\.seq)
        let text = AuditBundle.statementText(
            origin: storage.configuration.origin, checkpoint: checkpoint, call: call, bound: limit,
            leaves: events.map(\.leafHash), purges: purgeSeqs)
        let statement: String
        do { statement = try SignedNote.sign(text: text, signer: signer).serialized } catch {
            throw .invalidRequest("the bundle's statement cannot be signed: \(error)")
        }
        return AuditBundle(
            call: call, bound: limit, checkpoint: anchor, statement: statement,
            classes: BundleClasses(opened: keys.keys.sorted(), erased: erased.sorted(), withheld: withheld.sorted()),
            keys: keys, events: events, redaction: redaction)
    }

    /// One event of a bundle: `record` with the parts of classes outside `opened` compacted, its proof and its
    /// rendering.
    private func bundleEvent(
        _ record: RecordView, opened: Set<String>, erased: Set<String>, checkpoint: Checkpoint,
        tree: inout MerkleTree<TreeStore>
    ) throws(LedgerError) -> BundleEvent {
        let contents = try openParts(of: record)
        var shown: [EventRenderer.PartContent] = []
        for (part, content) in zip(record.parts, contents) {
            let name = record.string(part.classRange)
            switch content {
            case .opened where opened.contains(name):
                shown.append(content)
            case .unavailable(let state) where opened.contains(name):
                throw .invalidRequest("seq \(record.seq): the \(name) part is \(state) although its data key exists")
            default:
                shown.append(.unavailable(state: erased.contains(name) ? "erased" : "withheld"))
            }
        }
        let bytes = record.compacted(where: { !opened.contains($0) })
        let entry = record.entry
        let proof = try provingTree { () throws -> LeafProof in
            try Self.leafProof(
                seq: record.seq, entry: entry, size: checkpoint.treeSize, root: checkpoint.rootHash, tree: &tree)
        }
        var rendered: [UInt8] = []
        let failure = bytes.withUnsafeBytes { raw -> (any Error)? in
            do {
                try EventRenderer.render(try RecordView(raw), parts: shown, into: &rendered)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw .invalidRequest("seq \(record.seq) cannot be rendered: \(failure)") }
        return BundleEvent(
            seq: record.seq, record: bytes, entry: entry, leafHash: MerkleHasher.leafHash(entry),
            inclusionProof: proof.inclusionProof, rendered: rendered)
    }
}

extension RecordView {
    /// The record's bytes with each sealed part whose class `compact` selects in compacted form: class, `0x02`,
    /// the SHA-256 of the sealed bytes (FORMAT.md §3). The entry, and so the leaf hash, stays the same.
    func compacted(where compact: (String) -> Bool) -> [UInt8] {
        let parts = self.parts
        guard parts.contains(where: { $0.form == RecordEncoder.partSealed && compact(string($0.classRange)) }) else {
            return Array(bytes)
        }
        var out = Array(bytes[0..<bodyRange.upperBound])
        out.appendVarint(UInt64(parts.count))
        for part in parts {
            let className = string(part.classRange)
            out.appendString(className)
            if part.form == RecordEncoder.partSealed && compact(className) {
                out.append(RecordEncoder.partCompacted)
                digest(of: part).append(to: &out)
            } else {
                out.append(part.form)
                if part.form == RecordEncoder.partSealed { out.appendVarint(UInt64(part.payloadRange.count)) }
                out.append(contentsOf: bytes[part.payloadRange])
            }
        }
        return out
    }
}
