// Ingest of large inputs: peak memory bounded by the input's size plus a fixed amount (measured on the child
// with /usr/bin/time), every event readable afterwards, inputs over the size limit refused with the ledger
// unchanged, and a kill -9 in the middle of the append pass completed by running the same ingest again.
import Foundation
import LedgerTestSupport
import Testing

/// Large vendor inputs written as JSON text directly (faster than building a tree).
enum LargeInput {
    /// A Gladia result of `count` utterances of eight words each.
    static func gladia(utterances count: Int) -> Data {
        var text = #"{"id":"large-result","status":"done","result":{"transcription":{"languages":["en"],"#
        text += #""full_transcript":"","utterances":["#
        var time = 0
        for index in 0..<count {
            if index > 0 { text += "," }
            let start = time
            var words: [String] = []
            for word in 0..<8 {
                words.append(
                    #"{"word":" w\#(word)","start":\#(seconds(time)),"end":\#(seconds(time + 200)),"confidence":0.9}"#)
                time += 250
            }
            text += #"{"text":"w0 w1 w2 w3 w4 w5 w6 w7","language":"en","start":\#(seconds(start)),"#
            text += #""end":\#(seconds(time)),"confidence":0.9,"channel":0,"speaker":\#(index % 2),"#
            text += #""words":[\#(words.joined(separator: ","))]}"#
            time += 100
        }
        return Data((text + "]}}}").utf8)
    }

    /// A Transcribe batch output of `count` speaker turns of eight words and a full stop, with the speaker
    /// segments Transcribe writes beside the items.
    static func transcribe(turns count: Int) -> Data {
        var items: [String] = []
        var segments: [String] = []
        var time = 0
        for turn in 0..<count {
            let speaker = "spk_\(turn % 2)"
            let start = time
            var segmentItems: [String] = []
            for word in 0..<8 {
                let times = #""start_time":"\#(seconds(time))","end_time":"\#(seconds(time + 200))""#
                items.append(
                    #"{\#(times),"alternatives":[{"confidence":"0.9","content":"w\#(word)"}],"type":"pronunciation","speaker_label":"\#(speaker)"}"#
                )
                segmentItems.append(#"{\#(times),"speaker_label":"\#(speaker)"}"#)
                time += 250
            }
            items.append(
                #"{"alternatives":[{"confidence":"0.0","content":"."}],"type":"punctuation","speaker_label":"\#(speaker)"}"#
            )
            segments.append(
                #"{"start_time":"\#(seconds(start))","end_time":"\#(seconds(time))","speaker_label":"\#(speaker)","items":[\#(segmentItems.joined(separator: ","))]}"#
            )
        }
        var text = #"{"jobName":"large-job","accountId":"1","status":"COMPLETED","results":{"#
        text += #""transcripts":[{"transcript":""}],"speaker_labels":{"speakers":2,"segments":["#
        text += segments.joined(separator: ",") + #"]},"items":["# + items.joined(separator: ",") + "]}}"
        return Data(text.utf8)
    }

    /// Milliseconds written as seconds with three decimals.
    static func seconds(_ milliseconds: Int) -> String {
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}

/// Every file under `directory` and its bytes.
func snapshot(_ directory: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(atPath: directory)
    while let name = enumerator?.nextObject() as? String {
        var isDirectory: ObjCBool = false
        let path = directory + "/" + name
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: path))
        }
    }
    return files
}

@Suite struct BoundedIngestTests {
    /// The fixed part of the bound: the process, its libraries, a frame of events and one element's tree.
    static let fixedBytes = 64 << 20

    /// Runs `call-ledger arguments` (or `command`) under /usr/bin/time and returns the result and the child's
    /// peak RSS in bytes.
    func measured(_ arguments: [String], in ledger: CLILedger, command: [String]? = nil) throws -> (ProcessResult, Int)
    {
        let usage = ledger.scratch.file("usage-\(UUID().uuidString).txt")
        let result = try run(
            "/usr/bin/time", ["-f", "%M", "-o", usage] + (command ?? [Repository.executable] + arguments))
        let text = try String(contentsOfFile: usage, encoding: .utf8)
        let kilobytes = Int(text.split(separator: "\n").last.map(String.init) ?? "") ?? 0
        return (result, kilobytes * 1024)
    }

