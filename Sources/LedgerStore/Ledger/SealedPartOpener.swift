// Opens the sealed parts of records: unwraps the per-call data key, authenticates and decrypts the part,
// and undoes its compression, fetching the earlier part a delta part was stored against when needed.
public import LedgerCore

/// Where an opener finds the earlier record a delta part was stored against.
public protocol RecordSource {
    /// Calls `body` with the record at `seq`; does nothing when there is none.
    func withRecord(seq: UInt64, _ body: (RecordView) throws(LedgerError) -> Void) throws(LedgerError)
}

/// Looks in `first`, then in `then` when `first` does not hold the record.
struct FallbackSource<First: RecordSource, Then: RecordSource>: RecordSource {
    let first: First
    let then: Then

    func withRecord(seq: UInt64, _ body: (RecordView) throws(LedgerError) -> Void) throws(LedgerError) {
        var found = false
        try first.withRecord(seq: seq) { record throws(LedgerError) in
            found = true
            try body(record)
        }
        if !found { try then.withRecord(seq: seq, body) }
    }
}

/// Opens sealed parts with a ledger's key store. Not thread-safe: one opener per thread.
public final class SealedPartOpener {

    private let keys: KeyStore?
    private let cipher: AESGCM
    private let decompressor: ZstdDecompressor
    private var keyCache: [String: SymmetricKey?] = [:]
    /// Per (call, class): the latest opened part's seq and items, the base of the next partial's delta part.
    private var recentItems: [String: (seq: UInt64, items: [UInt8])] = [:]
    /// Per (call, class): the latest opened part of an event that is no partial segment, the base of the next
    /// delta part of any other event (the encoder's rule, `RecordEncoder.isPartialSegment`).
    private var settledItems: [String: (seq: UInt64, items: [UInt8])] = [:]

    init(keys: KeyStore?) throws(LedgerError) {
        self.keys = keys
        do { cipher = try AESGCM() } catch { throw .crypto(error) }
        do { decompressor = try ZstdDecompressor() } catch {
            throw .zstd(operation: error.operation, reason: error.reason)
        }
    }

    /// What is known of each sealed part of `record`; `lookup` holds the records that delta parts refer to.
    public func open(_ record: RecordView, lookup: some RecordSource) throws(LedgerError) -> [EventRenderer.PartContent]
    {
        var contents: [EventRenderer.PartContent] = []
        for part in record.parts {
            contents.append(try open(record, part, lookup: lookup))
        }
        return contents
    }

    private func open(
        _ record: RecordView, _ part: RecordView.Part, lookup: some RecordSource
    ) throws(LedgerError)
        -> EventRenderer.PartContent
    {
        guard part.form == RecordEncoder.partSealed else { return .unavailable(state: "compacted") }
        guard keys != nil else { return .unavailable(state: "locked") }
        let call = record.call
        let className = record.string(part.classRange)
        let cacheKey = call + "\u{0}" + className
        guard let key = try dataKey(call: call, dataClass: className) else { return .unavailable(state: "shredded") }
        var plaintext: [UInt8] = []
        let associatedData = record.associatedData(for: part)
        let sealed = UnsafeRawBufferPointer(rebasing: record.bytes[part.payloadRange])
        let opened = associatedData.withUnsafeBytes { aad in
            Result { () throws(CryptoError) in
                try cipher.open(sealed, key: key, associatedData: aad, appendingTo: &plaintext)
            }
        }
        do {
            try opened.get()
        } catch {
            throw .corrupt(
                segment: "(seq \(record.seq))", offset: part.payloadRange.lowerBound, seq: record.seq,
                reason: "sealed \(className) part does not authenticate")
        }
        do {
            var baseItems: [UInt8]?
            if let back = SealedPlaintext.deltaBase(plaintext) {
                baseItems = try items(ofPart: className, call: call, seq: record.seq - back, lookup: lookup)
            }
            let items = try SealedPlaintext.items(plaintext, decompressor: decompressor, baseItems: baseItems)
            recentItems[cacheKey] = (record.seq, items)
            if !RecordEncoder.isPartialSegment(record) { settledItems[cacheKey] = (record.seq, items) }
            return .opened(items)
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .corrupt(
                segment: "(seq \(record.seq))", offset: part.payloadRange.lowerBound, seq: record.seq,
                reason: "sealed \(className) part: \(error)")
        }
    }

    /// The data key of (call, class): nil when there is no key file, or the key was destroyed or never made.
    func dataKey(call: String, dataClass: String) throws(LedgerError) -> SymmetricKey? {
        guard let keys else { return nil }
        let cacheKey = call + "\u{0}" + dataClass
        if let cached = keyCache[cacheKey] { return cached }
        let key = try keys.key(call: call, dataClass: dataClass)
        keyCache[cacheKey] = key
        return key
    }

    /// The items of the `className` part of event `seq` (of `call`), for decoding a delta part against it.
    private func items(
        ofPart className: String, call: String, seq: UInt64, lookup: some RecordSource
    ) throws(LedgerError)
        -> [UInt8]
    {
        let cacheKey = call + "\u{0}" + className
        if let recent = recentItems[cacheKey], recent.seq == seq { return recent.items }
        if let settled = settledItems[cacheKey], settled.seq == seq { return settled.items }
        var found: [UInt8]?
        try lookup.withRecord(seq: seq) { record throws(LedgerError) in
            for part in record.parts where record.string(part.classRange) == className {
                if case .opened(let items) = try open(record, part, lookup: lookup) { found = items }
            }
        }
        guard let found else {
            throw .corrupt(
                segment: "(seq \(seq))", offset: 0, seq: seq,
                reason: "the \(className) part that a later part of call \(call) is stored as a delta of is missing")
        }
        return found
    }
}
