// prove redaction and audit export end to end: on a simulated day after `retention run` (which compacts), the
// redaction proof and the bundles verify with tools/verify; the store check tells compacted, shredded-only and
// still-keyed classes apart; tampered bundles are rejected naming the fault; bad requests write nothing.
import Foundation
import LedgerTestSupport
import Testing

/// A simulated day, GDPR assigned to acme-bank, one acme-bank call held, retention run at a date when names are
/// due, then a checkpoint that covers the purged events. Built once; the tests only read it.
private struct ErasedLedger {
    let ledger: CLILedger
    /// A call that a retention.purged event erased classes of.
    let erased: String
    /// A call of another tenant, never erased.
    let intact: String
    /// The held acme-bank call.
    let held: String

    static let shared = Result { try ErasedLedger() }

    private init() throws {
        ledger = try CLILedger()
        let day = simulatedLines(calls: 6, seed: 3).joined(separator: "\n") + "\n"
        try #require(try ledger.callLedger("append", input: day).status == 0)
        let policies = Repository.root.appendingPathComponent("Projections/retention").path
        try #require(
            try ledger.callLedger(
                "retention", "assign", "--policy", policies + "/gdpr-storage-limitation.yaml", "--tenant", "acme-bank"
            ).status == 0)
        let calls =
            try JSONSerialization.jsonObject(with: Data(try ledger.callLedger("calls", "--json").stdout.utf8))
            as! [[String: Any]]
        held = try #require(calls.first { $0["tenant"] as? String == "acme-bank" }?["call"] as? String)
        intact = try #require(calls.first { $0["tenant"] as? String != "acme-bank" }?["call"] as? String)
        try #require(
            try ledger.callLedger("hold", "place", "--call", held, "--hold", "case-9", "--reason", "Dispute").status
                == 0)
        let run = try ledger.callLedger(
            "retention", "run", "--policies", policies, "--now", "2027-03-01T00:00:00Z", "--json")
        try #require(run.status == 0, "\(run.stderr)")
        try #require(try ledger.callLedger("checkpoint").status == 0)
        let purged = try catted(ledger).filter { $0["type"] as? String == "retention.purged" }
        erased = try #require(purged.first?["call"] as? String)
    }
}

