// ShardMap: which shard an event belongs to: FNV-1a 64 of the tenant id (or, for a tenant sharded by call, of
// the call id), modulo the shard count. Stable across versions and machines; FORMAT.md §13 documents it.
extension ClusterConfiguration {
    /// The shard of an event of `call` for `tenant`.
    public func shard(tenant: String, call: String) -> Int {
        let key = tenantsByCall.contains(tenant) ? call : tenant
        return Int(Self.fnv1a64(Array(key.utf8)) % UInt64(shards))
    }

    /// FNV-1a, 64 bits: offset basis 0xcbf29ce484222325, prime 0x100000001b3, over the UTF-8 bytes.
    public static func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
