// Opening a ledger through the CLI: read commands never change the log (a torn tail is read around, a corrupt
// last frame is reported), only a writer's recovery cuts a tail and only a torn one; readers never hold the
// writer's lock and a writer waits `--wait` seconds for another; every read command works on a read-only mount.
import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

/// A ledger of `calls` simulated calls appended through the CLI in frames of at most 100 events.
private func filledLedger(calls: Int = 2, seed: UInt64 = 31) throws -> (ledger: CLILedger, lines: [String]) {
    let ledger = try CLILedger(["--batch", "100"])
    let lines = simulatedLines(calls: calls, seed: seed)
    let append = try ledger.callLedger("append", input: lines.joined(separator: "\n") + "\n")
    try #require(append.status == 0, "\(append.stderr)")
    return (ledger, lines)
}

/// The last segment file of the ledger.
private func lastSegment(_ ledger: CLILedger) throws -> String {
    let names = try FileManager.default.contentsOfDirectory(atPath: ledger.directory + "/segments").sorted()
    return ledger.directory + "/segments/" + (try #require(names.last))
}

/// Every segment file's bytes, by name.
private func segmentBytes(_ ledger: CLILedger) throws -> [String: Data] {
    var result: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: ledger.directory + "/segments") {
        result[name] = try Data(contentsOf: URL(fileURLWithPath: ledger.directory + "/segments/" + name))
    }
    return result
}

private func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
    var rest = value
    while rest >= 0x80 {
        bytes.append(UInt8(rest & 0x7F) | 0x80)
        rest >>= 7
    }
    bytes.append(UInt8(rest))
}

/// A complete zstd frame (content size and checksum set) whose content has a valid header for `firstSeq` but a
/// record no reader decodes (record version 9).
private func undecodableFrame(firstSeq: UInt64) throws -> [UInt8] {
    var content = Array("CLF1".utf8)
    appendVarint(firstSeq, to: &content)
    appendVarint(1, to: &content)
    appendVarint(0, to: &content)
    appendVarint(3, to: &content)
    content += [9, 0, 0]
    var frame: [UInt8] = []
    try ZstdCompressor(level: 3).compress(content, appendingTo: &frame)
    return frame
}

@Suite struct LogTailTests {
    @Test func readCommandsLeaveATornTailAndAppendCutsIt() throws {
        let (ledger, lines) = try filledLedger()
        let path = try lastSegment(ledger)
        let before = try ledger.callLedger("stats", "--json")
        let frames = try jsonObject(before.stdout)["frames"] as! Int
        try #require(lines.count > 200 && frames >= 3)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 40)
        try handle.close()
        let torn = try segmentBytes(ledger)

        let stats = try ledger.callLedger("stats", "--json")
        #expect(stats.status == 0, "\(stats.stderr)")
        let readable = try #require(try jsonObject(stats.stdout)["events"] as? Int)
        #expect(readable < lines.count && readable > 0)
        #expect(stats.stderr.contains("torn write"), "\(stats.stderr)")
        let cat = try ledger.callLedger("cat")
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.stdout.split(separator: "\n").count == readable)
        let verify = try ledger.callLedger("verify", "--json")
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        #expect(try jsonObject(verify.stdout)["events"] as? Int == readable)
        #expect(try segmentBytes(ledger) == torn, "a read command changed the log")

        let append = try ledger.callLedger("append", input: lines.joined(separator: "\n") + "\n")
        #expect(append.status == 0, "\(append.stderr)")
        #expect(append.stderr.contains("cut a torn last frame"), "\(append.stderr)")
        #expect(try ledger.verified().events == lines.count)
    }

    @Test func aCompleteChecksummedButUndecodableLastFrameIsReportedAndNeverCut() throws {
        let (ledger, lines) = try filledLedger()
        let path = try lastSegment(ledger)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let offset = try handle.seekToEnd()
        try handle.write(contentsOf: Data(try undecodableFrame(firstSeq: UInt64(lines.count))))
        try handle.close()
        let corrupt = try segmentBytes(ledger)
        let name = (path as NSString).lastPathComponent

        for command in [["stats"], ["cat"], ["calls"]] {
            let result = try ledger.callLedger(arguments: command)
            #expect(result.status == 1, "\(command): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains(name) && result.stderr.contains("offset \(offset)"), "\(result.stderr)")
            #expect(result.stderr.contains("seq \(lines.count)"), "\(result.stderr)")
        }
        let verify = try ledger.callLedger("verify", "--json")
        #expect(verify.status == 1)
        let fault = try #require(try jsonObject(verify.stdout)["fault"] as? [String: Any])
        #expect(fault["file"] as? String == name && fault["offset"] as? Int == Int(offset))
        #expect(try segmentBytes(ledger) == corrupt, "a read command changed the log")

        let append = try ledger.callLedger("append", input: lines[0] + "\n")
        #expect(append.status == 1, "\(append.stderr)")
        #expect(append.stderr.contains(name) && append.stderr.contains("offset \(offset)"), "\(append.stderr)")
        #expect(append.stderr.contains("seq \(lines.count)"), "\(append.stderr)")
        #expect(try segmentBytes(ledger) == corrupt, "append cut a frame that is not torn")
    }
}

