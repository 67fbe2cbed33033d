// call-ledger verify: recompute every leaf and the tree; check checkpoints and their consistency, the derived
// index against the log, and the projections' state (recomputed into a scratch directory with --projections).
import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
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
    /// Each projection's state as checked (version and checkpoint; rows with --projections).
    var projections: [ProjectionCheck]
    /// Where a projection's stored state differs from the log (ids and column names only).
    var differences: [ProjectionDifference]

    struct Fault: Encodable {
        var file: String
        var offset: Int
        var seq: UInt64?
        var reason: String
    }

    enum CodingKeys: String, CodingKey {
        case ok, events, frames, segments, bytes, checkpoints, seconds, fault, projections, differences
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
            the byte offset and the first affected seq. Then compares index.sqlite, which is derived, with what \
            indexing the segments yields (repair: `call-ledger reindex`), and checks each projection's version and \
            checkpoint against the log. With --projections, also recomputes each projection from the log into a \
            scratch directory, up to its stored checkpoint, and reports every row that differs by projection, \
            table, call and column (repair: `call-ledger rebuild`).
            """)

    @OptionGroup var options: LedgerOptions

    @Flag(help: "Also recompute every projection from the log and compare it with the stored state, row by row.")
    var projections = false

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let directory = try options.directory()
        let (report, checks, differences) = try reportingErrors {
            () throws -> (VerificationReport, [ProjectionCheck], [ProjectionDifference]) in
            let reader = try LedgerReader(
                directory: directory, keyFilePath: options.keyFilePath, allowingCorruptTail: true)
            var bar = ProgressBar(label: "verify")
            let start = Date()
            var report = try reader.verify { done, total in bar.update(done: done, total: total) }
            bar.finish()
            report.seconds = Date().timeIntervalSince(start)
            guard report.fault == nil else { return (report, [], []) }
            let scratch = projections ? try Self.scratchDirectory() : nil
            defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
            let (checks, differences) = try ProjectionEngine(reader: reader).check(scratch: scratch)
            return (report, checks, differences)
        }
        let ok = report.fault == nil && differences.isEmpty
        let rate = report.seconds > 0 ? Double(report.events) / report.seconds : 0
        if let torn = report.tornTail { Output.error("call-ledger: note: \(torn)") }
        if json {
            try Output.json(
                VerifyOutput(
                    ok: ok, events: report.events, frames: report.frames, segments: report.segments,
                    bytes: report.bytes, checkpoints: report.checkpoints, consistencyProofs: report.consistencyProofs,
                    rootHash: report.rootHash.hex, seconds: report.seconds, eventsPerSecond: rate,
                    fault: report.fault.map {
                        VerifyOutput.Fault(file: $0.file, offset: $0.offset, seq: $0.seq, reason: $0.reason)
                    }, projections: checks, differences: differences))
        } else if let fault = report.fault {
            Output.line("FAILED: \(fault)")
        } else {
            Output.line(
                "OK: \(report.events) events in \(report.frames) frames across \(report.segments) segments, root \(report.rootHash.hex)"
            )
            Output.line(
                "\(report.checkpoints) checkpoints (signature and root), \(report.consistencyProofs) consistency proofs; \(Int(rate)) events/s"
            )
            for check in checks {
                let at = check.checkpoint.map { " at seq \($0)" } ?? ""
                let rows =
                    projections
                    ? (check.rows > 0 ? ", \(check.rows) rows compared" : "")
                    : (check.checkpoint != nil ? " (version and checkpoint; --projections compares its rows)" : "")
                Output.line("projection \(check.projection)\(at): \(check.status)\(rows)")
            }
            for difference in differences { Output.line("FAILED: projections/\(difference)") }
            if !differences.isEmpty {
                Output.line("projection state is derived: run `call-ledger rebuild` to recompute it from the log")
            }
        }
        if !ok { throw ExitCode(1) }
    }

    /// A new, empty directory under the system temporary directory for the recomputed projections.
    static func scratchDirectory() throws(LedgerError) -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("call-ledger-verify-\(UUID().uuidString)").path
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw .invalidRequest("cannot create a scratch directory for --projections at \(path): \(error)")
        }
        return path
    }
}
