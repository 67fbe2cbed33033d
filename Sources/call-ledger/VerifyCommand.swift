// call-ledger verify: recompute every leaf and the tree; check checkpoints and their consistency.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerStore

/// The JSON form of a verification.
struct VerifyOutput: Encodable {
    var ok: Bool
    var events: UInt64
    var frames: Int
    var segments: Int
    var bytes: Int
    var checkpoints: Int
    var consistencyProofs: Int
    var rootHash: String
    var seconds: Double
    var eventsPerSecond: Double
    var fault: Fault?

    struct Fault: Encodable {
        var file: String
        var offset: Int
        var seq: UInt64?
        var reason: String
    }

    enum CodingKeys: String, CodingKey {
        case ok, events, frames, segments, bytes, checkpoints, seconds, fault
        case consistencyProofs = "consistency_proofs"
        case rootHash = "root_hash"
        case eventsPerSecond = "events_per_second"
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the whole ledger from its segments; exit 1 at the first fault.",
        discussion: """
            Decompresses every frame (checking zstd checksums), recomputes every RFC 6962 leaf and node and \
            compares them with the stored tree, checks every checkpoint's Ed25519 signature and root, and the \
            consistency proof between each pair of successive checkpoints. A fault is reported with the file, \
            the byte offset and the first affected seq.
            """)

    @OptionGroup var options: LedgerOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let directory = try options.directory()
        let report = try reportingErrors { () throws -> VerificationReport in
            let reader = try LedgerReader(
                directory: directory, keyFilePath: options.keyFilePath, allowingCorruptTail: true)
            var bar = ProgressBar(label: "verify")
            let start = Date()
            var report = try reader.verify { done, total in bar.update(done: done, total: total) }
            bar.finish()
            report.seconds = Date().timeIntervalSince(start)
            return report
        }
        let rate = report.seconds > 0 ? Double(report.events) / report.seconds : 0
        if let torn = report.tornTail { Output.error("call-ledger: note: \(torn)") }
        if json {
            try Output.json(
                VerifyOutput(
                    ok: report.fault == nil, events: report.events, frames: report.frames, segments: report.segments,
                    bytes: report.bytes, checkpoints: report.checkpoints, consistencyProofs: report.consistencyProofs,
                    rootHash: report.rootHash.hex, seconds: report.seconds, eventsPerSecond: rate,
                    fault: report.fault.map {
                        VerifyOutput.Fault(file: $0.file, offset: $0.offset, seq: $0.seq, reason: $0.reason)
                    }))
        } else if let fault = report.fault {
            Output.line("FAILED: \(fault)")
        } else {
            Output.line(
                "OK: \(report.events) events in \(report.frames) frames across \(report.segments) segments, root \(report.rootHash.hex)"
            )
            Output.line(
                "\(report.checkpoints) checkpoints (signature and root), \(report.consistencyProofs) consistency proofs; \(Int(rate)) events/s"
            )
        }
        if report.fault != nil { throw ExitCode(1) }
    }
}
