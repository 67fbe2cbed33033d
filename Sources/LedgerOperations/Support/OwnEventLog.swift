// Appending the ledger's own events: decoded from their typed form and appended atomically, batch by batch.
public import LedgerCore
public import LedgerStore

/// Appends events the ledger makes itself (holds, assignments, purges, compactions, definition changes, CRM
/// writes).
public enum OwnEventLog {
    /// How many of its own events the ledger appends in one atomic batch (and, in a retention run, how many purges
    /// one key-store transaction journals). Each batch costs a key-store and an index commit and a frame sync:
    /// with 500, a retention run erasing 10,000 calls made 40 of each; with 2,000 it makes 10 (0.6 s less).
    public static let batchSize = 2000

    /// Appends `events` in one durable, atomic batch through `writer`; an event that does not validate fails the
    /// whole batch with the error naming its position (1-based) and field, and nothing is appended.
    public static func append(_ events: [any OwnEventConvertible], with writer: LedgerWriter) throws -> [AppendResult] {
        var decoder = EventDecoder(maximumEventBytes: writer.configuration.maximumEventBytes)
        var decoded: [DecodedEvent] = []
        decoded.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            decoded.append(try event.ownEvent.decoded(with: &decoder, lineNumber: index + 1))
        }
        return try writer.appendAtomically(decoded)
    }
}
