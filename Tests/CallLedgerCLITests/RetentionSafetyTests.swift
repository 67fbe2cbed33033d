// What erasure leaves behind, checked byte by byte: after retention run and compaction no file under the ledger
// (segments decompressed, tree, index, keys and SQLite's WAL, checkpoints, projections) holds an erased data key
// (raw or wrapped), an erased part's ciphertext or an erased span's plaintext, while a held call's keys and
// ciphertext are all still there; and nothing personal reaches the index, the projections, the key store, or
// what the commands print about an ingest, including their error messages.
import Foundation
import LedgerTestSupport
import Testing

private let policies = Repository.root.appendingPathComponent("Projections/retention").path

/// The (call, class) → wrapped key (hex) rows of a ledger's key store.
private func wrappedKeys(_ ledger: CLILedger) throws -> [String: String] {
    try wrappedKeys(directory: ledger.directory)
}

/// Every file under `directory` except the segments, by path relative to it.
private func nonSegmentFiles(under directory: String) throws -> [String: ScannedBytes] {
    var files: [String: ScannedBytes] = [:]
    let enumerator = FileManager.default.enumerator(atPath: directory)
    while let name = enumerator?.nextObject() as? String {
        var isDirectory: ObjCBool = false
        let path = directory + "/" + name
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
            !name.hasPrefix("segments/")
        else { continue }
        files[name] = ScannedBytes(bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
    }
    return files
}

@Suite struct RetentionSafetyTests {
    @Test func noErasedKeyCiphertextOrPlaintextIsLeftInAnyFileAndTheHeldCallIsIntact() throws {
        let ledger = try CLILedger(["--segment-size", "200000"])
        let lines = simulatedLines(calls: 6, seed: 3)
        try #require(try ledger.callLedger("append", input: lines.joined(separator: "\n") + "\n").status == 0)
        try #require(
            try ledger.callLedger(
                "retention", "assign", "--policy", policies + "/gdpr-storage-limitation.yaml", "--tenant", "acme-bank"
            ).status == 0)
        let calls = try objects(try ledger.callLedger("calls", "--json").stdout)
        let held = try #require(calls.first { $0["tenant"] as? String == "acme-bank" }?["call"] as? String)
        try #require(
            try ledger.callLedger("hold", "place", "--call", held, "--hold", "h1", "--reason", "r").status == 0)
        try #require(try ledger.callLedger("checkpoint").status == 0)
        let now = "2027-03-01T00:00:00Z"
        let due = try objects(
            try ledger.callLedger("retention", "plan", "--policies", policies, "--now", now, "--json").stdout
        ).filter { $0["status"] as? String == "due" }.map { "\($0["call"]!) \($0["data_class"]!)" }
        try #require(!due.isEmpty)

        // Before the run: the raw data keys (an audit bundle carries those of the classes it opens), the wrapped
        // keys, the ciphertext, and the plaintext of the erased spans, which the input shows.
        var rawKeys: [String: Data] = [:]
        for call in Set(due.map { String($0.split(separator: " ")[0]) }).union([held]) {
            let output = ledger.scratch.file("bundle-\(call).json")
            let export = try ledger.callLedger("audit", "export", call, "-o", output)
            try #require(export.status == 0, "\(export.stderr)")
            let bundle = try jsonObject(try String(contentsOfFile: output, encoding: .utf8))
            for (dataClass, key) in bundle["keys"] as! [String: String] {
                rawKeys["\(call) \(dataClass)"] = Data(base64Encoded: key) ?? Data()
            }
            try FileManager.default.removeItem(atPath: output)
        }
        let wrapped = try wrappedKeys(ledger)
        let ciphertext = try sealedPayloads(ledger)
        let erasedCiphertext = ciphertext.filter {
            due.contains($0.split(separator: " ").prefix(2).joined(separator: " "))
        }
        let heldCiphertext = ciphertext.filter { $0.hasPrefix(held + " ") }
        let erasedCalls = Set(due.map { String($0.split(separator: " ")[0]) })
        let erasedNames = try lines.map(jsonObject).filter {
            erasedCalls.contains($0["call"] as? String ?? "") && $0["type"] as? String == "enrichment.result"
        }.flatMap { event -> [String] in
            let entities = ((event["body"] as? [String: Any])?["result"] as? [String: Any])?["entities"]
            return ((entities as? [[String: Any]]) ?? []).filter { $0["pii"] as? String == "name" }.compactMap {
                $0["text"] as? String
            }
        }
        try #require(!erasedNames.isEmpty && !erasedCiphertext.isEmpty && !heldCiphertext.isEmpty)
        for pair in due { try #require(rawKeys[pair]?.count == 32 && wrapped[pair] != nil, "\(pair)") }

        let run = try ledger.callLedger("retention", "run", "--policies", policies, "--now", now, "--json")
        try #require(run.status == 0, "\(run.stderr)")

        let everything = try allBytes(under: ledger.directory)
        for pair in due {
            #expect(!everything.contains(rawKeys[pair]!), "the data key of \(pair) is still on disk")
            #expect(!everything.contains(hexBytes(wrapped[pair]!)), "the wrapped key of \(pair) is still on disk")
        }
        for line in erasedCiphertext {
            let bytes = hexBytes(String(line.split(separator: " ")[2])).prefix(48)
            #expect(!everything.contains(bytes), "ciphertext of \(line.prefix(60)) is still on disk")
        }
        for name in erasedNames { #expect(!everything.contains(Data(name.utf8)), "\(name) is on disk") }

        // The same scan finds the held call's keys and ciphertext, and its transcript still opens.
        for (pair, key) in wrapped where pair.hasPrefix(held + " ") {
            #expect(everything.contains(hexBytes(key)), "the held key \(pair) is gone")
        }
        for line in heldCiphertext {
            #expect(everything.contains(hexBytes(String(line.split(separator: " ")[2])).prefix(48)))
        }
        let heldText = try ledger.callLedger("transcript", held, "--format", "json").stdout
        #expect(!heldText.contains("[REDACTED:name]"))
    }

    @Test func nothingPersonalReachesTheIndexProjectionsKeyStoreOrMessages() throws {
        let ledger = try CLILedger()
        var printed = ""
        func record(_ result: ProcessResult) {
            printed += result.stdout + result.stderr
        }
        // Without the example assigning a policy named pci-dss, which no shipped file defines: appending after
        // it would be refused, since its zero retention could not be enforced.
        let examples =
            try String(contentsOf: Repository.fixture("events/examples.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.contains(#""retention.policy.assigned""#) }
            .joined(separator: "\n") + "\n"
        let appended = try ledger.callLedger("append", input: examples)
        try #require(appended.status == 0, "\(appended.stderr)")
        record(appended)
        for (kind, file, extra) in [
            ("connect-ctr", "connect/ctr-inbound-voice.json", [String]()),
            ("contact-lens", "connect/docs-contact-lens-postcall-analysis-original.json", ["--call", "cl-1"]),
        ] {
            let result = try ledger.callLedger(
                arguments: ["ingest", "--from", kind, Repository.fixture(file).path] + extra)
            try #require(result.status == 0, "\(result.stderr)")
            record(result)
        }
        // Rejected lines that carry personal data: the errors name the line and field, never the values.
        let started = try #require(examples.split(separator: "\n").first { $0.contains(#""call.started""#) })
        let entities = try #require(examples.split(separator: "\n").first { $0.contains(#""kind":"entities""#) })
        for bad in [
            started.replacingOccurrences(of: #""channel":"VOICE""#, with: #""channel":"PIGEON""#)
                .replacingOccurrences(of: "ctr:", with: "bad-1:"),
            entities.replacingOccurrences(of: #""confidence":0.99"#, with: #""confidence":2.5"#)
                .replacingOccurrences(of: "nlp:", with: "bad-2:"),
            String(started.prefix(started.count - 40)),
        ] {
            let rejected = try ledger.callLedger("append", input: bad + "\n")
            #expect(rejected.status == 2, "\(rejected.stderr)")
            record(rejected)
        }
        for arguments in [
            ["calls", "--json"], ["stats"], ["verify", "--json"], ["checkpoint"], ["project"],
            ["retention", "plan", "--policies", policies, "--all", "--json"],
        ] {
            let result = try ledger.callLedger(arguments: arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            record(result)
        }
        _ = try ledger.callLedger("transcript", "cl-1")

        let lens = try fixtureJSON("connect/docs-contact-lens-postcall-analysis-original.json")
        let lensLines = (lens["Transcript"] as! [[String: Any]]).compactMap { $0["Content"] as? String }
            .filter { $0.count > 24 }
        let personal =
            ["4111 1111 1111 1111", "Jane Roe", "+14155550123", "+12065550142", "my card number", "lost card"]
            + lensLines
        let files = try nonSegmentFiles(under: ledger.directory)
        #expect(files.keys.contains("index.sqlite") && files.keys.contains("keys.sqlite"))
        #expect(files.keys.contains { $0.hasPrefix("projections/transcript-") })
        #expect(files.keys.contains { $0.hasPrefix("projections/retention-") })
        for text in personal {
            for (name, bytes) in files { #expect(!bytes.contains(Data(text.utf8)), "'\(text)' is in \(name)") }
            #expect(!printed.contains(text), "'\(text)' was printed")
        }
        // The strings are really in the ledger: a reader with the key file sees them.
        let opened = try ledger.callLedger("cat").stdout + (try ledger.callLedger("transcript", "cl-1").stdout)
        for text in personal { #expect(opened.contains(text), "'\(text)' is not in the ledger at all") }
    }
}
