// Derived files are never evidence (DESIGN.md §9): a damaged index.sqlite, tree/ or projection state is found by
// `verify` and repaired by `reindex`, the writer or `rebuild`; audit bundles and checkpoints are established from
// the log, whatever the derived files say; bundles are written owner-only.
import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

/// Runs `/usr/bin/sqlite3 DATABASE SQL`, requiring success.
private func sqlite(_ database: String, _ sql: String) throws {
    let result = try LedgerTestSupport.run("/usr/bin/sqlite3", [database, sql])
    try #require(result.status == 0, "\(result.stderr)")
}

/// A ledger whose events arrive in several appends (so each call spans several frames), then a checkpoint.
private func framedLedger(calls: Int, seed: UInt64, linesPerAppend: Int = 25) throws -> CLILedger {
    let ledger = try CLILedger()
    let lines = simulatedLines(calls: calls, seed: seed)
    for start in stride(from: 0, to: lines.count, by: linesPerAppend) {
        let chunk = lines[start..<min(start + linesPerAppend, lines.count)]
        try #require(try ledger.callLedger("append", input: chunk.joined(separator: "\n") + "\n").status == 0)
    }
    try #require(try ledger.callLedger("checkpoint").status == 0)
    return ledger
}

/// Flips the lowest bit of byte `offset` of the file at `path`; with `keepingTime`, in place and with the file's
/// modification time put back (damage no writer sees: bit rot, or a careful attacker).
private func flipBit(_ path: String, at offset: Int, keepingTime: Bool = false) throws {
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    try #require(offset < bytes.count, "\(path) has \(bytes.count) bytes, no byte \(offset)")
    bytes[offset] ^= 1
    guard keepingTime else {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return
    }
    var info = stat()
    try #require(stat(path, &info) == 0)
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    try handle.seek(toOffset: UInt64(offset))
    handle.write(Data([bytes[offset]]))
    try handle.close()
    let times = [info.st_atim, info.st_mtim]
    try #require(utimensat(AT_FDCWD, path, times, 0) == 0)
}

@Suite struct DerivedFilesTests {
    @Test func deletedIndexRowFailsVerifyAndAuditExportStaysCompleteUntilReindex() throws {
        let ledger = try framedLedger(calls: 3, seed: 11)
        let all = try catted(ledger)
        let call = try #require(all.first?["call"] as? String)
        let logged = all.filter { $0["call"] as? String == call }.compactMap { $0["seq"] as? Int }
        let index = ledger.directory + "/index.sqlite"
        try sqlite(
            index,
            "DELETE FROM call_frames WHERE call = '\(call)' AND frame_seq = "
                + "(SELECT frame_seq FROM call_frames WHERE call = '\(call)' ORDER BY frame_seq LIMIT 1 OFFSET 1)")
        // Reading the call through the damaged index finds fewer events than it counts, and says so...
        let served = try catted(ledger, "--call", call)
        try #require(served.count < logged.count, "the row deleted held none of the call's events")
        let cat = try ledger.callLedger("cat", "--call", call)
        #expect(cat.status == 1 && cat.stderr.contains("index.sqlite is damaged"), "\(cat.stderr)")

        // ...but the audit bundle is established from the log: every event of the call, and it verifies.
        let scratch = ScratchDirectory()
        let path = scratch.file("bundle.json")
        let export = try ledger.callLedger("audit", "export", call, "-o", path)
        #expect(export.status == 0, "\(export.stderr)")
        let bundle = try jsonObject(try String(contentsOfFile: path, encoding: .utf8))
        let exported = (bundle["events"] as? [[String: Any]] ?? []).compactMap { $0["seq"] as? Int }
        #expect(exported == logged)
        let verified = try PythonVerifier.verify("bundle", path, "--key", ledger.directory + "/verifier.key")
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")

        // verify names the damaged file and the repair.
        let verify = try ledger.callLedger("verify", "--json")
        #expect(verify.status == 1, "\(verify.stdout)")
        let fault = try #require(try jsonObject(verify.stdout)["fault"] as? [String: Any])
        #expect(fault["file"] as? String == "index.sqlite", "\(fault)")
        #expect((fault["reason"] as? String ?? "").contains("call-ledger reindex"), "\(fault)")
        #expect((fault["reason"] as? String ?? "").contains(call), "\(fault)")
        let human = try ledger.callLedger("verify")
        #expect(human.status == 1 && human.stdout.contains("index.sqlite"), "\(human.stdout)")

        try #require(try ledger.callLedger("reindex").status == 0)
        #expect(try ledger.callLedger("verify").status == 0)
        #expect(try catted(ledger, "--call", call).count == logged.count)
    }

