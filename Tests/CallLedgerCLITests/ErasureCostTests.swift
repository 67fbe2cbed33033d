// Erasure that costs what it erases: one call's erasure rewrites only the frames that held its parts (under 1% of
// the segment bytes of a ledger of hundreds of frames), in place, so every other byte stays as it was; the
// projections change only that call's rows, equal to a rebuild; both verifiers and `zstd -d` read the result.
// A compaction killed at each of its fault points (journal written, first frame overwritten, every frame
// overwritten) is completed by the next run, in both layouts. In the sealed side-car layout (FORMAT.md §2.1) no
// zstd frame is rewritten at all, only the erased slots; a ledger mixing inline and side-car frames is erased and
// verified like any other.
import Foundation
import LedgerTestSupport
import Testing

private let policies = Repository.root.appendingPathComponent("Projections/retention").path
private let now = "2030-01-01T00:00:00Z"

/// The bytes of every segment file, by name.
private func segmentFiles(_ ledger: CLILedger) throws -> [String: Data] {
    let directory = ledger.directory + "/segments"
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".zst") {
        files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
    }
    return files
}

/// The transcript and CRM projections' state files, and their record-copy rows as `projection call key hex`.
private func projectionRows(_ ledger: CLILedger) throws -> (files: [String], rows: [String]) {
    let directory = ledger.directory + "/projections"
    let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sqlite") }
        .sorted()
    var rows: [String] = []
    for (prefix, query) in [
        ("transcript-", "SELECT 'transcript ' || call || ' ' || bucket || ' ' || hex(records) FROM records"),
        ("crm-", "SELECT 'crm ' || call || ' ' || seq || ' ' || hex(copy) FROM writes"),
    ] {
        for file in files where file.hasPrefix(prefix) {
            let result = try LedgerTestSupport.run("/usr/bin/sqlite3", [directory + "/" + file, query])
            try #require(result.status == 0, "\(result.stderr)")
            rows.append(contentsOf: result.stdout.split(separator: "\n").map(String.init))
        }
    }
    return (files, rows.sorted())
}

/// Every frame of the ledger's segments, read by the Python verifier's parsers: segment, offset, size of the zstd
/// frame alone, stored size (side-car and padding included) and content magic.
private func frameTable(
    _ ledger: CLILedger
) throws -> [(segment: String, offset: Int, size: Int, stored: Int, magic: String)] {
    let script = """
        import sys, pathlib
        sys.path.insert(0, sys.argv[1])
        from verifier.zstdframes import frame_layout, decompress_frame
        for segment in sorted(pathlib.Path(sys.argv[2], "segments").glob("*.zst")):
            data = memoryview(segment.read_bytes())
            offset = 0
            while offset < len(data):
                layout = frame_layout(data, offset)
                content = decompress_frame(data[offset:offset + layout.size], layout)
                print(segment.name, offset, layout.size, layout.stored_size, content[:4].decode())
                offset += layout.stored_size
        """
    let result = try LedgerTestSupport.run(
        "/usr/bin/env",
        ["python3", "-c", script, Repository.root.appendingPathComponent("tools").path, ledger.directory])
    try #require(result.status == 0, "\(result.stderr)")
    return result.stdout.split(separator: "\n").map { line in
        let fields = line.split(separator: " ").map(String.init)
        return (fields[0], Int(fields[1]) ?? -1, Int(fields[2]) ?? -1, Int(fields[3]) ?? -1, fields[4])
    }
}

/// Checks a ledger with `call-ledger verify --projections` and `tools/verify`, which must agree on the root.
private func verifiedByBoth(_ ledger: CLILedger, _ context: String) throws -> String {
    let swift = try ledger.callLedger("verify", "--projections", "--json")
    #expect(swift.status == 0, "\(context): \(swift.stdout) \(swift.stderr)")
    let python = try LedgerTestSupport.run(
        Repository.root.appendingPathComponent("tools/verify").path, ["ledger", ledger.directory, "--json"])
    #expect(python.status == 0, "\(context): \(python.stdout) \(python.stderr)")
    let root = try jsonObject(swift.stdout)["root_hash"] as? String ?? ""
    #expect(try jsonObject(python.stdout)["root_hash"] as? String == root, "\(context)")
    return root
}

