// The writer's idempotency set, taken from index.sqlite only where the index proves its rows: each frame's
// fingerprints carry a seal (HMAC-SHA256 under a key derived from the master key) that only this ledger's writer
// can make, and only over fingerprints it computed from records it encoded or read from the log. Rows without a
// valid seal are recomputed from their frame in the log; an index that does not list every frame of the log once
// is rebuilt from the log (FORMAT.md §9). A damaged, stale or foreign index can then neither hide an event's key
// (which would let a re-delivered event in twice) nor, since duplicates are confirmed against the log, invent one.
import LedgerCore

/// The idempotency fingerprints of every event in the log, by fingerprint: the lowest seq holding it, and any
/// other seqs (different keys whose fingerprints collide, each confirmed by comparing the full key).
///
/// An open-addressing table (linear probing, at most 3/4 full) of (fingerprint, seq + 1) pairs, 16 bytes a slot:
/// fingerprints are already uniform, so a multiply by a per-process random odd number spreads them without
/// hashing again (and keys chosen to collide in their low bits do not pile up). Loading a million fingerprints
/// takes a few milliseconds, several times less than `Dictionary`, in the same memory.
struct IdempotencyFingerprints {
    /// Pairs: slot `i` is `slots[2i]` (the fingerprint) and `slots[2i + 1]` (its lowest seq + 1; 0 when empty).
    private var slots: [UInt64]
    private var bits: Int
    private var count = 0
    private let multiplier = UInt64.random(in: 1...UInt64.max) | 1
    /// Further seqs of fingerprints held by more than one event, in the order added.
    private var others: [UInt64: [UInt64]] = [:]

    /// An empty table with room for `capacity` fingerprints before it grows.
    init(capacity: Int = 0) {
        var bits = 4
        while bits < 62 && (1 << bits) / 4 * 3 < capacity { bits += 1 }
        self.bits = bits
        slots = [UInt64](repeating: 0, count: 2 << bits)
    }

    private func home(_ fingerprint: UInt64) -> Int {
        Int(truncatingIfNeeded: (fingerprint &* multiplier) >> UInt64(64 - bits))
    }

    /// Records that `seq` holds a key with `fingerprint`.
    mutating func add(_ fingerprint: UInt64, seq: UInt64) {
        if (count + 1) > (1 << bits) / 4 * 3 { grow() }
        let (mask, index) = ((1 << bits) - 1, home(fingerprint))
        let displaced = slots.withUnsafeMutableBufferPointer { slots in
            Self.insert(fingerprint, seq: seq, home: index, mask: mask, into: slots)
        }
        if let displaced {
            others[fingerprint, default: []].append(displaced)
        } else {
            count += 1
        }
    }

    /// Puts (fingerprint, seq) into `slots` by linear probing from `home`: into an empty slot (returns nil), or,
    /// when the fingerprint is there, keeping the lower seq in the slot and returning the other.
    private static func insert(
        _ fingerprint: UInt64, seq: UInt64, home: Int, mask: Int, into slots: UnsafeMutableBufferPointer<UInt64>
    ) -> UInt64? {
        var index = home
        while true {
            let stored = slots[2 * index + 1]
            if stored == 0 {
                slots[2 * index] = fingerprint
                slots[2 * index + 1] = seq + 1
                return nil
            }
            if slots[2 * index] == fingerprint {
                guard seq + 1 < stored else { return seq }
                slots[2 * index + 1] = seq + 1
                return stored - 1
            }
            index = (index + 1) & mask
        }
    }

    /// Records the 8-byte little-endian fingerprints of `blob`, for seqs from `firstSeq` on.
    mutating func add(block blob: [UInt8], firstSeq: UInt64) {
        var pairs: [UInt64] = []
        Self.appendPairs(of: blob, firstSeq: firstSeq, to: &pairs)
        add(pairs: pairs)
    }