    @Test func aLargeGladiaResultIsIngestedInMemoryBoundedByItsSizeAndReadsBackWhole() throws {
        let ledger = try CLILedger()
        let count = 16_000
        let data = LargeInput.gladia(utterances: count)
        let path = ledger.scratch.file("large-gladia.json")
        try data.write(to: URL(fileURLWithPath: path))
        let (result, peak) = try measured(
            ["ingest", "--ledger", ledger.directory, "--from", "gladia", path], in: ledger)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == count)
        #expect(peak > 0 && peak < data.count + Self.fixedBytes, "peak \(peak >> 20) MB for \(data.count >> 20) MB")
        let segments = try catted(ledger).map { ($0["body"] as! [String: Any])["utterance"] as! String }
        #expect(segments == (0..<count).map { "utterance-\($0)" })
    }

    @Test func aLargeTranscribeOutputIsIngestedInMemoryBoundedByItsSizeAndReadsBackWhole() throws {
        let ledger = try CLILedger()
        let count = 6_000
        let data = LargeInput.transcribe(turns: count)
        let path = ledger.scratch.file("large-transcribe.json")
        try data.write(to: URL(fileURLWithPath: path))
        let (result, peak) = try measured(
            ["ingest", "--ledger", ledger.directory, "--from", "transcribe", path], in: ledger)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == count)
        #expect(peak > 0 && peak < data.count + Self.fixedBytes, "peak \(peak >> 20) MB for \(data.count >> 20) MB")
        let bodies = try catted(ledger).map { $0["body"] as! [String: Any] }
        #expect(bodies.map { $0["utterance"] as! String } == (0..<count).map { "turn-\($0)" })
        #expect(bodies.allSatisfy { $0["text"] as? String == "w0 w1 w2 w3 w4 w5 w6 w7." })
        #expect(bodies.last?["speaker"] as? String == "spk_\((count - 1) % 2)")
    }

    @Test func anInputOverTheLimitIsRefusedWithoutBeingReadAndTheLedgerIsUnchanged() throws {
        let ledger = try CLILedger()
        let fixture = Repository.fixture("gladia/prerecorded-result.json").path
        #expect(try ledger.callLedger("ingest", "--from", "gladia", fixture).status == 0)
        let before = try snapshot(ledger.directory)
        // A sparse file one byte over 200 MB: refused by its size, from a path and on standard input alike.
        let path = ledger.scratch.file("too-large.json")
        #expect(FileManager.default.createFile(atPath: path, contents: Data("{".utf8)))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 200_000_001)
        try handle.close()
        let (fromPath, pathPeak) = try measured(
            ["ingest", "--ledger", ledger.directory, "--from", "gladia", path], in: ledger)
        let (fromInput, inputPeak) = try measured(
            [], in: ledger,
            command: [
                "/bin/sh", "-c", #"exec "$0" ingest --ledger "$1" --from gladia - < "$2""#, Repository.executable,
                ledger.directory, path,
            ])
        for (result, peak) in [(fromPath, pathPeak), (fromInput, inputPeak)] {
            #expect(result.status == 2, "\(result.stderr)")
            #expect(
                result.stderr.contains("the input is larger than 200000000 bytes, the most ingest reads"),
                "\(result.stderr)")
            #expect(peak < Self.fixedBytes, "peak \(peak >> 20) MB")
        }
        #expect(try snapshot(ledger.directory) == before)
    }

    @Test func aKillDuringTheAppendPassLeavesAPrefixThatTheSameIngestCompletes() throws {
        let ledger = try CLILedger()
        let count = 5_000
        let path = ledger.scratch.file("killed.json")
        try LargeInput.gladia(utterances: count).write(to: URL(fileURLWithPath: path))
        let arguments = ["ingest", "--ledger", ledger.directory, "--from", "gladia", path]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Repository.executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let collected = ReadAllLines(output.fileHandleForReading)
        // The first acknowledgement means the first frame is durable: kill the child at once.
        _ = collected.firstLine.wait(timeout: .now() + 60)
        let finishedFirst = !process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let acknowledged = collected.wait()
        #expect(!finishedFirst && process.terminationReason == .uncaughtSignal, "the ingest ended before the kill")
        let prefix = try catted(ledger).map { ($0["body"] as! [String: Any])["utterance"] as! String }
        #expect(prefix.count >= acknowledged.count && prefix.count > 0 && prefix.count < count)
        #expect(prefix == (0..<prefix.count).map { "utterance-\($0)" })
        let again = try LedgerTestSupport.callLedger(arguments: arguments)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("\(count - prefix.count) appended, \(prefix.count) duplicate"), "\(again.stderr)")
        let all = try catted(ledger).map { ($0["body"] as! [String: Any])["utterance"] as! String }
        #expect(all == (0..<count).map { "utterance-\($0)" })
    }
}
