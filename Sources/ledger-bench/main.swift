// ledger-bench: times per-call transcript reads in-process, for tools/bench. Opens a ledger's projection engine,
// catches the transcript projection up once (untimed), then times `ProjectionEngine.transcript(call:)` (query and
// fold, with sealed parts opened) for every call id in a file, and prints one JSON line: the number of calls,
// p50/p99/mean/max in milliseconds, and totals of what the transcripts held (lines, partial lines, enrichments
// attached to lines, call-level enrichments, unreadable spans), which tools/bench compares with the SQLite
// baseline's answer to the same query.
//
// With a first argument http-ingest, http-live or http-transcript, it is instead a load generator of the service
// benchmarks (ServeBench.swift); with cluster-ingest or cluster-failover, of the cluster benchmarks
// (ClusterBench.swift).
//
//   ledger-bench LEDGER_DIR CALLS_FILE     (one call id per line)
//   ledger-bench http-ingest|http-live|http-transcript --port P ...
//   ledger-bench cluster-ingest|cluster-failover --config FILE ...
import Dispatch
import Foundation
import LedgerProjections
import LedgerStore

/// Writes `message` to standard error and exits with status 1.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ledger-bench: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
switch arguments.dropFirst().first {
case "http-ingest":
    httpIngest(BenchOptions(arguments.dropFirst(2)))
    exit(0)
case "http-live":
    httpLive(BenchOptions(arguments.dropFirst(2)))
    exit(0)
case "http-transcript":
    httpTranscript(BenchOptions(arguments.dropFirst(2)))
    exit(0)
case "cluster-ingest":
    clusterIngest(BenchOptions(arguments.dropFirst(2)))
    exit(0)
case "cluster-failover":
    clusterFailover(BenchOptions(arguments.dropFirst(2)))
    exit(0)
default:
    break
}
guard arguments.count == 3 else { fail("usage: ledger-bench LEDGER_DIR CALLS_FILE") }
guard let callList = try? String(contentsOfFile: arguments[2], encoding: .utf8) else {
    fail("cannot read \(arguments[2])")
}
let calls = callList.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
guard !calls.isEmpty else { fail("\(arguments[2]) names no call") }

do {
    let engine = ProjectionEngine(reader: try LedgerReader(directory: arguments[1]))
    let catchUp = try engine.catchUp(["transcript"])
    var milliseconds: [Double] = []
    milliseconds.reserveCapacity(calls.count)
    var lines = 0
    var partialLines = 0
    var attached = 0
    var callLevel = 0
    var unreadable = 0
    for call in calls {
        let start = DispatchTime.now().uptimeNanoseconds
        let transcript = try engine.transcript(call: call)
        milliseconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        guard let transcript else { fail("no transcript for call \(call)") }
        lines += transcript.lines.count
        partialLines += transcript.lines.count { !$0.isFinal }
        attached += transcript.lines.reduce(0) { $0 + $1.enrichments.count }
        callLevel += transcript.callEnrichments.count
        unreadable += transcript.lines.reduce(0) { $0 + $1.spans.count { $0.text == nil } }
    }
    let sorted = milliseconds.sorted()
    let mean = milliseconds.reduce(0, +) / Double(milliseconds.count)
    print(
        String(
            format: """
                {"system":"call-ledger","calls":%d,"p50_ms":%.3f,"p99_ms":%.3f,"mean_ms":%.3f,"max_ms":%.3f,\
                "lines":%d,"partial_lines":%d,"attached_enrichments":%d,"call_enrichments":%d,\
                "unreadable_spans":%d,"catch_up_events":%llu}
                """, calls.count, percentile(sorted, 0.5), percentile(sorted, 0.99), mean, sorted[sorted.count - 1],
            lines, partialLines, attached, callLevel, unreadable, catchUp.map(\.events).reduce(0, +)))
} catch {
    fail("\(error)")
}
