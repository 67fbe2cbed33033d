// Where an operation finds its ledger: the directory, the key file and how long a writer waits for the lock.
public import LedgerStore

/// A ledger as operations open it.
public struct LedgerLocation: Sendable, Equatable {
    /// The ledger directory.
    public var directory: String
    /// The key file, nil for the default (`DIR.key`).
    public var keyFilePath: String?
    /// Seconds a writer waits while another holds the lock (0: give up at once).
    public var lockWait: Double

    /// The ledger in `directory` with key file `keyFilePath`; writers wait `lockWait` seconds for the lock.
    public init(directory: String, keyFilePath: String? = nil, lockWait: Double = 5) {
        self.directory = directory
        self.keyFilePath = keyFilePath
        self.lockWait = lockWait
    }

    /// A new reader of the ledger as it is now.
    public func reader() throws(LedgerError) -> LedgerReader {
        try LedgerReader(directory: directory, keyFilePath: keyFilePath)
    }

    /// The writer, holding the ledger's lock until closed.
    public func writer() throws(LedgerError) -> LedgerWriter {
        try LedgerWriter(directory: directory, keyFilePath: keyFilePath, lockWait: lockWait)
    }
}
