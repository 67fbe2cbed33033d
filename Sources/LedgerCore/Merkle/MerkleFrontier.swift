// The right edge of an append-only Merkle tree: enough to append leaves and compute the root without
// the rest of the tree.

/// The complete subtrees on the right edge of a tree (a "compact range" starting at leaf 0).
///
/// Appending a leaf yields every complete subtree it finishes, which the tree storage writes out; the
/// root of the current tree is the RFC 6962 fold of the edge from right to left.
public struct MerkleFrontier: Sendable, Equatable {
    /// A complete subtree finished by an append: its level (0 = leaf), index within the level and hash.
    public struct Node: Sendable, Equatable {
        /// Height of the subtree; 0 is a leaf.
        public var level: Int
        /// Position of the subtree among the complete subtrees of that level.
        public var index: UInt64
        /// The subtree's hash.
        public var hash: SHA256Digest
    }

    /// Number of leaves appended so far.
    public private(set) var size: UInt64 = 0
    /// Hashes of the edge's complete subtrees, by level; `nil` where `size` has a zero bit.
    private var edge: [SHA256Digest?] = []

    /// An empty frontier.
    public init() {}

    /// Rebuilds a frontier for a tree of `size` leaves from its stored complete subtrees.
    public init(size: UInt64, node: (_ level: Int, _ index: UInt64) throws -> SHA256Digest) rethrows {
        self.size = size
        var level = 0
        while size >> level > 0 {
            if size >> level & 1 == 1 {
                let index = (size >> level) - 1
                edge.append(try node(level, index))
            } else {
                edge.append(nil)
            }
            level += 1
        }
    }

    /// Appends a leaf hash, calling `completed` for each complete subtree this finishes (the leaf first).
    public mutating func append(leafHash: SHA256Digest, completed: (Node) throws -> Void) rethrows {
        try completed(Node(level: 0, index: size, hash: leafHash))
        try append(subtreeHash: leafHash, level: 0, completed: completed)
    }

    /// Appends the hash of a complete subtree of `2^level` leaves, which must start where the tree ends
    /// (`size` is a multiple of `2^level`): the same as appending its leaves one by one. `completed` is called
    /// for each larger subtree this finishes.
    public mutating func append(subtreeHash: SHA256Digest, level: Int, completed: (Node) throws -> Void) rethrows {
        precondition(
            size & ((1 << level) - 1) == 0, "subtree of level \(level) does not start at a multiple of its size")
        var hash = subtreeHash
        var currentLevel = level
        var index = size >> level
        while edge.count < level { edge.append(nil) }
        while index & 1 == 1 {
            let left = edge[currentLevel]!
            edge[currentLevel] = nil
            hash = MerkleHasher.nodeHash(left, hash)
            currentLevel += 1
            index >>= 1
            try completed(Node(level: currentLevel, index: index, hash: hash))
        }
        if currentLevel == edge.count { edge.append(hash) } else { edge[currentLevel] = hash }
        size += 1 << level
    }

    /// Appends a leaf hash, discarding the completed subtrees.
    public mutating func append(leafHash: SHA256Digest) {
        append(leafHash: leafHash) { _ in }
    }

    /// The RFC 6962 root hash of the tree so far.
    public var rootHash: SHA256Digest {
        var root: SHA256Digest?
        for hash in edge {
            guard let hash else { continue }
            root = root.map { MerkleHasher.nodeHash(hash, $0) } ?? hash
        }
        return root ?? MerkleHasher.emptyRoot
    }
}