    @Test func pythonVerifierChecksTheCompletenessClaimAgainstTheLog() throws {
        let ledger = try framedLedger(calls: 2, seed: 16)
        let call = try #require(try catted(ledger).first?["call"] as? String)
        let scratch = ScratchDirectory()
        let path = scratch.file("bundle.json")
        try #require(try ledger.callLedger("audit", "export", call, "-o", path).status == 0)
        let whole = try PythonVerifier.verify("bundle", path, "--ledger", ledger.directory)
        #expect(whole.status == 0, "\(whole.stdout) \(whole.stderr)")
        #expect(whole.stdout.contains("checked against the log"), "\(whole.stdout)")

        // What a signer misled by a damaged index would sign: one event left out, the statement signed over the
        // rest. The bundle alone cannot show it; the log can.
        var bundle = try jsonObject(try String(contentsOfFile: path, encoding: .utf8))
        var events = try #require(bundle["events"] as? [[String: Any]])
        events.removeLast()
        bundle["events"] = events
        var leaves: [UInt8] = []
        for event in events { leaves += Hex.decode(event["leaf_hash"] as? String ?? "") ?? [] }
        let statement = try SignedNote(parsing: try #require(bundle["statement"] as? String)).text
        let text = statement.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("events ") ? "events \(events.count) \(SHA256.hash(leaves).hex)" : String(line)
        }.joined(separator: "\n")
        let keyText = try String(contentsOfFile: ledger.directory + ".key", encoding: .utf8)
        let signerLine = try #require(keyText.split(separator: "\n").first { $0.hasPrefix("signer ") })
        let signer = try NoteSignerKey(parsing: String(signerLine.dropFirst("signer ".count)))
        bundle["statement"] = try SignedNote.sign(text: text, signer: signer).serialized
        let partial = scratch.file("partial.json")
        try JSONSerialization.data(withJSONObject: bundle).write(to: URL(fileURLWithPath: partial))
        #expect(try PythonVerifier.verify("bundle", partial).status == 0, "the bundle alone cannot show it")
        let checked = try PythonVerifier.verify("bundle", partial, "--ledger", ledger.directory)
        #expect(checked.status == 1, "\(checked.stdout)")
        #expect(checked.stderr.contains("is not in the bundle"), "\(checked.stderr)")
    }

    @Test func alteredIndexCountsAndCheckpointRowsFailVerify() throws {
        let ledger = try framedLedger(calls: 2, seed: 12)
        let index = ledger.directory + "/index.sqlite"
        try sqlite(index, "UPDATE calls SET event_count = event_count + 1 WHERE call = (SELECT min(call) FROM calls)")
        let counted = try ledger.callLedger("verify", "--json")
        #expect(counted.status == 1)
        let fault = try #require(try jsonObject(counted.stdout)["fault"] as? [String: Any])
        #expect(fault["file"] as? String == "index.sqlite", "\(fault)")
        try #require(try ledger.callLedger("reindex").status == 0)
        #expect(try ledger.callLedger("verify").status == 0)

        try sqlite(
            index,
            "DELETE FROM frames WHERE first_seq = (SELECT first_seq FROM frames ORDER BY first_seq LIMIT 1 OFFSET 1)")
        let framed = try ledger.callLedger("verify")
        #expect(framed.status == 1 && framed.stdout.contains("index.sqlite"), "\(framed.stdout)")
    }

    /// Where to flip a bit of the stored tree: the events appended before the checkpoint, after it, and the
    /// level file and entry.
    struct TreeDamage: Sendable, CustomTestStringConvertible {
        var checkpointed: Int
        var tail: Int
        var level: Int
        var entry: Int
        var testDescription: String { "level \(level) entry \(entry) of \(checkpointed)+\(tail) events" }
    }