@Suite struct ErasureCostTests {
    /// A ledger of 300 simulated calls of 10 to 20 s (about 8,100 events) in frames of at most 15 events (about
    /// 540 frames, so one call's frames are well under 1% of them), whose first events are those of one
    /// acme-bank call (the only call the GDPR policy is assigned to), with `projections` built and a checkpoint;
    /// and that call.
    /// With `inline`, the ledger is created with `--sealed-inline` (frames as before the side-car layout, their
    /// records compact, so compaction recompresses compact content); with `switchToSideCar` too, also with
    /// `--plain-records`, and its first half is appended so and the rest, after `ledger.json` drops both
    /// settings, in side-cars with compact records.
    private func ledger(
        projections: [String] = ["transcript", "retention", "crm"], inline: Bool = false, switchToSideCar: Bool = false
    ) throws -> (CLILedger, call: String) {
        let layout = inline ? ["--sealed-inline"] + (switchToSideCar ? ["--plain-records"] : []) : []
        let ledger = try CLILedger(["--batch", "15"] + layout)
        let lines = simulatedLines(calls: 300, seed: 17, callSeconds: 10...20)
        let events = try lines.map(jsonObject)
        let call = try #require(
            events.first { $0["tenant"] as? String == "acme-bank" && $0["type"] as? String == "call.started" }?["call"]
                as? String)
        let first = lines.indices.filter { events[$0]["call"] as? String == call }
        let rest = lines.indices.filter { events[$0]["call"] as? String != call }
        let ordered = (first + rest).map { lines[$0] }
        if switchToSideCar {
            // The call's events are split between the two layouts: its first half goes out inline with plain
            // records, as ledgers stored before side-cars and compact records, the rest as this writer stores.
            let half = first.count / 2
            try #require(
                try ledger.callLedger("append", input: ordered[..<half].joined(separator: "\n") + "\n").status == 0)
            let settings = ledger.directory + "/ledger.json"
            let text = try String(contentsOfFile: settings, encoding: .utf8)
            try #require(text.contains("\"sealed_side_car\" : false") && text.contains("\"compact_records\" : false"))
            try text.replacingOccurrences(of: "\"sealed_side_car\" : false", with: "\"sealed_side_car\" : true")
                .replacingOccurrences(of: "\"compact_records\" : false", with: "\"compact_records\" : true")
                .write(toFile: settings, atomically: true, encoding: .utf8)
            try #require(
                try ledger.callLedger("append", input: ordered[half...].joined(separator: "\n") + "\n").status == 0)
        } else {
            try #require(try ledger.callLedger("append", input: ordered.joined(separator: "\n") + "\n").status == 0)
        }
        let assigned = try ledger.callLedger(
            "retention", "assign", "--policy", policies + "/gdpr-storage-limitation.yaml", "--call", call)
        try #require(assigned.status == 0, "\(assigned.stderr)")
        try #require(try ledger.callLedger(arguments: ["project"] + projections).status == 0)
        try #require(try ledger.callLedger("checkpoint").status == 0)
        return (ledger, call)
    }

    @Test func erasingOneCallRewritesUnderOnePercentOfTheSegmentBytesAndOnlyItsProjectionRows() throws {
        let (ledger, call) = try ledger()
        let erasedPayloads = try sealedPayloads(ledger).filter { $0.hasPrefix(call + " ") }
        try #require(!erasedPayloads.isEmpty)
        let before = try segmentFiles(ledger)
        let projectionsBefore = try projectionRows(ledger)
        let proof = ledger.scratch.file("inclusion.json")
        let prove = try ledger.callLedger("prove", "inclusion", "--seq", "3")
        try #require(prove.status == 0, "\(prove.stderr)")
        try prove.stdout.write(toFile: proof, atomically: true, encoding: .utf8)
        let bundle = ledger.scratch.file("bundle.json")
        try #require(try ledger.callLedger("audit", "export", call, "-o", bundle).status == 0)
        _ = try verifiedByBoth(ledger, "before")

        let run = try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json")
        try #require(run.status == 0, "\(run.stderr)")
        let summary = try jsonObject(run.stdout)
        #expect(summary["calls"] as? Int == 1)

        // Every segment keeps its size (the run's own events go to a new segment: the active one is closed before
        // compaction); the bytes that differ are under 1% of all segment bytes.
        let after = try segmentFiles(ledger)
        #expect(Set(before.keys).isSubset(of: Set(after.keys)))
        var total = 0
        var changed = 0
        for (name, old) in before {
            let new = after[name] ?? Data()
            total += old.count
            changed += abs(new.count - old.count)
            for (a, b) in zip(old, new) where a != b { changed += 1 }
        }
        #expect(changed > 0)
        #expect(changed * 100 < total, "\(changed) of \(total) segment bytes changed")

        // No byte of the erased ciphertext is left in any file (segments decompressed with zstd -d, SQLite
        // files and their WAL included).
        let everything = try allBytes(under: ledger.directory)
        for line in erasedPayloads {
            let bytes = hexBytes(String(line.split(separator: " ")[2])).prefix(48)
            #expect(!everything.contains(bytes), "ciphertext of \(line.prefix(60)) is still on disk")
        }

        // The projections were not rebuilt: the same state files, the other calls' rows byte for byte, and the
        // call's rows what a rebuild from the log gives (verify --projections recomputes and compares).
        let projectionsAfter = try projectionRows(ledger)
        #expect(projectionsAfter.files == projectionsBefore.files)
        let others = { (rows: [String]) in rows.filter { $0.split(separator: " ")[1] != call[...] } }
        #expect(others(projectionsAfter.rows) == others(projectionsBefore.rows))
        #expect(projectionsAfter.rows != projectionsBefore.rows)

        // Both verifiers accept the compacted ledger, and the proof and bundle made before still verify.
        _ = try verifiedByBoth(ledger, "after")
        let verify = Repository.root.appendingPathComponent("tools/verify").path
        let proofCheck = try LedgerTestSupport.run(verify, ["proof", proof])
        #expect(proofCheck.status == 0, "\(proofCheck.stdout) \(proofCheck.stderr)")
        let bundleCheck = try LedgerTestSupport.run(verify, ["bundle", bundle, "--ledger", ledger.directory])
        #expect(bundleCheck.status == 0, "\(bundleCheck.stdout) \(bundleCheck.stderr)")
    }

    @Test func erasureLeavesAProjectionThatHasNoStateUnbuilt() throws {
        let (ledger, call) = try ledger(projections: ["transcript", "retention"])
        let erasedPayloads = try sealedPayloads(ledger).filter { $0.hasPrefix(call + " ") }
        try #require(!erasedPayloads.isEmpty)
        let before = try projectionRows(ledger)
        #expect(!before.files.contains { $0.hasPrefix("crm-") })

        let run = try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json")
        try #require(run.status == 0, "\(run.stderr)")
        #expect(try jsonObject(run.stdout)["calls"] as? Int == 1)

        // The CRM projection was not built by the erasure; the transcript's other rows are as they were.
        let after = try projectionRows(ledger)
        #expect(after.files == before.files)
        let others = { (rows: [String]) in rows.filter { $0.split(separator: " ")[1] != call[...] } }
        #expect(others(after.rows) == others(before.rows))
        let everything = try allBytes(under: ledger.directory)
        for line in erasedPayloads {
            let bytes = hexBytes(String(line.split(separator: " ")[2])).prefix(48)
            #expect(!everything.contains(bytes), "ciphertext of \(line.prefix(60)) is still on disk")
        }
        // Built later, it reads the compacted log: both verifiers agree with it.
        #expect(try ledger.callLedger("project", "crm").status == 0)
        _ = try verifiedByBoth(ledger, "crm built after the erasure")
    }

    @Test(arguments: ["journal", "overwriting", "overwritten"], [false, true])
    func compactionKilledAtAFaultPointIsCompletedByTheNextRun(_ point: String, inline: Bool) throws {
        let (ledger, call) = try ledger(inline: inline)
        let erasedPayloads = try sealedPayloads(ledger).filter { $0.hasPrefix(call + " ") }
        try #require(!erasedPayloads.isEmpty)
        _ = try verifiedByBoth(ledger, "before")

        let killed = try ledger.callLedger(
            arguments: ["retention", "run", "--policies", policies, "--now", now],
            environment: ["CALL_LEDGER_COMPACTION_FAULT": point])
        #expect(killed.status == 128 + 9, "the run was not killed at \(point): \(killed.stderr)")
        let finish = try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json")
        #expect(finish.status == 0, "\(finish.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ledger.directory + "/segments/COMPACTION.journal"))

        _ = try verifiedByBoth(ledger, point)
        #expect(!(try classesNamed(by: "retention.compacted", in: ledger)).isEmpty)
        let everything = try allBytes(under: ledger.directory)
        for line in erasedPayloads {
            let bytes = hexBytes(String(line.split(separator: " ")[2])).prefix(48)
            #expect(!everything.contains(bytes), "\(point): ciphertext of \(line.prefix(60)) is still on disk")
        }
        let again = try jsonObject(
            try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json").stdout)
        #expect((again["compaction"] as? [String: Any])?["parts_compacted"] as? Int == 0)
    }

    @Test func sideCarErasureRewritesNoZstdFrameAndWritesLittleMoreThanTheErasedParts() throws {
        let (ledger, call) = try ledger()
        let erased = try sealedPayloads(ledger).filter { $0.hasPrefix(call + " ") }
        try #require(!erased.isEmpty)
        let framesBefore = try frameTable(ledger)
        #expect(framesBefore.contains { $0.magic == "CLF4" && $0.stored > $0.size })
        let before = try segmentFiles(ledger)

        let run = try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json")
        try #require(run.status == 0, "\(run.stderr)")
        let compaction = try #require(try jsonObject(run.stdout)["compaction"] as? [String: Any])
        #expect(compaction["segments_rewritten"] as? Int == 0)
        #expect(compaction["parts_compacted"] as? Int == erased.count)

        // Every frame that was in the log is where it was, and its zstd frame is byte for byte the same: only
        // side-car bytes changed, and no more of them than the erased parts' slots, their bitmap bytes and the
        // gaps (under 64 bytes) merged between two writes.
        let after = try segmentFiles(ledger)
        var changed = 0
        for frame in framesBefore {
            let old = try #require(before[frame.segment])
            let new = try #require(after[frame.segment])
            #expect(old[frame.offset..<frame.offset + frame.size] == new[frame.offset..<frame.offset + frame.size])
            for index in frame.offset..<frame.offset + frame.stored where old[index] != new[index] { changed += 1 }
        }
        let erasedBytes = erased.reduce(0) { $0 + max(32, $1.split(separator: " ")[2].count / 2) }
        let writes = compaction["bytes_written"] as? Int ?? 0
        #expect(changed > 0 && changed <= writes)
        #expect(writes <= erasedBytes + 64 * (erased.count + framesBefore.count), "\(writes) bytes written")
        _ = try verifiedByBoth(ledger, "after")
    }

    @Test func aLedgerMixingInlineAndSideCarFramesIsErasedAndBothVerifiersAcceptIt() throws {
        let (ledger, call) = try ledger(inline: true, switchToSideCar: true)
        let erased = try sealedPayloads(ledger).filter { $0.hasPrefix(call + " ") }
        try #require(!erased.isEmpty)
        let magics = Set(try frameTable(ledger).map(\.magic))
        #expect(magics == ["CLF1", "CLF3", "CLF4"])
        let proof = ledger.scratch.file("inclusion.json")
        let prove = try ledger.callLedger("prove", "inclusion", "--seq", "3")
        try #require(prove.status == 0, "\(prove.stderr)")
        try prove.stdout.write(toFile: proof, atomically: true, encoding: .utf8)
        let bundle = ledger.scratch.file("bundle.json")
        try #require(try ledger.callLedger("audit", "export", call, "-o", bundle).status == 0)
        _ = try verifiedByBoth(ledger, "before")

        let run = try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json")
        try #require(run.status == 0, "\(run.stderr)")
        let compaction = try #require(try jsonObject(run.stdout)["compaction"] as? [String: Any])
        #expect(compaction["parts_compacted"] as? Int == erased.count)

        let everything = try allBytes(under: ledger.directory)
        for line in erased {
            let bytes = hexBytes(String(line.split(separator: " ")[2])).prefix(48)
            #expect(!everything.contains(bytes), "ciphertext of \(line.prefix(60)) is still on disk")
        }
        _ = try verifiedByBoth(ledger, "after")
        let redaction = try ledger.callLedger("prove", "redaction", call, "--json")
        #expect(redaction.status == 0, "\(redaction.stderr)")
        let redactionFile = ledger.scratch.file("redaction.json")
        try redaction.stdout.write(toFile: redactionFile, atomically: true, encoding: .utf8)
        let verify = Repository.root.appendingPathComponent("tools/verify").path
        for (kind, file) in [("proof", proof), ("proof", redactionFile)] {
            let check = try LedgerTestSupport.run(verify, [kind, file])
            #expect(check.status == 0, "\(file): \(check.stdout) \(check.stderr)")
        }
        let bundleCheck = try LedgerTestSupport.run(verify, ["bundle", bundle, "--ledger", ledger.directory])
        #expect(bundleCheck.status == 0, "\(bundleCheck.stdout) \(bundleCheck.stderr)")
        let transcript = try ledger.callLedger("transcript", call)
        #expect(transcript.status == 0 && transcript.stdout.contains("[REDACTED:"), "\(transcript.stderr)")
    }

    @Test func aFrameThatNoLongerFitsHasItsSegmentRewrittenKeepingEveryOtherFrameByteForByte() throws {
        let (ledger, call) = try ledger(inline: true)
        let erased = try sealedPayloads(ledger).filter { $0.hasPrefix(call + " ") }
        try #require(!erased.isEmpty)
        #expect(Set(try frameTable(ledger).map(\.magic)) == ["CLF3"])
        let payloads = erased.map { hexBytes(String($0.split(separator: " ")[2])) }
        // Every frame's stored bytes, and whether its records hold an erased part's sealed bytes.
        var before: [(segment: String, bytes: Data, erased: Bool)] = []
        for (name, file) in try segmentFiles(ledger) {
            for frame in try SegmentFrame.all(in: ledger.directory + "/segments/" + name) {
                let content = Data(frame.content)
                before.append(
                    (
                        name, file[frame.offset..<frame.offset + frame.size],
                        payloads.contains { content.range(of: $0) != nil }
                    ))
            }
        }
        #expect(before.contains { $0.erased } && before.contains { !$0.erased })
        _ = try verifiedByBoth(ledger, "before")

        // The fault `no-fit` takes every stripped frame not to fit in place, as when its compacted form is longer.
        let run = try ledger.callLedger(
            arguments: ["retention", "run", "--policies", policies, "--now", now, "--json"],
            environment: ["CALL_LEDGER_COMPACTION_FAULT": "no-fit"])
        try #require(run.status == 0, "\(run.stderr)")
        let compaction = try #require(try jsonObject(run.stdout)["compaction"] as? [String: Any])
        #expect(compaction["parts_compacted"] as? Int == erased.count)
        #expect((compaction["segments_rewritten"] as? Int ?? 0) >= 1)
        #expect(compaction["frames"] as? Int == 0)

        let everything = try allBytes(under: ledger.directory)
        for line in erased {
            let bytes = hexBytes(String(line.split(separator: " ")[2])).prefix(48)
            #expect(!everything.contains(bytes), "ciphertext of \(line.prefix(60)) is still on disk")
        }
        // Every frame that held no erased part is still in its segment, byte for byte, and the rewritten frames
        // keep compact records.
        #expect(Set(try frameTable(ledger).map(\.magic)) == ["CLF3"])
        let filesAfter = try segmentFiles(ledger)
        for frame in before where !frame.erased {
            #expect(
                try #require(filesAfter[frame.segment]).range(of: frame.bytes) != nil, "a frame of \(frame.segment)")
        }
        _ = try verifiedByBoth(ledger, "after")
        let transcript = try ledger.callLedger("transcript", call)
        #expect(transcript.status == 0 && transcript.stdout.contains("[REDACTED:"), "\(transcript.stderr)")
    }
}
