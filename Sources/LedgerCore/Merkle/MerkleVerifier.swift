// RFC 9162 §2.1.3.2 and §2.1.4.2: checking inclusion and consistency proofs against root hashes.
// The decomposition into "inner" and "border" parts follows transparency-dev/merkle's verifier.

/// Why a proof was rejected.
public enum MerkleVerificationError: Error, CustomStringConvertible, Equatable {
    /// The leaf index is not below the tree size.
    case leafIndexOutOfRange(leaf: UInt64, treeSize: UInt64)
    /// The proof has more or fewer hashes than the tree shape requires.
    case wrongProofLength(expected: Int, actual: Int)
    /// The recomputed root differs from the expected one.
    case rootMismatch(computed: SHA256Digest, expected: SHA256Digest)
    /// The sizes of a consistency proof are out of order.
    case sizesOutOfOrder(first: UInt64, second: UInt64)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .leafIndexOutOfRange(let leaf, let treeSize):
            "leaf index \(leaf) is not inside a tree of size \(treeSize)"
        case .wrongProofLength(let expected, let actual):
            "proof has \(actual) hashes where the tree shape requires \(expected)"
        case .rootMismatch(let computed, let expected):
            "proof leads to root \(computed.hex), expected \(expected.hex)"
        case .sizesOutOfOrder(let first, let second):
            "consistency proof from size \(first) to the smaller size \(second)"
        }
    }
}

/// Verifies RFC 6962 proofs without any access to the tree.
public enum MerkleVerifier {
    /// Checks that `leafHash` is leaf `leaf` of the tree of `treeSize` leaves whose root is `root`.
    public static func verifyInclusion(
        leaf: UInt64, treeSize: UInt64, leafHash: SHA256Digest, proof: [SHA256Digest], root: SHA256Digest
    ) throws(MerkleVerificationError) {
        let computed = try rootFromInclusionProof(leaf: leaf, treeSize: treeSize, leafHash: leafHash, proof: proof)
        guard computed == root else { throw .rootMismatch(computed: computed, expected: root) }
    }

    /// The root that an inclusion proof leads to.
    public static func rootFromInclusionProof(
        leaf: UInt64, treeSize: UInt64, leafHash: SHA256Digest, proof: [SHA256Digest]
    ) throws(MerkleVerificationError) -> SHA256Digest {
        guard leaf < treeSize else { throw .leafIndexOutOfRange(leaf: leaf, treeSize: treeSize) }
        let (inner, border) = decomposeInclusionProof(leaf: leaf, treeSize: treeSize)
        guard proof.count == inner + border else {
            throw .wrongProofLength(expected: inner + border, actual: proof.count)
        }
        let hash = chainInner(leafHash, proof[..<inner], index: leaf)
        return chainBorderRight(hash, proof[inner...])
    }

    /// Checks that the tree of `secondSize` leaves with root `secondRoot` extends the tree of `firstSize`
    /// leaves with root `firstRoot`.
    public static func verifyConsistency(
        firstSize: UInt64, secondSize: UInt64, firstRoot: SHA256Digest, secondRoot: SHA256Digest,
        proof: [SHA256Digest]
    ) throws(MerkleVerificationError) {
        guard firstSize <= secondSize else { throw .sizesOutOfOrder(first: firstSize, second: secondSize) }
        if firstSize == secondSize {
            guard proof.isEmpty else { throw .wrongProofLength(expected: 0, actual: proof.count) }
            guard firstRoot == secondRoot else { throw .rootMismatch(computed: secondRoot, expected: firstRoot) }
            return
        }
        if firstSize == 0 {
            guard proof.isEmpty else { throw .wrongProofLength(expected: 0, actual: proof.count) }
            guard firstRoot == MerkleHasher.emptyRoot else {
                throw .rootMismatch(computed: MerkleHasher.emptyRoot, expected: firstRoot)
            }
            return
        }
        var (inner, border) = decomposeInclusionProof(leaf: firstSize - 1, treeSize: secondSize)
        let shift = firstSize.trailingZeroBitCount
        inner -= shift
        // The proof starts with the root of the subtree of size 2^shift, unless firstSize is that size.
        let seedIsFirstRoot = firstSize == 1 << shift
        let start = seedIsFirstRoot ? 0 : 1
        guard proof.count == start + inner + border else {
            throw .wrongProofLength(expected: start + inner + border, actual: proof.count)
        }
        let seed = seedIsFirstRoot ? firstRoot : proof[0]
        let rest = proof[start...]
        let mask = (firstSize - 1) >> shift
        let innerPart = rest.prefix(inner)
        let borderPart = rest.dropFirst(inner)
        let first = chainBorderRight(chainInnerRight(seed, innerPart, index: mask), borderPart)
        guard first == firstRoot else { throw .rootMismatch(computed: first, expected: firstRoot) }
        let second = chainBorderRight(chainInner(seed, innerPart, index: mask), borderPart)
        guard second == secondRoot else { throw .rootMismatch(computed: second, expected: secondRoot) }
    }

    /// Splits the inclusion proof of `leaf` into the part below the tree's right border and the part on it.
    static func decomposeInclusionProof(leaf: UInt64, treeSize: UInt64) -> (inner: Int, border: Int) {
        let inner = 64 - (leaf ^ (treeSize - 1)).leadingZeroBitCount
        return (inner, (leaf >> inner).nonzeroBitCount)
    }

    private static func chainInner(
        _ seed: SHA256Digest, _ proof: ArraySlice<SHA256Digest>, index: UInt64
    )
        -> SHA256Digest
    {
        var hash = seed
        for (level, sibling) in proof.enumerated() {
            hash = index >> level & 1 == 0 ? MerkleHasher.nodeHash(hash, sibling) : MerkleHasher.nodeHash(sibling, hash)
        }
        return hash
    }

    private static func chainInnerRight(
        _ seed: SHA256Digest, _ proof: ArraySlice<SHA256Digest>, index: UInt64
    )
        -> SHA256Digest
    {
        var hash = seed
        for (level, sibling) in proof.enumerated() where index >> level & 1 == 1 {
            hash = MerkleHasher.nodeHash(sibling, hash)
        }
        return hash
    }

    private static func chainBorderRight(_ seed: SHA256Digest, _ proof: ArraySlice<SHA256Digest>) -> SHA256Digest {
        proof.reduce(seed) { MerkleHasher.nodeHash($1, $0) }
    }
}
