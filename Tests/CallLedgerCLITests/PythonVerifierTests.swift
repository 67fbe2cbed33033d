// tools/verify, the independent Python verifier: its unit tests, the ledgers and proofs the Swift code writes,
// and tampered copies of them, which it must reject with the file, byte offset and seq of the fault.
import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

/// Running `tools/verify` and finding what it needs.
enum PythonVerifier {
    /// The `python3` found on `PATH`, if any.
    static let python: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        .split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `tools/verify`.
    static let script = Repository.root.appendingPathComponent("tools/verify").path

    /// Fails (not skips) when python3 is there but the PyPI packages are not.
    static func requirePackages() throws {
        let probe = try run(try #require(python), ["-c", "import zstandard, cryptography"])
        try #require(
            probe.status == 0,
            "the Python packages zstandard and cryptography are missing: run tools/setup (\(probe.stderr))")
    }

    /// Runs `tools/verify` with `arguments`.
    static func verify(_ arguments: String...) throws -> ProcessResult {
        try requirePackages()
        return try run(script, arguments)
    }

    /// Runs `tools/verify ledger DIR --json` and returns the fault it reports (failing if there is none).
    static func fault(ledger directory: String) throws -> [String: Any] {
        let result = try verify("ledger", directory, "--json")
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("FAULT"), "\(result.stderr)")
        let json = try jsonObject(result.stdout)
        #expect(json["ok"] as? Bool == false)
        return try #require(json["fault"] as? [String: Any], "\(result.stdout)")
    }
}

/// A simulated ledger with several segments, frames per segment and checkpoints, plus an ingested Gladia
/// result and the FORMAT.md examples (sealed PII parts), built once and copied by each test that alters it.
struct VerifierLedger {
    let ledger: CLILedger
    /// Segment file names, in order.
    let segments: [String]

    static let shared = Result { try VerifierLedger() }

    private init() throws {
        // Inline frames (`--sealed-inline`): the tests below rewrite records inside zstd frames, which hold every
        // part in that layout; side-car ledgers are checked by both verifiers in ErasureCostTests.
        ledger = try CLILedger([
            "--segment-size", "32768", "--batch", "100", "--checkpoint-every-events", "400", "--sealed-inline",
        ])
        let append = try ledger.callLedger(
            "append", input: simulatedLines(calls: 3, seed: 7).joined(separator: "\n") + "\n")
        try #require(append.status == 0, "\(append.stderr)")
        let ingest = try ledger.callLedger(
            "ingest", "--from", "gladia", "--roles", "0=agent,1=customer",
            Repository.fixture("gladia/prerecorded-result.json").path)
        try #require(ingest.status == 0, "\(ingest.stderr)")
        let examples = try String(contentsOf: Repository.fixture("events/examples.jsonl"), encoding: .utf8)
        try #require(try ledger.callLedger("append", input: examples).status == 0)
        try #require(try ledger.callLedger("checkpoint").status == 0)
        segments = try FileManager.default.contentsOfDirectory(atPath: ledger.directory + "/segments").sorted()
    }

    /// A copy of the ledger directory (and its key file beside it) that a test may alter. Tests running at the
    /// same time may open the shared ledger's SQLite files, whose `-wal` and `-shm` files come and go: one that
    /// vanishes while being copied is left out (SQLite opens the copy without it).
    func copy() throws -> LedgerCopy {
        let copy = LedgerCopy()
        let files = FileManager.default
        try files.createDirectory(atPath: copy.directory, withIntermediateDirectories: true)
        for path in try files.subpathsOfDirectory(atPath: ledger.directory).sorted() {
            let source = ledger.directory + "/" + path
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: source, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                try files.createDirectory(atPath: copy.directory + "/" + path, withIntermediateDirectories: true)
                continue
            }
            do {
                try files.copyItem(atPath: source, toPath: copy.directory + "/" + path)
            } catch  where path.hasSuffix("-wal") || path.hasSuffix("-shm") {
                continue
            }
        }
        try files.copyItem(atPath: ledger.directory + ".key", toPath: copy.directory + ".key")
        return copy
    }

    /// A segment in the middle of the log with at least three frames, and its frames.
    func middleSegment() throws -> (name: String, frames: [SegmentFrame]) {
        for name in segments.dropFirst(segments.count / 2) {
            let frames = try SegmentFrame.all(in: ledger.directory + "/segments/" + name)
            if frames.count >= 3 { return (name, frames) }
        }
        throw LedgerTestFailure("no segment of the test ledger holds three frames")
    }

    /// Runs `call-ledger` with `arguments` on the ledger.
    func run(_ arguments: [String]) throws -> ProcessResult {
        try LedgerTestSupport.callLedger(arguments: arguments + ["--ledger", ledger.directory])
    }

    /// The checkpoint notes, in size order.
    func checkpoints() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: ledger.directory + "/checkpoints").sorted()
    }
}