    /// Appends the (fingerprint, seq) pairs of `blob`'s 8-byte little-endian fingerprints, for seqs from
    /// `firstSeq` on, to `pairs` (flattened, as `add(pairs:)` takes them).
    static func appendPairs(of blob: [UInt8], firstSeq: UInt64, to pairs: inout [UInt64]) {
        blob.withUnsafeBytes { raw in
            for index in 0..<raw.count / 8 {
                pairs.append(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
                pairs.append(firstSeq + UInt64(index))
            }
        }
    }

    /// Records the (fingerprint, seq) pairs of `pairs` (flattened: fingerprint, then seq) in the order of their
    /// home slots, so that the inserts sweep the table from start to end instead of missing the cache on nearly
    /// every one (a table of millions of fingerprints is hundreds of megabytes): a counting sort by the top bits
    /// of the home slot, then the inserts of `add(_:seq:)` in that order. The result is the table the
    /// same pairs added one by one give.
    mutating func add(pairs: [UInt64]) {
        let total = pairs.count / 2
        guard total > 0 else { return }
        while count + total > (1 << bits) / 4 * 3 { grow() }
        let partitionBits = min(bits, 12)
        let shift = bits - partitionBits
        var starts = [Int](repeating: 0, count: (1 << partitionBits) + 1)
        var ordered = [UInt64](repeating: 0, count: total * 2)
        pairs.withUnsafeBufferPointer { pairs in
            for pair in 0..<total { starts[(home(pairs[2 * pair]) >> shift) + 1] += 1 }
            for partition in 1..<starts.count { starts[partition] += starts[partition - 1] }
            ordered.withUnsafeMutableBufferPointer { ordered in
                for pair in 0..<total {
                    let partition = home(pairs[2 * pair]) >> shift
                    let position = starts[partition]
                    starts[partition] = position + 1
                    ordered[2 * position] = pairs[2 * pair]
                    ordered[2 * position + 1] = pairs[2 * pair + 1]
                }
            }
        }
        let mask = (1 << bits) - 1
        let multiplier = self.multiplier
        let homeShift = UInt64(64 - bits)
        var added = 0
        var displaced: [(fingerprint: UInt64, seq: UInt64)] = []
        slots.withUnsafeMutableBufferPointer { slots in
            for pair in 0..<total {
                let fingerprint = ordered[2 * pair]
                let home = Int(truncatingIfNeeded: (fingerprint &* multiplier) >> homeShift)
                if let seq = Self.insert(fingerprint, seq: ordered[2 * pair + 1], home: home, mask: mask, into: slots) {
                    displaced.append((fingerprint, seq))
                } else {
                    added += 1
                }
            }
        }
        count += added
        for (fingerprint, seq) in displaced { others[fingerprint, default: []].append(seq) }
    }

    /// The seqs holding a key with `fingerprint`, lowest first.
    func seqs(of fingerprint: UInt64) -> [UInt64] {
        let mask = (1 << bits) - 1
        var index = home(fingerprint)
        while true {
            let stored = slots[2 * index + 1]
            if stored == 0 { return [] }
            if slots[2 * index] == fingerprint { return [stored - 1] + (others[fingerprint] ?? []).sorted() }
            index = (index + 1) & mask
        }
    }

    /// Doubles the table and puts every pair back.
    private mutating func grow() {
        let old = slots
        bits += 1
        slots = [UInt64](repeating: 0, count: 2 << bits)
        count = 0
        let saved = others
        for index in stride(from: 0, to: old.count, by: 2) where old[index + 1] != 0 {
            add(old[index], seq: old[index + 1] - 1)
        }
        others = saved
    }
}

/// Seals a frame's idempotency fingerprints in index.sqlite: HMAC-SHA256 under a key derived from the master key,
/// over the frame's first seq and event count (8 bytes little-endian each) and its fingerprints.
struct FingerprintSeal {
    private let innerPad: [UInt8]
    private let outerPad: [UInt8]

    /// The seal of the ledger whose master key is `masterKey`: its key is
    /// HMAC-SHA256(master key, "call-ledger/index-fingerprints/v1").
    init(masterKey: SymmetricKey) {
        let derived = Self.hmac(key: masterKey.bytes, Array("call-ledger/index-fingerprints/v1".utf8), [])
        (innerPad, outerPad) = Self.pads(derived.bytes)
    }

    /// The seal of the fingerprints of the `count` events from `firstSeq`.
    func seal(firstSeq: UInt64, count: Int, fingerprints: [UInt8]) -> SHA256Digest {
        var header: [UInt8] = []
        header.appendUInt64LE(firstSeq)
        header.appendUInt64LE(UInt64(clamping: count))
        return Self.hmac(innerPad: innerPad, outerPad: outerPad, header, fingerprints)
    }

    private static func pads(_ key: [UInt8]) -> (inner: [UInt8], outer: [UInt8]) {
        let block = key.count > 64 ? SHA256.hash(key).bytes : key
        let padded = block + [UInt8](repeating: 0, count: 64 - block.count)
        return (padded.map { $0 ^ 0x36 }, padded.map { $0 ^ 0x5C })
    }

    private static func hmac(key: [UInt8], _ first: [UInt8], _ second: [UInt8]) -> SHA256Digest {
        let (inner, outer) = pads(key)
        return hmac(innerPad: inner, outerPad: outer, first, second)
    }