extension LogTailTests {
    /// A tree that lags the log (its level files lost their last hashes in a crash) is recomputed in memory by
    /// a reader, whose proofs still verify against the checkpoint; only a writer rewrites the files.
    @Test func aLaggingTreeIsCaughtUpInMemoryByReaders() throws {
        let (ledger, lines) = try filledLedger()
        let checkpoint = try ledger.callLedger("checkpoint", "--json")
        try #require(checkpoint.status == 0, "\(checkpoint.stderr)")
        let root = try #require(try jsonObject(checkpoint.stdout)["root_hash"] as? String)
        let tree = ledger.directory + "/tree"
        for name in try FileManager.default.contentsOfDirectory(atPath: tree) where name.hasSuffix(".hashes") {
            let handle = try #require(FileHandle(forUpdatingAtPath: tree + "/" + name))
            try handle.truncate(atOffset: 0)
            try handle.close()
        }
        let prove = try ledger.callLedger("prove", "inclusion", "--seq", "\(lines.count - 1)")
        #expect(prove.status == 0, "\(prove.stderr)")
        #expect(prove.stdout.contains(root), "\(prove.stdout)")
        let consistency = try ledger.callLedger("prove", "consistency", "--from", "7", "--to", "\(lines.count)")
        #expect(consistency.status == 0, "\(consistency.stderr)")
        for name in try FileManager.default.contentsOfDirectory(atPath: tree) where name.hasSuffix(".hashes") {
            let size = try FileManager.default.attributesOfItem(atPath: tree + "/" + name)[.size] as? Int
            #expect(size == 0, "a reader wrote \(name)")
        }
        #expect(try ledger.verified().root == root)
    }
}

/// A `call-ledger append` that holds the writer lock until its standard input is closed.
private final class HeldWriter: @unchecked Sendable {
    let process = Process()
    let input = Pipe()

    init(_ ledger: CLILedger) throws {
        process.executableURL = URL(fileURLWithPath: Repository.executable)
        process.arguments = ["append", "--ledger", ledger.directory]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let lock = ledger.directory + "/LOCK"
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: lock, encoding: .utf8)) ?? ""
            if text.contains("pid \(process.processIdentifier)") { return }
            usleep(20_000)
        }
        throw OpenTestFailure("the held writer never took the lock")
    }

    /// Sends interchange lines to the writer.
    func send(_ lines: [String]) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    func release() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

private struct OpenTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite struct WriterLockTests {
    @Test func readersInALoopNeverMakeAnAppendWait() throws {
        let (ledger, _) = try filledLedger(calls: 1)
        let extra = simulatedLines(calls: 1, seed: 77)
        let appends = 40
        try #require(extra.count >= appends)
        let stop = ConditionFlag()
        let readers = [["stats"], ["cat", "--to", "0"]].map { command in
            Thread {
                while !stop.isSet { _ = try? ledger.callLedger(arguments: command) }
            }
        }
        for reader in readers { reader.start() }
        var refused: [String] = []
        for line in extra.prefix(appends) {
            let result = try ledger.callLedger("append", "--wait", "0", input: line + "\n")
            if result.status != 0 { refused.append(result.stderr) }
        }
        stop.set()
        #expect(refused.isEmpty, "\(refused.count) of \(appends) appends refused: \(refused.first ?? "")")
    }

    @Test func aSecondWriterWaitsForTheFirstOrNamesItsPid() throws {
        let (ledger, lines) = try filledLedger(calls: 1)
        let held = try HeldWriter(ledger)
        let refused = try ledger.callLedger("checkpoint", "--wait", "0.3")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("pid \(held.process.processIdentifier)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--wait"), "\(refused.stderr)")

        let releaser = Thread {
            usleep(1_000_000)
            held.release()
        }
        let start = Date()
        releaser.start()
        let waited = try ledger.callLedger("checkpoint", "--wait", "20", "--json")
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(Date().timeIntervalSince(start) >= 0.9)
        #expect(try jsonObject(waited.stdout)["tree_size"] as? Int == lines.count)
    }
}