    @Test(arguments: [
        TreeDamage(checkpointed: 7, tail: 0, level: 0, entry: 6),
        TreeDamage(checkpointed: 7, tail: 0, level: 1, entry: 2),
        TreeDamage(checkpointed: 7, tail: 0, level: 2, entry: 0),
        TreeDamage(checkpointed: 7, tail: 4, level: 0, entry: 10),
        TreeDamage(checkpointed: 7, tail: 4, level: 1, entry: 4),
    ])
    func flippedTreeBitIsRebuiltBeforeTheNextCheckpoint(damage: TreeDamage) throws {
        let ledger = try CLILedger()
        let lines = simulatedLines(calls: 2, seed: 13)
        try #require(lines.count > damage.checkpointed + damage.tail + 2)
        @discardableResult
        func append(_ range: Range<Int>) throws -> ProcessResult {
            let text = lines[range].joined(separator: "\n") + "\n"
            let result = try ledger.callLedger("append", input: text)
            try #require(result.status == 0, "\(result.stderr)")
            return result
        }
        try append(0..<damage.checkpointed)
        try #require(try ledger.callLedger("checkpoint").status == 0)
        if damage.tail > 0 { try append(damage.checkpointed..<damage.checkpointed + damage.tail) }
        let level = "0\(damage.level)"
        try flipBit(ledger.directory + "/tree/level-\(level).hashes", at: damage.entry * 32 + 5)
        let end = damage.checkpointed + damage.tail
        let repaired = try append(end..<end + 2)
        #expect(repaired.stderr.contains("rewrote tree/"), "\(repaired.stderr)")
        let checkpoint = try ledger.callLedger("checkpoint", "--json")
        try #require(checkpoint.status == 0, "\(checkpoint.stderr)")

        // Every checkpoint's root is the root recomputed from the log, and the stored tree is whole again.
        let verified = try ledger.callLedger("verify", "--json")
        #expect(verified.status == 0, "\(verified.stdout)")
        let root = try jsonObject(verified.stdout)["root_hash"] as? String
        #expect(try jsonObject(checkpoint.stdout)["root_hash"] as? String == root)
        let independent = try PythonVerifier.verify("ledger", ledger.directory)
        #expect(independent.status == 0, "\(independent.stdout) \(independent.stderr)")
    }

    /// A flipped bit inside tree/level-00, away from the right edge, written the ordinary way: the level file is
    /// no longer as the writer last marked it, so the next writer checks every stored node against its children,
    /// finds the damage and rewrites tree/ from the log; verify and proofs pass at once.
    @Test func interiorTreeDamageIsRebuiltByTheNextWriter() throws {
        let ledger = try CLILedger()
        let lines = simulatedLines(calls: 2, seed: 17)
        try #require(lines.count > 130)
        let appended = try ledger.callLedger("append", input: lines[0..<128].joined(separator: "\n") + "\n")
        try #require(appended.status == 0, "\(appended.stderr)")
        let signed = try ledger.callLedger("checkpoint", "--json")
        try #require(signed.status == 0, "\(signed.stderr)")
        try flipBit(ledger.directory + "/tree/level-00.hashes", at: 20 * 32 + 7)

        let more = try ledger.callLedger("append", input: lines[128..<130].joined(separator: "\n") + "\n")
        try #require(more.status == 0, "\(more.stderr)")
        let found = "tree/level-01.hashes entry 10 is not the hash of entries 20 and 21"
        #expect(more.stderr.contains(found), "\(more.stderr)")
        #expect(more.stderr.contains("rewrote tree/"), "\(more.stderr)")
        let verified = try ledger.callLedger("verify")
        #expect(verified.status == 0, "\(verified.stdout)")
        let proof = try ledger.callLedger("prove", "inclusion", "--seq", "21")
        #expect(proof.status == 0, "\(proof.stderr)")
        let again = try ledger.callLedger("append", input: lines[130..<131].joined(separator: "\n") + "\n")
        #expect(!again.stderr.contains("tree/"), "a whole tree left as marked is checked again: \(again.stderr)")
    }

