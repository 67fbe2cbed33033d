// How a long operation reports how far it got: the CLI draws a progress bar, a server reports otherwise.

/// Receives an operation's progress, stage by stage (`retention`, `compaction`, `crm apply`, a projection's name).
public protocol OperationProgress: AnyObject {
    /// `done` of `total` units of `stage` are done.
    func update(_ stage: String, done: UInt64, total: UInt64)
    /// `stage` is over.
    func finish(_ stage: String)
}

/// Progress nobody watches.
public final class NoProgress: OperationProgress {
    /// A sink that drops every report.
    public init() {}

    /// Drops the report.
    public func update(_ stage: String, done: UInt64, total: UInt64) {}

    /// Drops the report.
    public func finish(_ stage: String) {}
}