/// A flag threads can set and read.
private final class ConditionFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A tmpfs mounted in a scratch directory, which can be made read-only (`mount -o remount,ro`): a read-only
/// file system stops root too, where `chmod` does not. Unmounted when released.
private final class ReadOnlyMount {
    let point: String
    private let scratch = ScratchDirectory()

    /// Whether this machine lets the tests mount a tmpfs and remount it read-only (root with CAP_SYS_ADMIN).
    static let available: Bool = {
        guard let probe = try? ReadOnlyMount() else { return false }
        return (try? probe.makeReadOnly()) != nil
    }()

    init(megabytes: Int = 64) throws {
        point = scratch.file("mount")
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
        let mount = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", point])
        guard mount.status == 0 else { throw OpenTestFailure("mount: \(mount.stderr)") }
    }

    func makeReadOnly() throws {
        let remount = try run("/bin/mount", ["-o", "remount,ro", point])
        guard remount.status == 0 else { throw OpenTestFailure("remount: \(remount.stderr)") }
        guard !FileManager.default.createFile(atPath: point + "/probe", contents: Data()) else {
            throw OpenTestFailure("\(point) is still writable after remount,ro")
        }
    }

    /// Fills the file system until no byte is left.
    func fill() throws {
        _ = try run("/bin/dd", ["if=/dev/zero", "of=\(point)/fill", "bs=1M"])
    }

    deinit { _ = try? run("/bin/umount", ["-l", point]) }
}

@Suite struct ReadOnlyLedgerTests {
    /// Read-only mounts need root with CAP_SYS_ADMIN; where the machine does not allow them the test is
    /// disabled with this reason rather than run with `chmod`, which root ignores.
    @Test(.enabled(if: ReadOnlyMount.available, "mounting a tmpfs read-only is not permitted here (needs root)"))
    func everyReadCommandWorksOnAReadOnlyCopy() throws {
        let (ledger, lines) = try filledLedger(calls: 3, seed: 41)
        let scorecard = Repository.root.appendingPathComponent("Projections/qa/support-call-basics.yaml").path
        let mapping = Repository.root.appendingPathComponent("Projections/crm/voicecall-v1.yaml").path
        let policies = Repository.root.appendingPathComponent("Projections/retention").path
        let call = try #require(try jsonObject(lines[0])["call"] as? String)
        let qa = try ledger.callLedger("qa", "results", call, "--scorecard", scorecard, "--json")
        try #require(qa.status == 0, "\(qa.stderr)")
        try #require(try ledger.callLedger("checkpoint").status == 0)
        // Events appended after the projections were caught up: read-only readers must catch up elsewhere.
        let more = simulatedLines(calls: 1, seed: 43)
        try #require(try ledger.callLedger("append", input: more.joined(separator: "\n") + "\n").status == 0)
        let total = try #require(try jsonObject(try ledger.callLedger("stats", "--json").stdout)["events"] as? Int)
        try #require(total >= lines.count + more.count)

        let mount = try ReadOnlyMount()
        let copy = mount.point + "/ledger"
        let copied = try run("/bin/cp", ["-a", ledger.directory, copy])
        try #require(copied.status == 0, "\(copied.stderr)")
        try #require(try run("/bin/cp", ["-a", ledger.directory + ".key", copy + ".key"]).status == 0)
        try mount.makeReadOnly()
        let output = ledger.scratch.file("bundle.json")
        let commands: [[String]] = [
            ["verify"], ["stats", "--json"], ["cat", "--from", "0", "--to", "2"], ["calls"],
            ["transcript", call], ["prove", "inclusion", "--seq", "3"],
            ["prove", "consistency", "--from", "5", "--to", "\(lines.count)"],
            ["audit", "export", call, "--output", output], ["qa", "results", call, "--scorecard", scorecard],
            ["retention", "status", "--policies", policies], ["retention", "plan", "--policies", policies],
            ["crm", "plan", "--mapping", mapping, "--scorecard", scorecard],
        ]
        for command in commands {
            let result = try LedgerTestSupport.callLedger(arguments: command + ["--ledger", copy])
            #expect(result.status == 0, "\(command.joined(separator: " ")): \(result.stderr)")
            #expect(!result.stderr.contains("SQLite error"), "\(command.joined(separator: " ")): \(result.stderr)")
        }
        let stats = try LedgerTestSupport.callLedger(arguments: ["stats", "--json", "--ledger", copy])
        #expect(try jsonObject(stats.stdout)["events"] as? Int == total)
        let calls = try LedgerTestSupport.callLedger(arguments: ["calls", "--ledger", copy])
        #expect(calls.stdout.split(separator: "\n").count >= 4, "\(calls.stdout)")

        let append = try LedgerTestSupport.callLedger(
            arguments: ["append", "--ledger", copy], input: Data((more[0] + "\n").utf8))
        #expect(append.status == 1)
        #expect(append.stderr.contains("read commands"), "\(append.stderr)")
    }
}