/// Writes `text` to a new file in `scratch` and returns its path.
private func write(_ text: String, _ name: String, in scratch: ScratchDirectory) throws -> String {
    let path = scratch.file(name)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// `audit export CALL` into a file of `scratch`; the bundle's path and parsed JSON.
private func exportBundle(
    _ ledger: CLILedger, _ call: String, _ extra: [String] = [], in scratch: ScratchDirectory
) throws -> (path: String, bundle: [String: Any]) {
    let path = scratch.file("bundle-\(UUID().uuidString).json")
    let result = try LedgerTestSupport.callLedger(
        arguments: ["audit", "export", call, "-o", path, "--ledger", ledger.directory] + extra)
    try #require(result.status == 0, "\(result.stderr)")
    return (path, try jsonObject(try String(contentsOfFile: path, encoding: .utf8)))
}

@Suite struct RedactionProofTests {
    @Test func redactionProofAfterCompactionVerifiesAndShowsKeysGoneAndPartsCompacted() throws {
        let fixture = try ErasedLedger.shared.get()
        let scratch = ScratchDirectory()
        let result = try fixture.ledger.callLedger("prove", "redaction", fixture.erased, "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let proof = try jsonObject(result.stdout)
        let store = try #require(proof["store"] as? [String: Any])
        #expect((store["keys_present"] as? [String])?.isEmpty == true)
        #expect((store["parts_compacted"] as? Int ?? 0) > 0)
        #expect(store["parts_with_ciphertext"] as? Int == 0)
        let purges = try #require(proof["purges"] as? [[String: Any]])
        #expect(purges.count == 1)
        #expect((purges[0]["classes"] as? [String])?.contains("pii.name") == true)
        #expect(((purges[0]["leaves"] as? [Any])?.count ?? 0) > 0)

        let file = try write(result.stdout, "redaction.json", in: scratch)
        let verified = try PythonVerifier.verify("proof", file, "--key", fixture.ledger.directory + "/verifier.key")
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        #expect(verified.stdout.contains("OK: redaction of call \(fixture.erased)"))
        #expect(verified.stdout.contains("no data key left"))

        let human = try fixture.ledger.callLedger("prove", "redaction", fixture.erased)
        #expect(human.status == 0)
        #expect(human.stdout.contains("no data key left") && human.stdout.contains("0 still hold ciphertext"))

        // The held call was not erased: nothing to prove.
        let held = try fixture.ledger.callLedger("prove", "redaction", fixture.held)
        #expect(held.status == 1)
        #expect(held.stderr.contains("call '\(fixture.held)' has no retention.purged event"), "\(held.stderr)")
        #expect(held.stdout.isEmpty)
    }

    @Test func storeCheckTellsShreddedButNotCompactedAndStillKeyedClassesApart() throws {
        let ledger = try CLILedger()
        let day = simulatedLines(calls: 2, seed: 5).joined(separator: "\n") + "\n"
        try #require(try ledger.callLedger("append", input: day).status == 0)
        let event = try #require(
            try catted(ledger).first {
                ($0["sealed"] as? [[String: Any]])?.contains { $0["class"] as? String == "pii.name" } == true
            })
        let call = try #require(event["call"] as? String)
        let tenant = try #require(event["tenant"] as? String)
        let checkpoint = try jsonObject(try ledger.callLedger("checkpoint", "--json").stdout)
        // A purge recorded by hand: the first names pii.name, whose key is destroyed here (no compaction runs);
        // the second names content, whose key is left in place.
        let destroyed = try LedgerTestSupport.run(
            "/usr/bin/sqlite3",
            [ledger.directory + "/keys.sqlite", "DELETE FROM data_keys WHERE call = '\(call)' AND class = 'pii.name'"])
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        let purged = [
            ["pii.name"], ["content"],
        ].enumerated().map { index, classes in
            let body: [String: Any] = [
                "classes": classes, "method": "crypto-shred",
                "policy": ["name": "manual", "version": "1", "digest": String(repeating: "ab", count: 32)],
                "checkpoint": ["tree_size": checkpoint["tree_size"]!, "root": checkpoint["root_hash"]!],
            ]
            let line: [String: Any] = [
                "type": "retention.purged", "call": call, "tenant": tenant, "source": "test/1",
                "idempotency": "manual-purge-\(index)", "body": body,
            ]
            return String(decoding: try! JSONSerialization.data(withJSONObject: line), as: UTF8.self)
        }
        try #require(try ledger.callLedger("append", input: purged.joined(separator: "\n") + "\n").status == 0)
        try #require(try ledger.callLedger("checkpoint").status == 0)

        let result = try ledger.callLedger("prove", "redaction", call, "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let proof = try jsonObject(result.stdout)
        #expect((proof["purges"] as? [Any])?.count == 2)
        let store = try #require(proof["store"] as? [String: Any])
        #expect(store["erased_classes"] as? [String] == ["content", "pii.name"])
        #expect(store["keys_present"] as? [String] == ["content"])
        #expect(store["parts_compacted"] as? Int == 0)
        #expect((store["parts_with_ciphertext"] as? Int ?? 0) > 0)
        let human = try ledger.callLedger("prove", "redaction", call)
        #expect(human.stdout.contains("data keys STILL PRESENT for content"), "\(human.stdout)")
        #expect(human.stdout.contains("compaction has not removed them yet"))
        let scratch = ScratchDirectory()
        let verified = try PythonVerifier.verify("proof", try write(result.stdout, "proof.json", in: scratch))
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        #expect(verified.stdout.contains("data keys STILL PRESENT for content"))
    }

    @Test func bundlesOfAnErasedAndAnIntactCallVerify() throws {
        let fixture = try ErasedLedger.shared.get()
        let scratch = ScratchDirectory()
        let (erasedPath, erased) = try exportBundle(fixture.ledger, fixture.erased, in: scratch)
        let classes = try #require(erased["classes"] as? [String: [String]])
        #expect(classes["erased"]?.contains("pii.name") == true)
        #expect(classes["opened"]?.contains("content") == true)
        #expect(Set(classes["opened"] ?? []).isDisjoint(with: classes["erased"] ?? []))
        #expect(Set((erased["keys"] as? [String: String])?.keys.map { $0 } ?? []) == Set(classes["opened"] ?? []))
        #expect(erased["redaction"] is [String: Any])
        let verified = try PythonVerifier.verify(
            "bundle", erasedPath, "--key", fixture.ledger.directory + "/verifier.key", "--json")
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        let summary = try jsonObject(verified.stdout)
        #expect(summary["events"] as? Int == (erased["events"] as? [Any])?.count)
        #expect((summary["parts_digest_only"] as? Int ?? 0) > 0 && (summary["parts_opened"] as? Int ?? 0) > 0)
        // The bundle holds every event of the call.
        let catted = try catted(fixture.ledger, "--call", fixture.erased)
        #expect(catted.count == (erased["events"] as? [Any])?.count)

        let (intactPath, intact) = try exportBundle(fixture.ledger, fixture.intact, in: scratch)
        #expect(intact["redaction"] is NSNull)
        #expect(((intact["classes"] as? [String: [String]])?["erased"])?.isEmpty == true)
        let intactVerified = try PythonVerifier.verify("bundle", intactPath)
        #expect(intactVerified.status == 0, "\(intactVerified.stdout) \(intactVerified.stderr)")
        #expect(intactVerified.stdout.contains("0 digests only"))

        // --as-of and --open: fewer events, and a class left closed shows as withheld digests.
        let events = try #require(intact["events"] as? [[String: Any]])
        let middle = try #require(events[events.count / 2]["seq"] as? Int)
        let (partialPath, partial) = try exportBundle(
            fixture.ledger, fixture.intact, ["--as-of", "\(middle)", "--open", "content"], in: scratch)
        #expect((partial["events"] as? [Any])?.count == events.count / 2 + 1)
        #expect(partial["bound"] as? Int == middle + 1)
        #expect((partial["classes"] as? [String: [String]])?["opened"] == ["content"])
        let partialVerified = try PythonVerifier.verify("bundle", partialPath)
        #expect(partialVerified.status == 0, "\(partialVerified.stdout) \(partialVerified.stderr)")
    }

    /// One way to tamper with a bundle, and what the verifier's message must name.
    struct Tampering: CustomTestStringConvertible, Sendable {
        let name: String
        let expected: String
        let change: @Sendable (inout [String: Any]) throws -> Void
        var testDescription: String { name }
    }

    static let tamperings: [Tampering] = [
        Tampering(name: "flip a byte in a record", expected: "events[3].") { bundle in
            var events = bundle["events"] as! [[String: Any]]
            var record = Data(base64Encoded: events[3]["record"] as! String)!
            record[record.count / 2] ^= 0x01
            events[3]["record"] = record.base64EncodedString()
            bundle["events"] = events
        },
        Tampering(name: "change an opened plaintext", expected: ".event.body") { bundle in
            var events = bundle["events"] as! [[String: Any]]
            let index = events.firstIndex { event in
                let shown = event["event"] as! [String: Any]
                return (shown["sealed"] as? [[String: Any]])?.contains { $0["state"] as? String == "opened" } == true
                    && (shown["body"] as? [String: Any])?["text"] is String
            }!
            var shown = events[index]["event"] as! [String: Any]
            var body = shown["body"] as! [String: Any]
            body["text"] = (body["text"] as! String) + " (edited)"
            shown["body"] = body
            events[index]["event"] = shown
            bundle["events"] = events
        },
        Tampering(name: "swap a proof hash", expected: "events[5].inclusion_proof") { bundle in
            var events = bundle["events"] as! [[String: Any]]
            var path = events[5]["inclusion_proof"] as! [String]
            path.swapAt(0, 1)
            events[5]["inclusion_proof"] = path
            bundle["events"] = events
        },
        Tampering(name: "alter the checkpoint note", expected: "checkpoint.note") { bundle in
            var checkpoint = bundle["checkpoint"] as! [String: Any]
            let note = checkpoint["note"] as! String
            let size = checkpoint["tree_size"] as! Int
            checkpoint["note"] = note.replacingOccurrences(of: "\n\(size)\n", with: "\n\(size + 1)\n")
            bundle["checkpoint"] = checkpoint
        },
        Tampering(name: "drop an event from the middle", expected: "left out") { bundle in
            var events = bundle["events"] as! [[String: Any]]
            events.remove(at: events.count / 2)
            bundle["events"] = events
        },
        Tampering(name: "change the purged classes", expected: "redaction.purges[0].classes") { bundle in
            var redaction = bundle["redaction"] as! [String: Any]
            var purges = redaction["purges"] as! [[String: Any]]
            purges[0]["classes"] = Array((purges[0]["classes"] as! [String]).dropLast())
            redaction["purges"] = purges
            bundle["redaction"] = redaction
        },
        Tampering(name: "shrink the erased classes", expected: "classes.erased") { bundle in
            var classes = bundle["classes"] as! [String: [String]]
            let moved = classes["erased"]!.removeLast()
            classes["withheld"] = (classes["withheld"] ?? []) + [moved]
            bundle["classes"] = classes
        },
    ]

    @Test(arguments: tamperings)
    func tamperedBundlesAreRejectedNamingTheFault(_ tampering: Tampering) throws {
        let fixture = try ErasedLedger.shared.get()
        let scratch = ScratchDirectory()
        let (_, original) = try exportBundle(fixture.ledger, fixture.erased, in: scratch)
        // Re-serialized without a change, the bundle still verifies: every fault below comes from the change.
        let untouched = try write(
            String(decoding: try JSONSerialization.data(withJSONObject: original), as: UTF8.self), "same.json",
            in: scratch)
        #expect(try PythonVerifier.verify("bundle", untouched).status == 0)
        var bundle = original
        try tampering.change(&bundle)
        let path = try write(
            String(decoding: try JSONSerialization.data(withJSONObject: bundle), as: UTF8.self), "tampered.json",
            in: scratch)
        let result = try PythonVerifier.verify("bundle", path)
        #expect(result.status == 1, "\(tampering.name): \(result.stdout)")
        #expect(result.stderr.contains("FAULT"))
        #expect(result.stderr.contains(tampering.expected), "\(tampering.name): \(result.stderr)")
    }

    @Test func badRequestsFailPreciselyAndWriteNothing() throws {
        let fixture = try ErasedLedger.shared.get()
        let scratch = ScratchDirectory()
        let output = scratch.file("out.json")
        func export(_ arguments: String...) throws -> ProcessResult {
            try fixture.ledger.callLedger(arguments: ["audit", "export"] + arguments)
        }
        let unknown = try export("no-such-call", "-o", output)
        #expect(unknown.status == 1 && unknown.stderr.contains("call 'no-such-call' is not in the ledger"))
        let unknownProof = try fixture.ledger.callLedger("prove", "redaction", "no-such-call")
        #expect(unknownProof.status == 1 && unknownProof.stderr.contains("call 'no-such-call' is not in the ledger"))
        let badAsOf = try export(fixture.erased, "--as-of", "yesterday", "-o", output)
        #expect(badAsOf.status != 0 && badAsOf.stderr.contains("--as-of"), "\(badAsOf.stderr)")
        let tooEarly = try export(fixture.erased, "--as-of", "2001-01-01T00:00:00Z", "-o", output)
        #expect(tooEarly.status == 1 && tooEarly.stderr.contains("has no events below seq 0"), "\(tooEarly.stderr)")
        let missingDirectory = try export(fixture.erased, "-o", scratch.file("missing/out.json"))
        #expect(missingDirectory.status == 1 && missingDirectory.stderr.contains("does not exist"))
        let directory = try export(fixture.erased, "-o", scratch.path)
        #expect(directory.status == 1 && directory.stderr.contains("is a directory"))
        let erasedClass = try export(fixture.erased, "--open", "pii.name", "-o", output)
        #expect(erasedClass.status == 1 && erasedClass.stderr.contains("--open pii.name: that class"))
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }
}
