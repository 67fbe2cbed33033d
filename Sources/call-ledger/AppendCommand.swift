// call-ledger append: JSON lines in, one acknowledgement line out per event once it is durable.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerStore

struct AppendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append interchange events (JSON lines) from FILE or standard input.",
        discussion: """
            Each event is acknowledged once it is durable (written and fsynced) with one line: \
            {"seq":N,"idempotency":"…","status":"appended"|"duplicate"}. An event whose idempotency key is \
            already in the ledger is a duplicate and is not appended again. A line that fails validation stops \
            the run with exit code 2 and a message naming the line, the field and the reason: every event before \
            it stays, nothing from it on is appended. With --atomic the whole input is validated first and \
            appended as one frame, all or nothing.

            Zero retention: when a retention policy (--policies) keeps a data class of a call `zero`, its data \
            key is never written to disk. It lives in this process until the class's trigger event (call.ended, \
            crm.write, payment.authorized) is appended; then it is dropped and a retention.purged (method \
            zero-retention, not acknowledged on standard output) is appended right after the trigger. If the \
            process ends first, the key is lost with it and what it sealed reads as redacted.
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var policyDirectory: PolicyDirectory
    @OptionGroup var lock: WriterLockOptions

    @Argument(help: "A file of JSON lines, or - for standard input (the default).")
    var input: String = "-"

    @Flag(help: "Validate the whole input first, then append all of it as one frame, or nothing.")
    var atomic = false

    func run() throws {
        _ = try options.directory()
        let descriptor: Int32 = input == "-" ? 0 : open(input, O_RDONLY)
        guard descriptor >= 0 else {
            Output.error("call-ledger: error: cannot read \(input): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let writer = try reportingErrors { try policyDirectory.openWriter(options, lockWait: lock.wait) }
        if let tail = writer.recovery.truncatedTail {
            Output.error(
                "call-ledger: recovered: cut a torn last frame from \(tail.segment) at byte \(tail.offset) (\(tail.bytes) bytes): \(tail.reason)"
            )
        }
        if let repair = writer.treeRepair { Output.error("call-ledger: recovered: \(repair)") }
        var rejected: EventDecodingError?
        try reportingErrors {
            if atomic {
                rejected = try appendAtomically(writer, descriptor: descriptor)
            } else {
                let outcome = try writer.appendLines(from: descriptor) { results in
                    Output.write(Self.acknowledgements(results))
                }
                rejected = outcome.rejected
            }
            try writer.close()
        }
        if let rejected {
            Output.error("call-ledger: rejected input \(input == "-" ? "(stdin)" : input), \(rejected)")
            throw ExitCode(2)
        }
    }

    private func appendAtomically(_ writer: LedgerWriter, descriptor: Int32) throws -> EventDecodingError? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        var decoder = EventDecoder(maximumEventBytes: writer.configuration.maximumEventBytes)
        var events: [DecodedEvent] = []
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            var trimmed = line
            if trimmed.last == 0x0D { trimmed = trimmed.dropLast() }
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let decoded = trimmed.withUnsafeBytes { raw in
                Result { () throws(EventDecodingError) in try decoder.decode(raw, lineNumber: index + 1) }
            }
            switch decoded {
            case .success(let event): events.append(event)
            case .failure(let error): return error
            }
        }
        let outcome = Result { () throws(LedgerError) in try writer.appendAtomically(events) }
        if case .failure(let error) = outcome, case .batchTooLarge = error {
            // Rejected input (exit 2), refused before any of it was staged: the ledger is as it was.
            Output.error("call-ledger: rejected input \(input == "-" ? "(stdin)" : input): \(error)")
            try writer.close()
            throw ExitCode(2)
        }
        let results = try outcome.get()
        Output.write(Self.acknowledgements(results))
        return nil
    }

    static func acknowledgements(_ results: [AppendResult]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(results.count * 80)
        for result in results {
            out.appendASCII("{\"seq\":")
            out.appendJSONInteger(result.seq)
            out.appendASCII(",\"idempotency\":")
            out.appendJSONString(result.idempotency)
            out.appendASCII(",\"status\":\"")
            out.append(contentsOf: result.status.rawValue.utf8)
            out.appendASCII("\"}\n")
        }
        return out
    }
}
