// Signing a checkpoint without opening the ledger for appending: the writer lock, recovery and the tree check
// that `LedgerWriter.init` does, but not the idempotency index (every event's fingerprint) that only appends
// need, so a checkpoint costs the same on a ledger of any size.
public import LedgerCore

/// A signed and stored checkpoint, and what opening the ledger repaired first.
public struct StoredCheckpoint: Sendable {
    /// The checkpoint.
    public var checkpoint: Checkpoint
    /// Its signed note, as stored in `checkpoints/`.
    public var note: String
    /// What recovery found and did.
    public var recovery: RecoveryReport
    /// The stored tree's damage that was repaired from the log, when there was any.
    public var treeRepair: String?
}

extension LedgerWriter {
    /// Signs and stores a checkpoint of the whole log of the ledger in `directory`: takes the writer lock
    /// (waiting up to `lockWait` seconds while another writer holds it), recovers the index and the tree as a
    /// writer does, checks the tree against the latest checkpoint and the log, signs the root with the key file's
    /// signer, and releases the lock.
    public static func signCheckpoint(
        directory: String, keyFilePath: String? = nil, lockWait: Double = 0
    ) throws(LedgerError) -> StoredCheckpoint {
        let layout = LedgerLayout(directory: directory)
        _ = try LedgerConfiguration.load(layout)
        let lockFile = try takeLock(layout, wait: lockWait)
        defer { lockFile.unlock() }
        let keyPath = keyFilePath ?? layout.defaultKeyFile
        let keyFile = try KeyFile.load(from: keyPath)
        let storage = try LedgerStorage(layout: layout, writable: true)
        guard keyFile.signer.verifierKey == storage.verifierKey else {
            throw .keyFile(path: keyPath, reason: "its signer does not match verifier.key of \(directory)")
        }
        let recovery = try storage.recover()
        let treeCheck = try storage.checkTree()
        let (checkpoint, note) = try signAndStoreCheckpoint(
            of: treeCheck.frontier, storage: storage, signer: keyFile.signer, origin: storage.configuration.origin)
        return StoredCheckpoint(checkpoint: checkpoint, note: note, recovery: recovery, treeRepair: treeCheck.repair)
    }
}

extension TreeCheckReport {
    /// What was repaired, for a person: the damage found and where the tree was rewritten from; nil when the
    /// stored tree was sound.
    var repair: String? {
        guard let damage else { return nil }
        return "\(damage); rewrote tree/ from leaf \(rebuiltFrom ?? 0) on, recomputed from the log"
    }
}