/// A copy of the test ledger in its own scratch directory, removed with the value.
struct LedgerCopy {
    let scratch = ScratchDirectory()
    /// The copied ledger directory.
    var directory: String { scratch.file("ledger") }

    /// The path of a segment file of the copy.
    func segment(_ name: String) -> String { directory + "/segments/" + name }
}

/// A test precondition that does not hold.
struct LedgerTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Checks a fault's location and reason.
func expectFault(
    _ fault: [String: Any], file: String, offset: Int?, seq: UInt64?, reason: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(fault["file"] as? String == file, "\(fault)", sourceLocation: sourceLocation)
    #expect((fault["offset"] as? Int) == offset, "\(fault)", sourceLocation: sourceLocation)
    #expect((fault["seq"] as? Int).map(UInt64.init) == seq, "\(fault)", sourceLocation: sourceLocation)
    #expect((fault["reason"] as? String)?.contains(reason) == true, "\(fault)", sourceLocation: sourceLocation)
}

@Suite(.enabled(if: PythonVerifier.python != nil, "python3 is not installed, so tools/verify cannot run"))
struct PythonVerifierTests {
    @Test func pythonUnitTestsPass() throws {
        try PythonVerifier.requirePackages()
        let tools = Repository.root.appendingPathComponent("tools").path
        let result = try run(
            try #require(PythonVerifier.python),
            ["-m", "unittest", "discover", "-s", tools + "/verifier/tests", "-t", tools])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("OK"), "\(result.stderr)")
    }

    @Test func exitStatusesFollowTheREADMETable() throws {
        #expect(try PythonVerifier.verify().status == 64)
        #expect(try PythonVerifier.verify("ledger").status == 64)
        #expect(try PythonVerifier.verify("proof", "--no-such-flag", "x").status == 64)
        let missingLedger = try PythonVerifier.verify("ledger", "/nonexistent/ledger")
        #expect(missingLedger.status == 1 && missingLedger.stderr.contains("cannot read /nonexistent/ledger"))
        let missingProof = try PythonVerifier.verify("proof", "/nonexistent/proof.json")
        #expect(missingProof.status == 1 && missingProof.stderr.contains("cannot read /nonexistent/proof.json"))
    }

    @Test func aLedgerVerifiesWithTheSameCountsAndRootAsTheSwiftVerifier() throws {
        let shared = try VerifierLedger.shared.get()
        let swift = try jsonObject(try shared.ledger.callLedger("verify", "--json").stdout)
        let result = try PythonVerifier.verify("ledger", shared.ledger.directory, "--json")
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        let python = try jsonObject(result.stdout)
        #expect(python["ok"] as? Bool == true)
        #expect(python["events"] as? Int == swift["events"] as? Int)
        #expect(python["frames"] as? Int == swift["frames"] as? Int)
        #expect(python["segments"] as? Int == shared.segments.count && shared.segments.count > 3)
        #expect(python["root_hash"] as? String == swift["root_hash"] as? String)
        let checkpoints = try #require(python["checkpoints"] as? Int)
        #expect(checkpoints == (try shared.checkpoints()).count && checkpoints > 3)
        #expect((python["tree_nodes_compared"] as? Int ?? 0) >= 2 * (python["events"] as? Int ?? 0) - 64)

        let text = try PythonVerifier.verify("ledger", shared.ledger.directory)
        #expect(text.status == 0 && text.stdout.hasPrefix("OK: \(swift["events"] as! Int) events"), "\(text.stdout)")
    }

    @Test func proofsThatProveAndTheirCheckpointVerify() throws {
        let shared = try VerifierLedger.shared.get()
        let scratch = ScratchDirectory()
        let proofs = [
            ["prove", "inclusion", "--seq", "1234", "--size", "2000"],
            ["prove", "inclusion", "--seq", "0"],
            ["prove", "consistency", "--from", "700", "--to", "2500"],
            ["prove", "consistency", "--from", "1024", "--to", "2048"],
        ]
        for (index, arguments) in proofs.enumerated() {
            let proof = try shared.run(arguments)
            try #require(proof.status == 0, "\(proof.stderr)")
            let path = scratch.file("proof-\(index).json")
            try proof.stdout.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try PythonVerifier.verify("proof", path)
            #expect(
                result.status == 0 && result.stdout.hasPrefix("OK: "), "\(arguments) \(result.stdout) \(result.stderr)")
            let pinned = try PythonVerifier.verify(
                "proof", path, "--key", shared.ledger.directory + "/verifier.key", "--json")
            #expect(pinned.status == 0, "\(pinned.stdout) \(pinned.stderr)")
            #expect(try jsonObject(pinned.stdout)["kind"] as? String == arguments[1])
        }
    }

    /// A proof from the shared ledger with `change` applied, written to a file.
    private func tamperedProof(
        _ arguments: [String], in scratch: ScratchDirectory, _ change: (inout [String: Any]) throws -> Void
    ) throws -> String {
        let shared = try VerifierLedger.shared.get()
        var proof = try jsonObject(try shared.run(arguments).stdout)
        try change(&proof)
        let path = scratch.file("proof-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: proof).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func tamperedProofsAreRejectedAtTheMemberThatIsWrong() throws {
        let scratch = ScratchDirectory()
        let inclusion = ["prove", "inclusion", "--seq", "1234", "--size", "2000"]
        let consistency = ["prove", "consistency", "--from", "700", "--to", "2500"]
        let other = try CLILedger()
        try other.callLedger("append", input: CLIBadInputTests.good("x"))
        let otherNote = try jsonObject(try other.callLedger("checkpoint", "--json").stdout)["note"] as! String
        let cases: [(arguments: [String], member: String, change: (inout [String: Any]) throws -> Void)] = [
            (inclusion, "leaf_hash", { $0["leaf_hash"] = String(repeating: "ab", count: 32) }),
            (
                inclusion, "inclusion_proof",
                { proof in
                    var entry = try #require(Base64.decode(proof["entry"] as! String))
                    // A bit of the acceptance time (bytes 3... after the version and the 2-byte seq varint).
                    entry[4] ^= 0x01
                    proof["entry"] = Base64.encode(entry)
                    proof["leaf_hash"] = SHA256.hash([0] + entry).hex
                }
            ),
            (
                inclusion, "inclusion_proof",
                { proof in
                    var path = proof["inclusion_proof"] as! [String]
                    path[2] = String(repeating: "0", count: 64)
                    proof["inclusion_proof"] = path
                }
            ),
            (
                inclusion, "consistency_proof",
                { $0["consistency_proof"] = Array(($0["consistency_proof"] as! [String]).dropLast()) }
            ),
            (
                inclusion, "checkpoint.note",
                { proof in
                    var checkpoint = proof["checkpoint"] as! [String: Any]
                    let note = checkpoint["note"] as! String
                    let signature = otherNote.components(separatedBy: "\n\n")[1]
                    checkpoint["note"] = note.components(separatedBy: "\n\n")[0] + "\n\n" + signature
                    proof["checkpoint"] = checkpoint
                }
            ),
            (consistency, "proof", { $0["to_root_hash"] = $0["from_root_hash"] }),
            (
                consistency, "checkpoint",
                { proof in
                    var checkpoint = proof["checkpoint"] as! [String: Any]
                    checkpoint["tree_size"] = (checkpoint["tree_size"] as! Int) + 1
                    proof["checkpoint"] = checkpoint
                }
            ),
        ]
        for (arguments, member, change) in cases {
            let path = try tamperedProof(arguments, in: scratch, change)
            let result = try PythonVerifier.verify("proof", path, "--json")
            #expect(result.status == 1, "\(member): \(result.stdout) \(result.stderr)")
            let fault = try #require(try jsonObject(result.stdout)["fault"] as? [String: Any])
            #expect(fault["member"] as? String == member, "\(fault)")
            #expect(fault["file"] as? String == path)
        }
        let untouched = try tamperedProof(inclusion, in: scratch) { _ in }
        let wrongKey = try PythonVerifier.verify("proof", untouched, "--key", other.directory + "/verifier.key")
        #expect(
            wrongKey.status == 1 && wrongKey.stderr.contains("no signature by key cli.test/ledger+"),
            "\(wrongKey.stderr)")
    }

    @Test func aFlippedByteInsideAZstdFrameIsReportedAtThatFrame() throws {
        let shared = try VerifierLedger.shared.get()
        let (name, frames) = try shared.middleSegment()
        let copy = try shared.copy()
        let path = copy.segment(name)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[frames[1].offset + frames[1].size / 2] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        expectFault(
            try PythonVerifier.fault(ledger: copy.directory), file: "segments/" + name, offset: frames[1].offset,
            seq: frames[1].firstSeq, reason: "zstd")
    }

    @Test func aModifiedRecordInAValidFrameIsReportedAtItsSeq() throws {
        let shared = try VerifierLedger.shared.get()
        let (name, frames) = try shared.middleSegment()
        var (header, records) = try frames[1].records()
        let target = 5
        let idempotency = try records[target].withUnsafeBytes { try RecordView($0).idempotencyRange }
        records[target][idempotency.upperBound - 1] ^= 0x01
        let frame = try SegmentFrame.compress(header: header, records: records)
        let seq = frames[1].firstSeq + UInt64(target)
        for withTree in [true, false] {
            let copy = try shared.copy()
            let path = copy.segment(name)
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes.replaceSubrange(frames[1].offset..<frames[1].offset + frames[1].size, with: frame)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            if withTree {
                expectFault(
                    try PythonVerifier.fault(ledger: copy.directory), file: "segments/" + name,
                    offset: frames[1].offset,
                    seq: seq,
                    reason: "leaf hash of seq \(seq) differs from tree/level-00.hashes at byte offset \(seq * 32)")
            } else {
                // Without the stored tree the first signed checkpoint at or after the record catches it.
                try FileManager.default.removeItem(atPath: copy.directory + "/tree")
                let covering = try shared.checkpoints().first { UInt64($0.prefix(20))! > seq }!
                expectFault(
                    try PythonVerifier.fault(ledger: copy.directory), file: "checkpoints/" + covering, offset: nil,
                    seq: nil,
                    reason: "recomputed from the log")
            }
        }
    }

    @Test func aSwappedCheckpointSignatureIsRejected() throws {
        let shared = try VerifierLedger.shared.get()
        let notes = try shared.checkpoints()
        let copy = try shared.copy()
        let first = copy.directory + "/checkpoints/" + notes[0]
        let second = try String(contentsOfFile: copy.directory + "/checkpoints/" + notes[1], encoding: .utf8)
        let body = try String(contentsOfFile: first, encoding: .utf8).components(separatedBy: "\n\n")[0]
        try (body + "\n\n" + second.components(separatedBy: "\n\n")[1]).write(
            toFile: first, atomically: true, encoding: .utf8)
        expectFault(
            try PythonVerifier.fault(ledger: copy.directory), file: "checkpoints/" + notes[0], offset: nil, seq: nil,
            reason: "signature check failed: the Ed25519 signature by cli.test/ledger does not verify")
    }

    @Test func aTruncatedSegmentIsReportedAtItsTornFrame() throws {
        let shared = try VerifierLedger.shared.get()
        let name = shared.segments.last!
        let copy = try shared.copy()
        let path = copy.segment(name)
        let last = try SegmentFrame.all(in: path).last!
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(last.offset + last.size / 2))
        try handle.close()
        expectFault(
            try PythonVerifier.fault(ledger: copy.directory), file: "segments/" + name, offset: last.offset,
            seq: last.firstSeq, reason: "no complete zstd frame starts here")
    }

    @Test func aDeletedCheckpointCoveredFrameIsReported() throws {
        let shared = try VerifierLedger.shared.get()
        let (name, frames) = try shared.middleSegment()
        let copy = try shared.copy()
        let path = copy.segment(name)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes.removeSubrange(frames[1].offset..<frames[1].offset + frames[1].size)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        expectFault(
            try PythonVerifier.fault(ledger: copy.directory), file: "segments/" + name, offset: frames[1].offset,
            seq: frames[1].firstSeq, reason: "frame starts at seq \(frames[2].firstSeq), expected \(frames[1].firstSeq)"
        )

        // The last frame of the log, covered by the last checkpoint: the log was cut back.
        let end = try shared.copy()
        let lastPath = end.segment(shared.segments.last!)
        let last = try SegmentFrame.all(in: lastPath).last!
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: lastPath))
        try handle.truncate(atOffset: UInt64(last.offset))
        try handle.close()
        expectFault(
            try PythonVerifier.fault(ledger: end.directory), file: "checkpoints/" + (try shared.checkpoints()).last!,
            offset: nil, seq: nil, reason: "is beyond the log's \(last.firstSeq) events: the log was cut back")
    }

    @Test func aCompactedPartKeepsEveryLeafAndRootButAWrongDigestIsCaught() throws {
        let shared = try VerifierLedger.shared.get()
        let (name, frames) = try shared.middleSegment()
        let frame = frames.last!
        let (header, records) = try frame.records()
        let target = try #require(
            try records.firstIndex { record in try record.withUnsafeBytes { try RecordView($0).partCount > 0 } })
        let seq = frame.firstSeq + UInt64(target)
        /// The record with its first part in compacted form: class, 0x02, then `digest` instead of the sealed bytes.
        func compacted(digest: (ArraySlice<UInt8>) -> [UInt8]) throws -> [UInt8] {
            let record = records[target]
            let part = try record.withUnsafeBytes { try RecordView($0).parts[0] }
            #expect(part.form == 0x01)
            return Array(record[..<part.classRange.upperBound]) + [0x02] + digest(record[part.payloadRange])
                + Array(record[part.payloadRange.upperBound...])
        }
        let expectedRoot =
            try jsonObject(try shared.ledger.callLedger("verify", "--json").stdout)["root_hash"] as! String
        for honest in [true, false] {
            var changed = records
            changed[target] = try compacted { sealed in
                honest ? SHA256.hash(Array(sealed)).bytes : [UInt8](repeating: 0, count: 32)
            }
            let copy = try shared.copy()
            let path = copy.segment(name)
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes.replaceSubrange(
                frame.offset..<frame.offset + frame.size,
                with: try SegmentFrame.compress(header: header, records: changed))
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            if honest {
                let result = try PythonVerifier.verify("ledger", copy.directory, "--json")
                #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
                #expect(try jsonObject(result.stdout)["root_hash"] as? String == expectedRoot)
                // The frame was rewritten by hand, not by `retention run`: its row in the derived index is stale
                // until `reindex`, and verify says so.
                let stale = try LedgerTestSupport.callLedger("verify", "--json", "--ledger", copy.directory)
                #expect(stale.status == 1 && stale.stdout.contains("\"file\":\"index.sqlite\""), "\(stale.stdout)")
                try #require(try LedgerTestSupport.callLedger("reindex", "--ledger", copy.directory).status == 0)
                let swift = try LedgerTestSupport.callLedger("verify", "--json", "--ledger", copy.directory)
                #expect(swift.status == 0, "\(swift.stdout) \(swift.stderr)")
            } else {
                expectFault(
                    try PythonVerifier.fault(ledger: copy.directory), file: "segments/" + name, offset: frame.offset,
                    seq: seq,
                    reason: "leaf hash of seq \(seq) differs")
            }
        }
    }
}
