// The writer's staging area: idempotency checks, seq and time assignment, data keys, sealing and record
// encoding, producing batches that the commit path makes durable.
import LedgerCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Data keys: cached, looked up in keys.sqlite, or created (and queued for durable storage, unless a zero
/// retention gate keeps them in memory only).
struct DataKeyCache: DataKeyProvider {
    var cache: [CallClass: SymmetricKey] = [:]
    let store: KeyStore
    var created: [(call: String, dataClass: String, wrapped: [UInt8])] = []
    /// Decides which new keys stay in memory only.
    var gate: (any ZeroRetentionGate)? = nil
    /// The tenant of the event being sealed, for the gate.
    var tenant = ""
    /// Per call, the classes whose key is in memory only.
    var inMemory: [String: Set<String>] = [:]

    mutating func dataKey(call: String, dataClass: DataClass) throws -> SymmetricKey {
        let cacheKey = CallClass(call: call, dataClass: dataClass)
        if let key = cache[cacheKey] { return key }
        let name = dataClass.name
        if let stored = try store.key(call: call, dataClass: name) {
            cache[cacheKey] = stored
            return stored
        }
        let key = try SymmetricKey.random()
        if let gate, try gate.keepsInMemory(call: call, tenant: tenant, dataClass: name) {
            inMemory[call, default: []].insert(name)
        } else {
            created.append((call, name, try store.wrap(key, call: call, dataClass: name)))
        }
        cache[cacheKey] = key
        return key
    }

    /// Queues the in-memory key of (call, class) for durable storage after all.
    mutating func persist(call: String, dataClass: String) throws(LedgerError) {
        guard inMemory[call]?.remove(dataClass) != nil, let parsed = DataClass(name: dataClass),
            let key = cache[CallClass(call: call, dataClass: parsed)]
        else { return }
        created.append((call, dataClass, try store.wrap(key, call: call, dataClass: dataClass)))
    }

    /// Forgets the in-memory key of (call, class): what it sealed can no longer be opened by anyone.
    mutating func drop(call: String, dataClass: String) {
        guard inMemory[call]?.remove(dataClass) != nil, let parsed = DataClass(name: dataClass) else { return }
        cache[CallClass(call: call, dataClass: parsed)] = nil
        if inMemory[call]?.isEmpty == true { inMemory[call] = nil }
    }
}

/// Events staged but not yet durable, grouped into frames.
struct Staging {
    /// A frame's worth of staged events.
    struct Batch {
        var frame: FrameBuilder
        /// Leaf hash of each record, in seq order.
        var leafHashes: [SHA256Digest] = []
        /// Acceptance time of the first and last record.
        var firstTime: Int64 = 0
        var lastTime: Int64 = 0
        /// Per call: what the index records about this frame.
        var calls: [String: CallActivity] = [:]
        var results: [AppendResult] = []
        var fingerprints: [UInt8] = []
        var newKeys: [(call: String, dataClass: String, wrapped: [UInt8])] = []
        /// How many of `newKeys` (the first ones) the commit path already stored durably ahead of the batch's
        /// commit (see `keysToStoreAhead()`).
        var keysStoredAhead = 0
        /// The log size once this batch is durable.
        var endSeq: UInt64
        /// Set when a staging thread took this full batch to compress it ahead of the commit.
        var compressionStarted = false

        /// Records in the batch.
        var recordCount: Int { leafHashes.count }
    }

    /// Frames compressed ahead of their commit, by first seq.
    var precompressed: [UInt64: [UInt8]] = [:]

    /// The oldest full batch that no one is compressing yet (its header and records), marked as started.
    mutating func takeFullBatchToCompress() -> (firstSeq: UInt64, header: [UInt8], records: [UInt8])? {
        // The last batch is still filling unless it is sealed; every earlier one is complete.
        let complete = batchSealed ? batches.count : batches.count - 1
        guard complete > 0 else { return nil }
        for index in 0..<complete where !batches[index].compressionStarted && batches[index].recordCount > 0 {
            batches[index].compressionStarted = true
            return (batches[index].frame.firstSeq, batches[index].frame.header, batches[index].frame.records)
        }
        return nil
    }

    /// Events acknowledged durable.
    var durableSize: UInt64
    private var nextSeq: UInt64
    private var lastTime: Int64
    private var fingerprints: IdempotencyFingerprints
    private var batches: [Batch] = []
    private var keys: DataKeyCache
    private var encoder: RecordEncoder
    private var decoderScratch: [UInt8] = []
    private var record: [UInt8] = []
    private let reader: LedgerStorage
    /// Whether the next staged event must start a new batch (set by `sealBatch`).
    private var batchSealed = true
    /// Staged records not yet taken by the commit path.
    private(set) var stagedRecords = 0
    /// Record bytes of the most recently started frame's predecessor, the capacity hint for the next frame.
    private var lastFrameBytes = 1 << 17

    /// Most records per batch (frame).
    let batchLimit: Int
    /// Most bytes of records per frame: the readers' frame content limit, less room for the header and the
    /// record's length prefix.
    static let frameBytes = RecordLimits.maximumFrameContentBytes - 64

    /// Staging for a recovered ledger whose events hold `fingerprints` (see `idempotencyFingerprints(seal:)`).
    init(
        storage: LedgerStorage, keys: KeyStore, batchLimit: Int, lastTime: Int64,
        fingerprints: IdempotencyFingerprints
    ) throws(LedgerError) {
        durableSize = storage.size
        nextSeq = storage.size
        self.lastTime = lastTime
        self.keys = DataKeyCache(store: keys)
        self.batchLimit = batchLimit
        do { encoder = try RecordEncoder() } catch {
            throw (error as? CryptoError).map(LedgerError.crypto)
                ?? .invalidRequest("cannot create a record encoder: \(error)")
        }
        reader = try LedgerStorage(layout: storage.layout, writable: false, catchUp: false)
        self.fingerprints = fingerprints
    }

    /// Stages one event: a duplicate result, or a sealed record with the next seq. With `unlimitedBatch` the
    /// open batch grows past the batch limit (for atomic appends, which must be one frame).
    mutating func stage(
        _ event: DecodedEvent, unlimitedBatch: Bool = false, acknowledged: Bool = true
    ) throws(LedgerError) -> AppendResult {
        let limit = unlimitedBatch ? Int.max : batchLimit
        var idempotency = event.idempotency
        let fingerprint = idempotency.withUTF8 { IdempotencyFingerprint.of(UnsafeRawBufferPointer($0)) }
        if let existing = try duplicateSeq(of: event.idempotency, fingerprint: fingerprint) {
            let result = AppendResult(seq: existing, idempotency: event.idempotency, status: .duplicate)
            withBatch(limit: limit, firstSeq: nextSeq) { $0.results.append(result) }
            return result
        }
        // Decided before sealing, which may create data keys: a record too large for any frame changes nothing.
        let largest = RecordEncoder.maximumRecordBytes(event)
        guard largest <= Self.frameBytes else {
            throw .batchTooLarge(events: 1, bytes: largest, limit: Self.frameBytes)
        }
        let seq = nextSeq
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        let time = max(Int64(clock.tv_sec) * 1_000_000 + Int64(clock.tv_nsec) / 1000, lastTime)
        record.removeAll(keepingCapacity: true)
        if keys.gate != nil { keys.tenant = event.tenant }
        let leaf: SHA256Digest
        do {
            leaf = try encoder.encode(event, seq: seq, time: time, keys: &keys, appendingTo: &record)
        } catch let error as LedgerError {
            throw error
        } catch let error as CryptoError {
            throw .crypto(error)
        } catch {
            throw .invalidRequest("cannot seal event \(event.idempotency): \(error)")
        }
        lastTime = time
        fingerprints.add(fingerprint, seq: seq)
        let purges = try applyZeroRetention(call: event.call, type: event.type, seq: seq)
        let newKeys = keys.created
        keys.created.removeAll()
        let recordBytes = record
        withBatch(limit: limit, firstSeq: seq, adding: recordBytes.count) { batch in
            batch.frame.append(record: recordBytes, inputBytes: event.inputByteCount)
            if batch.leafHashes.isEmpty { batch.firstTime = time }
            batch.lastTime = time
            batch.leafHashes.append(leaf)
            if !event.call.isEmpty {
                if batch.calls[event.call]?.add(seq: seq, time: time) == nil {
                    batch.calls[event.call] = CallActivity(
                        tenant: event.tenant, firstSeq: seq, lastSeq: seq, count: 1, firstTime: time, lastTime: time)
                }
            }
            if acknowledged {
                batch.results.append(AppendResult(seq: seq, idempotency: event.idempotency, status: .appended))
            }
            batch.fingerprints.appendUInt64LE(fingerprint)
            batch.newKeys.append(contentsOf: newKeys)
            batch.endSeq = seq + 1
        }
        nextSeq += 1
        stagedRecords += 1
        for purge in purges { _ = try stage(purge, unlimitedBatch: unlimitedBatch, acknowledged: false) }
        return AppendResult(seq: seq, idempotency: event.idempotency, status: .appended)
    }

    /// Installs the gate that keeps zero-retention keys in memory only.
    mutating func useZeroRetention(_ gate: any ZeroRetentionGate) {
        keys.gate = gate
    }

    /// Tells the zero-retention gate about the record just sealed (`record`, of `seq`) and carries out its
    /// decision about the call's in-memory keys: drops keys, queues keys for storage after all, and returns the
    /// `retention.purged` events to stage right after the record.
    private mutating func applyZeroRetention(
        call: String, type: EventType, seq: UInt64
    ) throws(LedgerError) -> [DecodedEvent] {
        guard let gate = keys.gate else { return [] }
        if gate.observes(type) {
            let observed = record.withUnsafeBytes { raw in
                Result { () throws(LedgerError) in
                    let view: RecordView
                    do { view = try RecordView(raw) } catch {
                        throw .invalidRequest("cannot read back record \(seq) for zero retention: \(error)")
                    }
                    try gate.observe(view)
                }
            }
            try observed.get()
        }
        guard !keys.inMemory.isEmpty, let classes = keys.inMemory[call], !classes.isEmpty else { return [] }
        let decision = try gate.decide(call: call, classes: classes.sorted())
        for dataClass in decision.persist { try keys.persist(call: call, dataClass: dataClass) }
        var events: [DecodedEvent] = []
        var decoder = EventDecoder(maximumEventBytes: 1 << 20)
        for purge in decision.purges {
            for dataClass in purge.classes { keys.drop(call: call, dataClass: dataClass) }
            var line = purge.interchangeLine(call: call, triggeredBy: seq)
            let decoded = line.withUnsafeMutableBytes { raw in
                Result { () throws(EventDecodingError) in
                    try decoder.decode(UnsafeRawBufferPointer(raw), lineNumber: 0)
                }
            }
            switch decoded {
            case .success(let event): events.append(event)
            case .failure(let error):
                throw .invalidRequest("the zero-retention purge of call \(call) does not validate: \(error)")
            }
        }
        return events
    }

    /// The content bytes of the newest staged batch's frame (header and records), nil when nothing is staged.
    var openBatchContentBytes: Int? {
        batches.last.map { $0.frame.header.count + $0.frame.records.count }
    }

    /// Batches staged and not yet taken.
    var batchCount: Int { batches.count }

    /// Staged batches that take no more events: every one but the open batch, and the open one too once it is
    /// sealed or holds `batchLimit` records.
    var completeBatchCount: Int {
        guard let last = batches.last else { return 0 }
        return batchSealed || last.recordCount >= batchLimit ? batches.count : batches.count - 1
    }

    /// The new data keys of the staged batches not yet stored, and per batch (by position) how many of its keys
    /// they cover; pass `counts` to `markKeysStoredAhead` once the keys are durable. Batches are only removed by
    /// the commit path, which calls both, so the positions stay valid in between.
    func keysToStoreAhead() -> (keys: [(call: String, dataClass: String, wrapped: [UInt8])], counts: [Int]) {
        var keys: [(call: String, dataClass: String, wrapped: [UInt8])] = []
        var counts: [Int] = []
        counts.reserveCapacity(batches.count)
        for batch in batches {
            keys.append(contentsOf: batch.newKeys[batch.keysStoredAhead...])
            counts.append(batch.newKeys.count)
        }
        return (keys, counts)
    }

    /// Records that the first `counts[i]` new keys of the `i`th staged batch are durable.
    mutating func markKeysStoredAhead(_ counts: [Int]) {
        for (index, count) in counts.enumerated() where index < batches.count {
            batches[index].keysStoredAhead = max(batches[index].keysStoredAhead, count)
        }
    }

    /// Ends the current batch: the next staged event starts a new frame.
    mutating func sealBatch() {
        batchSealed = true
    }

    /// The oldest batch, removed from staging; nil when nothing is staged.
    mutating func takeBatch() -> Batch? {
        guard !batches.isEmpty else { return nil }
        let batch = batches.removeFirst()
        lastFrameBytes = max(lastFrameBytes, batch.frame.records.count)
        if batches.isEmpty { batchSealed = true }
        stagedRecords -= batch.recordCount
        committing.append(batch.frame)
        return batch
    }

    /// Frames being written, for confirmation until they are readable from the log.
    private var committing: [FrameBuilder] = []

    /// Marks the oldest committing batch durable.
    mutating func markDurable(endSeq: UInt64) {
        durableSize = max(durableSize, endSeq)
        if !committing.isEmpty { committing.removeFirst() }
    }

    /// Runs `body` on the open batch, starting a new one (whose first record will be `firstSeq`) when the
    /// open one is sealed or full: `limit` records, or (unless the batch is unlimited, an atomic append) so many
    /// bytes that `adding` more would take the frame's content past what readers decompress.
    private mutating func withBatch(
        limit: Int, firstSeq: UInt64, adding recordBytes: Int = 0, _ body: (inout Batch) -> Void
    ) {
        // The open batch is read in place: a copy of it would retain each of its buffers once per event.
        let open = batches.indices.last
        let fullOfBytes =
            limit != Int.max
            && open.map {
                batches[$0].recordCount > 0 && batches[$0].frame.records.count + recordBytes > Self.frameBytes
            }
                ?? false
        if batchSealed || open.map({ batches[$0].recordCount >= limit }) ?? true || fullOfBytes {
            // Reserve about what the previous frame needed, so a frame's buffer is not regrown (and copied)
            // several times while it fills.
            batches.append(
                Batch(
                    frame: FrameBuilder(firstSeq: firstSeq, capacity: lastFrameBytes + lastFrameBytes / 4),
                    endSeq: firstSeq))
            batchSealed = false
        }
        body(&batches[batches.count - 1])
    }

    /// The seq of the event already holding `key`, confirmed by comparing the full key.
    private mutating func duplicateSeq(of key: String, fingerprint: UInt64) throws(LedgerError) -> UInt64? {
        for seq in fingerprints.seqs(of: fingerprint) where try idempotencyKey(at: seq) == key {
            return seq
        }
        return nil
    }

    /// The idempotency key of the event at `seq`, read from the staged batches or the log (the index only
    /// locates the frame: the records read must be the seqs it says).
    private mutating func idempotencyKey(at seq: UInt64) throws(LedgerError) -> String {
        for batch in batches { if let key = batch.frame.idempotency(of: seq) { return key } }
        for frame in committing { if let key = frame.idempotency(of: seq) { return key } }
        if !confirmedFrame.seqs.contains(seq) {
            guard let location = try reader.index.frame(containing: seq) else {
                throw .invalidRequest(
                    "index.sqlite lists no frame holding seq \(seq), an event of the log; run `call-ledger reindex`")
            }
            var keys: [String] = []
            var content: [UInt8] = []
            let firstSeq = location.firstSeq
            try reader.forEachRecord(inFrame: location, content: &content) { record throws(LedgerError) in
                guard record.seq == firstSeq + UInt64(keys.count) else {
                    throw .invalidRequest(
                        "index.sqlite locates seqs \(firstSeq) to \(firstSeq + UInt64(location.count) - 1) at byte "
                            + "offset \(location.offset) of segment \(LedgerLayout.segmentName(firstSeq: location.segment)), "
                            + "but the frame there holds seq \(record.seq); run `call-ledger reindex`")
                }
                keys.append(record.idempotency)
            }
            let seqs = firstSeq..<firstSeq + UInt64(keys.count)
            guard seqs.contains(seq) else {
                throw .invalidRequest(
                    "index.sqlite locates seq \(seq) in the frame at byte offset \(location.offset) of segment "
                        + "\(LedgerLayout.segmentName(firstSeq: location.segment)), which ends at seq \(seqs.upperBound); "
                        + "run `call-ledger reindex`")
            }
            confirmedFrame = (seqs, keys)
        }
        return confirmedFrame.keys[Int(seq - confirmedFrame.seqs.lowerBound)]
    }

    /// The idempotency keys of the last frame read for duplicate confirmation: re-delivered inputs arrive
    /// in order, so consecutive duplicates are usually confirmed from one decompressed frame.
    private var confirmedFrame: (seqs: Range<UInt64>, keys: [String]) = (0..<0, [])
}
