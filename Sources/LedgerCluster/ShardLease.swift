// ShardLease: one writer per shard, held as a key in a JetStream key-value bucket: taken by create (key absent or
// expired) or by compare-and-set on a released record, renewed by compare-and-set on the revision held; the
// bucket's max age (the lease TTL) removes the key of a writer that stopped renewing.
import Foundation
public import NATSClient

/// The lease record stored under a shard's key (JSON).
public struct LeaseRecord: Codable, Sendable, Equatable {
    /// The writer's id (`--id`, by default host:pid).
    public var holder: String
    /// The writer's process id.
    public var pid: Int32
    /// The writer's host name.
    public var host: String
    /// When it was last renewed, milliseconds since 1970 (UTC).
    public var renewedMs: Int64
    /// True once the holder gave it up (a standby may take it at once).
    public var released: Bool
}

/// A lease as read from the bucket.
public struct LeaseState: Sendable, Equatable {
    /// The record.
    public var record: LeaseRecord
    /// Its revision in the bucket.
    public var revision: UInt64
}

/// One writer's handle on a shard's lease. Not shared between threads.
public final class ShardLease {
    private let bucket: KeyValueBucket
    private let key: String
    private let holder: String
    /// The revision this writer holds, nil while it holds nothing.
    public private(set) var revision: UInt64?

    /// A handle for `holder` on `key` of `bucket`.
    public init(bucket: KeyValueBucket, key: String, holder: String) {
        self.bucket = bucket
        self.key = key
        self.holder = holder
    }

    /// The lease as stored now, nil when no one holds it (absent or expired).
    public static func read(bucket: KeyValueBucket, key: String) throws(NATSError) -> LeaseState? {
        guard let entry = try bucket.get(key) else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let record = try? decoder.decode(LeaseRecord.self, from: Data(entry.value)) else { return nil }
        return LeaseState(record: record, revision: entry.revision)
    }

    /// Takes the lease if no one holds it; true when this writer holds it now.
    public func tryAcquire() throws(NATSError) -> Bool {
        do throws(NATSError) {
            if let current = try Self.read(bucket: bucket, key: key) {
                guard current.record.released else { return false }
                revision = try bucket.update(key, value: record(released: false), lastRevision: current.revision)
            } else {
                revision = try bucket.create(key, value: record(released: false))
            }
            return true
        } catch  where error.isRevisionConflict {
            return false
        }
    }

    /// Renews the lease; false when it was lost (another writer took it, or it expired and was taken).
    public func renew() throws(NATSError) -> Bool {
        guard let held = revision else { return false }
        do throws(NATSError) {
            revision = try bucket.update(key, value: record(released: false), lastRevision: held)
            return true
        } catch  where error.isRevisionConflict || error.isNotFound {
            revision = nil
            return false
        }
    }

    /// Gives the lease up so a standby can take it without waiting for the TTL.
    public func release() throws(NATSError) {
        guard let held = revision else { return }
        revision = nil
        do throws(NATSError) {
            _ = try bucket.update(key, value: record(released: true), lastRevision: held)
        } catch  where error.isRevisionConflict {
            return
        }
    }

    private func record(released: Bool) -> [UInt8] {
        let record = LeaseRecord(
            holder: holder, pid: getpid(), host: ProcessInfo.processInfo.hostName,
            renewedMs: Int64(Date().timeIntervalSince1970 * 1000), released: released)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(record)).map(Array.init) ?? []
    }
}