    /// A flipped bit inside tree/level-00 that leaves the file's size and time as the writer marked them: the
    /// signed roots stay right (the writer signs from the right edge it checks at open), every proof the damaged
    /// entry would enter is refused, verify names the damaged tree file, and `reindex` rebuilds tree/ from the log
    /// so proofs verify again.
    @Test func unseenInteriorTreeDamageIsLocatedByVerifyAndRepairedByReindex() throws {
        let ledger = try CLILedger()
        let lines = simulatedLines(calls: 2, seed: 17)
        try #require(lines.count > 130)
        let appended = try ledger.callLedger("append", input: lines[0..<128].joined(separator: "\n") + "\n")
        try #require(appended.status == 0, "\(appended.stderr)")
        try #require(try ledger.callLedger("checkpoint").status == 0)
        try flipBit(ledger.directory + "/tree/level-00.hashes", at: 20 * 32 + 7, keepingTime: true)

        let more = try ledger.callLedger("append", input: lines[128..<130].joined(separator: "\n") + "\n")
        try #require(more.status == 0, "\(more.stderr)")
        let signed = try ledger.callLedger("checkpoint", "--json")
        try #require(signed.status == 0, "\(signed.stderr)")
        let refused = try ledger.callLedger("prove", "inclusion", "--seq", "21")
        #expect(refused.status != 0 && refused.stdout.isEmpty, "\(refused.stdout)")
        let damaged = try ledger.callLedger("verify")
        #expect(damaged.status == 1, "\(damaged.stdout)")
        #expect(damaged.stdout.contains("tree/level-00 entry 20") && damaged.stdout.contains("reindex"))

        try #require(try ledger.callLedger("reindex").status == 0)
        let verified = try ledger.callLedger("verify", "--json")
        #expect(verified.status == 0, "\(verified.stdout)")
        #expect(
            try jsonObject(verified.stdout)["root_hash"] as? String == jsonObject(signed.stdout)["root_hash"] as? String
        )
        let proof = try ledger.callLedger("prove", "inclusion", "--seq", "21")
        try #require(proof.status == 0, "\(proof.stderr)")
        let scratch = ScratchDirectory()
        let file = scratch.file("proof.json")
        try Data(proof.stdout.utf8).write(to: URL(fileURLWithPath: file))
        let checked = try PythonVerifier.verify("proof", file)
        #expect(checked.status == 0, "\(checked.stdout) \(checked.stderr)")
    }

    @Test func auditBundleIsWrittenOwnerOnly() throws {
        let ledger = try framedLedger(calls: 1, seed: 14)
        let call = try #require(try catted(ledger).first?["call"] as? String)
        let scratch = ScratchDirectory()
        let path = scratch.file("bundle.json")
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let export = try ledger.callLedger("audit", "export", call, "-o", path)
        try #require(export.status == 0, "\(export.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// A seq, count, offset or size edited to a negative number in a derived file is an error naming the file, the
    /// value and the repair, never a crash (`UInt64(Int64)` of a projection's `first_seq` stopped `calls` with
    /// SIGILL before).
    @Test func negativeNumbersInDerivedFilesAreErrorsNamingTheRepairNotCrashes() throws {
        let ledger = try framedLedger(calls: 3, seed: 15)
        let damages = [
            (
                file: "projections/transcript-1.sqlite", command: "calls", repair: "rebuild",
                edit: "UPDATE calls SET first_seq = -5 WHERE call = (SELECT min(call) FROM calls)", value: "holds -5"
            ),
            (
                file: "index.sqlite", command: "cat", repair: "reindex",
                edit: "UPDATE frames SET stored_bytes = -1 WHERE first_seq = 0", value: "holds -1"
            ),
        ]
        for damage in damages {
            let before = try ledger.callLedger(damage.command)
            try #require(before.status == 0, "\(before.stderr)")
            try sqlite(ledger.directory + "/" + damage.file, damage.edit)
            let failed = try ledger.callLedger(damage.command)
            #expect(failed.status == 1, "\(damage.file): \(failed.status) \(failed.stderr)")
            #expect(
                failed.stderr.contains(damage.file) && failed.stderr.contains(damage.value)
                    && failed.stderr.contains("call-ledger \(damage.repair)"), "\(failed.stderr)")
            try #require(try ledger.callLedger(damage.repair).status == 0)
            #expect(try ledger.callLedger(damage.command).stdout == before.stdout, "\(damage.file)")
        }
    }

    @Test func editedProjectionRowsAreReportedByVerifyProjectionsAndRebuildRepairs() throws {
        let ledger = try framedLedger(calls: 3, seed: 15)
        let calls = try JSONSerialization.jsonObject(with: Data(try ledger.callLedger("calls", "--json").stdout.utf8))
        let ids = try #require(calls as? [[String: Any]]).compactMap { $0["call"] as? String }
        try #require(ids.count == 3)
        let clean = try ledger.callLedger("verify", "--projections", "--json")
        #expect(clean.status == 0, "\(clean.stdout) \(clean.stderr)")

        let transcript = ledger.directory + "/projections/transcript-1.sqlite"
        try sqlite(transcript, "UPDATE calls SET agent = 'agent-999' WHERE call = '\(ids[0])'")
        try sqlite(
            transcript,
            "UPDATE records SET records = (SELECT records FROM records WHERE call = '\(ids[2])' LIMIT 1) "
                + "WHERE call = '\(ids[1])'")
        let result = try ledger.callLedger("verify", "--projections", "--json")
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        let json = try jsonObject(result.stdout)
        let differences = try #require(json["differences"] as? [[String: Any]], "\(json)")
        #expect(
            differences.contains {
                $0["projection"] as? String == "transcript" && $0["table"] as? String == "calls"
                    && $0["call"] as? String == ids[0] && ($0["columns"] as? [String])?.contains("agent") == true
            }, "\(differences)")
        #expect(
            differences.contains {
                $0["table"] as? String == "records" && $0["call"] as? String == ids[1]
            }, "\(differences)")
        #expect(!result.stdout.contains("agent-999"), "a stored value leaked into the report")
        let human = try ledger.callLedger("verify", "--projections")
        #expect(human.status == 1)
        #expect(human.stdout.contains("transcript") && human.stdout.contains(ids[0]), "\(human.stdout)")

        try #require(try ledger.callLedger("rebuild").status == 0)
        let repaired = try ledger.callLedger("verify", "--projections", "--json")
        #expect(repaired.status == 0, "\(repaired.stdout) \(repaired.stderr)")
    }
}