extension ReadOnlyLedgerTests {
    @Test(.enabled(if: ReadOnlyMount.available, "mounting a tmpfs is not permitted here (needs root)"))
    func readCommandsWorkOnAFullDisk() throws {
        let mount = try ReadOnlyMount(megabytes: 12)
        let directory = mount.point + "/ledger"
        try #require(
            try LedgerTestSupport.callLedger("init", directory, "--origin", "full.test/ledger").status == 0)
        let lines = simulatedLines(calls: 2, seed: 51)
        let first = try LedgerTestSupport.callLedger(
            arguments: ["append", "--ledger", directory], input: Data((lines.joined(separator: "\n") + "\n").utf8))
        try #require(first.status == 0, "\(first.stderr)")
        try #require(try LedgerTestSupport.callLedger(arguments: ["calls", "--ledger", directory]).status == 0)
        let more = simulatedLines(calls: 1, seed: 53)
        let second = try LedgerTestSupport.callLedger(
            arguments: ["append", "--ledger", directory], input: Data((more.joined(separator: "\n") + "\n").utf8))
        try #require(second.status == 0, "\(second.stderr)")
        try mount.fill()
        for command in [["verify"], ["stats"], ["cat", "--to", "3"], ["calls"]] {
            let result = try LedgerTestSupport.callLedger(arguments: command + ["--ledger", directory])
            #expect(result.status == 0, "\(command.joined(separator: " ")): \(result.stderr)")
        }
        let calls = try LedgerTestSupport.callLedger(arguments: ["calls", "--ledger", directory])
        #expect(calls.stdout.split(separator: "\n").count >= 4, "\(calls.stdout)")
    }

    /// A SQLite failure reaching the user names the file and says what to do about it.
    @Test func aDamagedKeyStoreIsNamedWithWhatToDo() throws {
        let (ledger, _) = try filledLedger(calls: 1)
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: ledger.directory + "/keys.sqlite" + suffix)
        }
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: ledger.directory + "/keys.sqlite"))
        let cat = try ledger.callLedger("cat", "--to", "3")
        #expect(cat.status == 1)
        #expect(cat.stderr.contains("keys.sqlite"), "\(cat.stderr)")
        #expect(cat.stderr.contains("restore it from a backup"), "\(cat.stderr)")
    }
}

extension ReadOnlyLedgerTests {
    /// A copy taken while a writer was running holds `-wal` files with committed rows but (copied without them,
    /// or on media where they cannot be created) no `-shm`: readers still see every row.
    @Test(.enabled(if: ReadOnlyMount.available, "mounting a tmpfs read-only is not permitted here (needs root)"))
    func aCopyTakenWhileAWriterRanIsReadWithItsWriteAheadLogs() throws {
        let (ledger, lines) = try filledLedger(calls: 1, seed: 61)
        let held = try HeldWriter(ledger)
        defer { held.release() }
        let more = simulatedLines(calls: 1, seed: 63)
        try held.send(more)
        let expected = lines.count + more.count
        let deadline = Date().addingTimeInterval(30)
        var seen = 0
        while seen < expected && Date() < deadline {
            seen = (try? jsonObject(try ledger.callLedger("stats", "--json").stdout)["events"] as? Int) ?? 0
            usleep(50_000)
        }
        try #require(seen == expected)
        let mount = try ReadOnlyMount()
        let copy = mount.point + "/ledger"
        try #require(try run("/bin/cp", ["-a", ledger.directory, copy]).status == 0)
        try #require(try run("/bin/cp", ["-a", ledger.directory + ".key", copy + ".key"]).status == 0)
        for name in try FileManager.default.contentsOfDirectory(atPath: copy) where name.hasSuffix("-shm") {
            try FileManager.default.removeItem(atPath: copy + "/" + name)
        }
        let wal = try FileManager.default.attributesOfItem(atPath: copy + "/index.sqlite-wal")[.size] as? Int
        try #require((wal ?? 0) > 0, "the writer's index changes are not in a -wal file")
        try mount.makeReadOnly()
        let stats = try LedgerTestSupport.callLedger(arguments: ["stats", "--json", "--ledger", copy])
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(try jsonObject(stats.stdout)["events"] as? Int == expected)
        let cat = try LedgerTestSupport.callLedger(arguments: ["cat", "--ledger", copy])
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.stdout.split(separator: "\n").count == expected)
        #expect(!cat.stdout.contains("\"locked\""), "sealed parts must open with the keys in keys.sqlite-wal")
    }
}
