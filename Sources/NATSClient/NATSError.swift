// NATSError: every failing natsStatus of the C client as a typed Swift error, with the library's own text.
import CNats

/// A failed call into the NATS C client: which operation, the `natsStatus`, the JetStream error code when the
/// server sent one, and the text the library gave (`nats_GetLastError`, else `natsStatus_GetText`).
public struct NATSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was being done, e.g. `publish to call-ledger.demo.0`.
    public var operation: String
    /// The raw `natsStatus` value (0 is `NATS_OK`, never seen here).
    public var status: UInt32
    /// The JetStream API error code (`jsErrCode`), 0 when the server sent none.
    public var jetStreamCode: Int
    /// The library's text for the failure.
    public var message: String

    /// An error made by this wrapper itself (bad argument before any C call).
    public init(operation: String, message: String) {
        self.operation = operation
        self.status = NATS_INVALID_ARG.rawValue
        self.jetStreamCode = 0
        self.message = message
    }

    init(operation: String, status: natsStatus, jetStreamCode: jsErrCode = jsErrCode(0)) {
        self.operation = operation
        self.status = status.rawValue
        self.jetStreamCode = Int(jetStreamCode.rawValue)
        let statusText = natsStatus_GetText(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
        var lastStatus = NATS_OK
        let last = nats_GetLastError(&lastStatus).map { String(cString: $0) } ?? ""
        self.message = last.isEmpty || lastStatus != status ? statusText : last
    }

    /// The operation timed out (`NATS_TIMEOUT`).
    public var isTimeout: Bool { status == NATS_TIMEOUT.rawValue }
    /// The thing asked for does not exist (`NATS_NOT_FOUND`, or JetStream's stream/consumer not found).
    public var isNotFound: Bool {
        status == NATS_NOT_FOUND.rawValue || jetStreamCode == Int(JSStreamNotFoundErr.rawValue)
            || jetStreamCode == Int(JSConsumerNotFoundErr.rawValue)
    }
    /// A compare-and-set lost: the key's revision was not the one expected (the server's "wrong last sequence").
    public var isRevisionConflict: Bool {
        jetStreamCode == Int(JSStreamWrongLastSequenceErr.rawValue) || message.contains("wrong last sequence")
    }

    /// One line a person can act on.
    public var description: String {
        let code = jetStreamCode == 0 ? "" : " (JetStream error \(jetStreamCode))"
        return "NATS: \(operation) failed: \(message)\(code)"
    }
}

/// Throws a `NATSError` for `operation` unless `status` is `NATS_OK`.
func check(
    _ status: natsStatus, _ operation: @autoclosure () -> String, code: jsErrCode = jsErrCode(0)
) throws(NATSError) {
    guard status != NATS_OK else { return }
    throw NATSError(operation: operation(), status: status, jetStreamCode: code)
}
