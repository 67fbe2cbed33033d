// RFC 6962 proofs anchored to signed checkpoints: inclusion of an event, consistency between two tree sizes, and a
// call's redaction proof.
public import LedgerStore

/// The proofs the ledger gives.
public struct ProofOperations: Sendable {
    /// The ledger.
    public var ledger: LedgerLocation

    /// Proofs of the ledger at `ledger`.
    public init(ledger: LedgerLocation) {
        self.ledger = ledger
    }

    /// That event `seq` is in the tree of size `treeSize` (default: the latest checkpoint's).
    public func inclusion(seq: UInt64, treeSize: UInt64?) throws(LedgerError) -> InclusionProof {
        try ledger.reader().inclusionProof(seq: seq, treeSize: treeSize)
    }

    /// That the tree of size `to` extends the tree of size `from`.
    public func consistency(from: UInt64, to: UInt64) throws(LedgerError) -> ConsistencyProof {
        try ledger.reader().consistencyProof(from: from, to: to)
    }

    /// That `call`'s erased data classes were committed to before erasure and are gone now.
    public func redaction(call: String) throws(LedgerError) -> RedactionProof {
        try ledger.reader().redactionProof(call: call)
    }
}
