// Placing and releasing legal holds: one legal.hold.placed or legal.hold.released per selected call.
public import LedgerCore
import LedgerProjections
public import LedgerStore

/// Places or releases a legal hold on calls. Placing the same hold again appends nothing; after a release, a new
/// hold id is needed.
public struct LegalHoldOperation: Sendable {
    /// The ledger.
    public var ledger: LedgerLocation
    /// The calls.
    public var selection: CallSelection
    /// Placing or releasing.
    public var action: LegalHoldEvent.Action
    /// The hold's id: a case or matter number.
    public var hold: String
    /// Why (kept in the log).
    public var reason: String
    /// Who asked.
    public var by: String?

    /// `action` of hold `hold` on the calls `selection` names.
    public init(
        ledger: LedgerLocation, selection: CallSelection, action: LegalHoldEvent.Action, hold: String,
        reason: String, by: String?
    ) {
        self.ledger = ledger
        self.selection = selection
        self.action = action
        self.hold = hold
        self.reason = reason
        self.by = by
    }

    /// Appends the events atomically; one acknowledgement per call, `duplicate` where the hold was already
    /// placed (or released).
    public func run() throws -> [AppendResult] {
        let engine = ProjectionEngine(reader: try ledger.reader())
        let calls = try selection.resolve(engine)
        let writer = try ledger.writer()
        defer { try? writer.close() }
        let events = calls.map { call, tenant in
            LegalHoldEvent(action: action, call: call, tenant: tenant, hold: hold, reason: reason, by: by)
        }
        return try OwnEventLog.append(events, with: writer)
    }
}
