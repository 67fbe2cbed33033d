// RFC 6962 root, inclusion-proof and consistency-proof computation over any store of complete subtrees.

/// Read access to the complete subtrees of an append-only Merkle tree.
///
/// Level 0 holds the leaf hashes; the node at `(level, index)` covers leaves
/// `[index << level, (index + 1) << level)`. Only complete subtrees exist; partial right-edge
/// subtrees are computed from them.
public protocol MerkleNodeSource {
    /// The number of leaves in the tree.
    var treeSize: UInt64 { get }
    /// The hash of the complete subtree at `level` and `index`.
    func node(level: Int, index: UInt64) throws -> SHA256Digest
}

/// Errors from proof generation.
public enum MerkleProofError: Error, CustomStringConvertible, Equatable {
    /// The leaf index is not inside the requested tree.
    case leafOutOfRange(leaf: UInt64, treeSize: UInt64)
    /// The requested tree size is larger than the tree.
    case treeSizeTooLarge(requested: UInt64, available: UInt64)
    /// A consistency proof needs `from <= to`.
    case invalidRange(from: UInt64, to: UInt64)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .leafOutOfRange(let leaf, let treeSize):
            "leaf \(leaf) is not in a tree of size \(treeSize) (leaves are numbered from 0)"
        case .treeSizeTooLarge(let requested, let available):
            "tree size \(requested) is larger than the ledger's \(available) events"
        case .invalidRange(let from, let to):
            "a consistency proof needs the first size (\(from)) to be at most the second (\(to))"
        }
    }
}

/// RFC 6962 §2.1 tree hashes and proofs, computed from a `MerkleNodeSource` in O(log n) node reads.
public struct MerkleTree<Source: MerkleNodeSource> {
    /// Where complete subtree hashes come from.
    public let source: Source
    private var memo: [Range<UInt64>: SHA256Digest] = [:]

    /// A tree view over `source`.
    public init(source: Source) {
        self.source = source
    }

    /// MTH(D[0:size]): the root hash of the first `size` leaves.
    public mutating func rootHash(treeSize size: UInt64) throws -> SHA256Digest {
        guard size <= source.treeSize else {
            throw MerkleProofError.treeSizeTooLarge(requested: size, available: source.treeSize)
        }
        return size == 0 ? MerkleHasher.emptyRoot : try hash(0..<size)
    }

    /// PATH(leaf, D[0:size]): the audit path of `leaf` in the tree of `size` leaves, leaf-most hash first.
    public mutating func inclusionProof(leaf: UInt64, treeSize size: UInt64) throws -> [SHA256Digest] {
        guard size <= source.treeSize else {
            throw MerkleProofError.treeSizeTooLarge(requested: size, available: source.treeSize)
        }
        guard leaf < size else { throw MerkleProofError.leafOutOfRange(leaf: leaf, treeSize: size) }
        var proof: [SHA256Digest] = []
        try path(leaf, 0..<size, into: &proof)
        return proof
    }

    /// PROOF(from, D[0:to]): the consistency proof between the trees of `from` and `to` leaves.
    public mutating func consistencyProof(from: UInt64, to: UInt64) throws -> [SHA256Digest] {
        guard to <= source.treeSize else {
            throw MerkleProofError.treeSizeTooLarge(requested: to, available: source.treeSize)
        }
        guard from <= to else { throw MerkleProofError.invalidRange(from: from, to: to) }
        guard from > 0, from < to else { return [] }
        var proof: [SHA256Digest] = []
        try subproof(from, 0..<to, complete: true, into: &proof)
        return proof
    }

    /// The hash of the leaves in `range`, which is a node of the RFC 6962 recursion.
    private mutating func hash(_ range: Range<UInt64>) throws -> SHA256Digest {
        let count = range.count
        if count & (count - 1) == 0 {
            let level = UInt64(count).trailingZeroBitCount
            return try source.node(level: level, index: range.lowerBound >> level)
        }
        if let known = memo[range] { return known }
        let split = range.lowerBound + Self.largestPowerOfTwo(below: UInt64(count))
        let result = MerkleHasher.nodeHash(
            try hash(range.lowerBound..<split), try hash(split..<range.upperBound))
        memo[range] = result
        return result
    }

    private mutating func path(_ leaf: UInt64, _ range: Range<UInt64>, into proof: inout [SHA256Digest]) throws {
        guard range.count > 1 else { return }
        let split = range.lowerBound + Self.largestPowerOfTwo(below: UInt64(range.count))
        if leaf < split {
            try path(leaf, range.lowerBound..<split, into: &proof)
            proof.append(try hash(split..<range.upperBound))
        } else {
            try path(leaf, split..<range.upperBound, into: &proof)
            proof.append(try hash(range.lowerBound..<split))
        }
    }

    private mutating func subproof(
        _ m: UInt64, _ range: Range<UInt64>, complete: Bool, into proof: inout [SHA256Digest]
    ) throws {
        let n = UInt64(range.count)
        if m == n {
            if !complete { proof.append(try hash(range)) }
            return
        }
        let k = Self.largestPowerOfTwo(below: n)
        let split = range.lowerBound + k
        if m <= k {
            try subproof(m, range.lowerBound..<split, complete: complete, into: &proof)
            proof.append(try hash(split..<range.upperBound))
        } else {
            try subproof(m - k, split..<range.upperBound, complete: false, into: &proof)
            proof.append(try hash(range.lowerBound..<split))
        }
    }

    /// The largest power of two strictly less than `n` (n >= 2).
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        1 << (63 - (n - 1).leadingZeroBitCount)
    }
}

/// A tree held in memory, level by level: for tests, verification of small trees and proof fixtures.
public struct InMemoryMerkleTree: MerkleNodeSource, Sendable {
    private var levels: [[SHA256Digest]] = []
    private var frontier = MerkleFrontier()

    /// An empty tree.
    public init() {}

    /// A tree over the given leaf hashes.
    public init(leafHashes: some Sequence<SHA256Digest>) {
        for hash in leafHashes { append(leafHash: hash) }
    }

    /// The number of leaves.
    public var treeSize: UInt64 { frontier.size }

    /// The current root hash.
    public var rootHash: SHA256Digest { frontier.rootHash }

    /// Appends one leaf hash.
    public mutating func append(leafHash: SHA256Digest) {
        var completed: [MerkleFrontier.Node] = []
        frontier.append(leafHash: leafHash) { completed.append($0) }
        for node in completed {
            if node.level == levels.count { levels.append([]) }
            levels[node.level].append(node.hash)
        }
    }

    /// The stored hash of a complete subtree.
    public func node(level: Int, index: UInt64) throws -> SHA256Digest {
        levels[level][Int(index)]
    }
}
