// KeyValueBucket: a JetStream key-value bucket with revision compare-and-set (create if absent, update if the
// revision is still the one read), entries expiring after the bucket's max age.
import CNats

/// A key's current value and revision.
public struct KeyValueEntry: Sendable, Equatable {
    /// The value's bytes.
    public var value: [UInt8]
    /// The revision (the bucket stream's sequence of this write).
    public var revision: UInt64
    /// When it was written, in nanoseconds since 1970 (UTC).
    public var created: Int64
}

/// A bound key-value bucket. Not shared between threads: confine it to one.
public final class KeyValueBucket {
    private let store: OpaquePointer
    /// The bucket's name.
    public let name: String

    init(store: OpaquePointer, name: String) {
        self.store = store
        self.name = name
    }

    deinit { kvStore_Destroy(store) }

    /// The key's value, or nil when it has none (never written, deleted, or expired).
    public func get(_ key: String) throws(NATSError) -> KeyValueEntry? {
        let operation = "read key \(key) of bucket \(name)"
        let arena = CStringArena()
        var entry: OpaquePointer?
        let status = kvStore_Get(&entry, store, try arena.string(key, for: operation))
        if status == NATS_NOT_FOUND { return nil }
        try check(status, operation)
        guard let entry else { return nil }
        defer { kvEntry_Destroy(entry) }
        guard kvEntry_Operation(entry) == kvOp_Put else { return nil }
        var value: [UInt8] = []
        let length = Int(max(kvEntry_ValueLen(entry), 0))
        if let bytes = kvEntry_Value(entry), length > 0 {
            value = Array(UnsafeRawBufferPointer(start: bytes, count: length))
        }
        return KeyValueEntry(value: value, revision: kvEntry_Revision(entry), created: kvEntry_Created(entry))
    }

    /// Writes the key only if it has no value; returns the new revision. Losing the race throws an error whose
    /// `isRevisionConflict` is true.
    public func create(_ key: String, value: [UInt8]) throws(NATSError) -> UInt64 {
        let operation = "create key \(key) of bucket \(name)"
        let arena = CStringArena()
        let cKey = try arena.string(key, for: operation)
        let length = try cInt(value.count, for: operation)
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes { kvStore_Create(&revision, store, cKey, $0.baseAddress, length) }
        try check(status, operation)
        return revision
    }

    /// Writes the key only if its revision is still `lastRevision`; returns the new revision. Another writer in
    /// between (or the entry having expired) throws an error whose `isRevisionConflict` is true.
    public func update(_ key: String, value: [UInt8], lastRevision: UInt64) throws(NATSError) -> UInt64 {
        let operation = "update key \(key) of bucket \(name) at revision \(lastRevision)"
        let arena = CStringArena()
        let cKey = try arena.string(key, for: operation)
        let length = try cInt(value.count, for: operation)
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes {
            kvStore_Update(&revision, store, cKey, $0.baseAddress, length, lastRevision)
        }
        try check(status, operation)
        return revision
    }

}