    /// HMAC (RFC 2104) of `first` followed by `second`.
    private static func hmac(
        innerPad: [UInt8], outerPad: [UInt8], _ first: [UInt8], _ second: [UInt8]
    )
        -> SHA256Digest
    {
        let inner = innerPad.withUnsafeBytes { pad in
            first.withUnsafeBytes { a in second.withUnsafeBytes { b in SHA256.hash(pad, a, b) } }
        }
        return outerPad.withUnsafeBytes { pad in inner.bytes.withUnsafeBytes { SHA256.hash(prefix: pad, $0) } }
    }
}

extension LedgerStorage {
    /// The idempotency fingerprints of every event in the log, for the writer (runs after `recover()`, with the
    /// writer lock). Sealed rows of index.sqlite are taken as they are; an unsealed or wrongly sealed row is
    /// recomputed from its frame in the log and sealed; an index that does not list the log's frames exactly once
    /// each, from seq 0 to the log's end, or whose row does not locate its frame, is rebuilt from the log.
    ///
    /// Cost: reading the rows and one HMAC over 8 bytes per event (about 10 ms per million events), plus
    /// decompressing each frame whose row has no valid seal (every frame once, the first time a ledger written
    /// before seals is opened for writing, or after `reindex` without the key file).
    func idempotencyFingerprints(seal: FingerprintSeal) throws(LedgerError) -> IdempotencyFingerprints {
        if let checked = try checkedFingerprints(seal: seal) { return checked }
        _ = try reindex()
        guard let rebuilt = try checkedFingerprints(seal: seal) else {
            throw .invalidRequest(
                "index.sqlite, rebuilt from the log, still does not list every frame of the log once; delete "
                    + "index.sqlite and run `call-ledger reindex`")
        }
        return rebuilt
    }

    /// How many fingerprints the writer's start gathers before adding them to the table in one sweep.
    static let fingerprintBatch = 1 << 20

    /// The fingerprints from the index's rows (recomputing unsealed ones from the log), or nil when the rows do
    /// not tile the log or a row does not locate its frame.
    private func checkedFingerprints(seal: FingerprintSeal) throws(LedgerError) -> IdempotencyFingerprints? {
        var result = IdempotencyFingerprints(capacity: Int(clamping: size))
        var expected: UInt64 = 0
        var tiles = true
        var unsealed: [FrameLocation] = []
        // Pairs are gathered and added a million at a time, in the order of their home slots (`add(pairs:)`).
        var pairs: [UInt64] = []
        pairs.reserveCapacity(Self.fingerprintBatch * 2)
        try index.forEachFrameFingerprints { location, blob, stored in
            guard tiles, location.firstSeq == expected, location.count > 0, blob.count == location.count * 8 else {
                tiles = false
                return
            }
            expected += UInt64(location.count)
            if let stored, stored == seal.seal(firstSeq: location.firstSeq, count: location.count, fingerprints: blob) {
                IdempotencyFingerprints.appendPairs(of: blob, firstSeq: location.firstSeq, to: &pairs)
                if pairs.count >= Self.fingerprintBatch * 2 {
                    result.add(pairs: pairs)
                    pairs.removeAll(keepingCapacity: true)
                }
            } else {
                unsealed.append(location)
            }
        }
        guard tiles, expected == size else { return nil }
        result.add(pairs: pairs)
        var content: [UInt8] = []
        for location in unsealed {
            guard let fingerprints = fingerprintsFromLog(location, content: &content) else { return nil }
            try index.replaceFingerprints(
                firstSeq: location.firstSeq, fingerprints: fingerprints,
                seal: seal.seal(firstSeq: location.firstSeq, count: location.count, fingerprints: fingerprints))
            result.add(block: fingerprints, firstSeq: location.firstSeq)
        }
        return result
    }

    /// The fingerprints of the frame at `location`, read from the log; nil when the bytes there are not that
    /// frame (another frame, or not one at all).
    private func fingerprintsFromLog(_ location: FrameLocation, content: inout [UInt8]) -> [UInt8]? {
        var fingerprints: [UInt8] = []
        var next = location.firstSeq
        do {
            try forEachRecord(inFrame: location, content: &content) { record throws(LedgerError) in
                guard record.seq == next else {
                    throw .invalidRequest("seq \(record.seq) where \(next) was expected")
                }
                next += 1
                fingerprints.appendUInt64LE(
                    IdempotencyFingerprint.of(UnsafeRawBufferPointer(rebasing: record.bytes[record.idempotencyRange])))
            }
        } catch {
            return nil
        }
        return next == location.firstSeq + UInt64(location.count) ? fingerprints : nil
    }
}
