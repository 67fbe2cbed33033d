// call-ledger project, rebuild, transcript, calls: keeping projections in step with the log and reading them.
import ArgumentParser
import Foundation
import LedgerCore
import LedgerOperations
import LedgerProjections
import LedgerStore

/// What `project` and `rebuild` share: the projections named, `--json`, and how a run is carried out and
/// reported.
struct ProjectionRunOptions: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "Projections (default: all). Known: \(ProjectionEngine.projections.joined(separator: ", ")).",
            valueName: "name"))
    var names: [String] = []

    @OptionGroup var scorecards: ScorecardOptions

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        for name in names where !ProjectionEngine.projections.contains(name) {
            throw ValidationError(
                "unknown projection '\(name)'; known: \(ProjectionEngine.projections.joined(separator: ", "))")
        }
    }

    /// Runs the projections in `mode` with a progress bar per projection, and prints the runs.
    func run(_ options: LedgerOptions, _ mode: ProjectionRunOperation.Mode) throws {
        let directory = try options.directory()
        let qa = names.isEmpty || names.contains("qa") ? try scorecards.load(required: !names.isEmpty) : []
        try reportingErrors {
            let runs = try ProjectionRunOperation(
                ledger: LedgerLocation(directory: directory, keyFilePath: options.keyFilePath), names: names,
                scorecards: qa, mode: mode
            ).run(progress: ProgressBars())
            if json {
                try Output.json(runs, snakeCase: true)
                return
            }
            for run in runs {
                let action = run.rebuilt ? "rebuilt" : "caught up"
                Output.line(
                    "\(run.projection): \(action), \(run.events) events (seq \(run.fromSeq)..<\(run.toSeq)), "
                        + "\(run.calls) calls, "
                        + String(format: "%.3f s, %.0f events/s", run.seconds, run.eventsPerSecond))
                Output.line(
                    String(
                        format: "  read+decompress %.3f s (reading thread, overlapped), decode %.3f s, apply %.3f s",
                        run.readSeconds, run.decodeSeconds, run.applySeconds))
            }
        }
    }
}

struct ProjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "Bring projections up to date with the log.",
        discussion: """
            Each projection keeps a checkpoint seq in its state under DIR/projections/ and folds only the events \
            appended since. A projection with no state yet, or state from another version of its fold, is rebuilt. \
            The qa projection scores, with each scorecard, the calls whose transcript events arrived since that \
            scorecard version last scored; a scorecard whose file digest the log does not record first gets a \
            projection.definition.changed event and then scores every call, keeping the results of earlier \
            versions. Without scorecards (no --scorecard, no $CALL_LEDGER_SCORECARDS, no Projections/qa) qa is \
            skipped unless named.
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var projections: ProjectionRunOptions

    func run() throws {
        try projections.run(options, .catchUp)
    }
}

struct RebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Drop projections' state and fold the whole log again.",
        discussion: """
            The new state is written beside the old one and replaces it only when complete, so an interrupted \
            rebuild leaves the previous state in use. The qa projection scores every call again with the \
            scorecards given, keeping the results of other scorecard versions. Prints events/s and where the time went: reading and \
            decompressing frames (a separate thread, overlapping the rest), decoding records, applying them.
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var projections: ProjectionRunOptions

    func run() throws {
        try projections.run(options, .rebuild)
    }
}

/// Turns `--as-of` into a seq bound (events with seq below it count).
func seqBound(_ asOf: AsOf?, reader: LedgerReader) throws(LedgerError) -> UInt64? {
    switch asOf {
    case .seq(let seq): seq == .max ? nil : seq + 1
    case .time(let time): try reader.sizeAsOf(time: time)
    case nil: nil
    }
}

/// Transcript output formats.
enum TranscriptFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, vtt
}

struct TranscriptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcript",
        abstract: "Print a call's transcript as known now or at a past point.",
        discussion: """
            Final segments of both tracks in time order; a final supersedes the partials of its utterance, and an \
            utterance with no final yet shows its latest partial, marked [partial]. Sentiment, entities and \
            categories are attached to the utterances they name; the rest is listed for the call. PII spans are \
            opened with their keys; --redacted shows them as [REDACTED:<kind>], and a span whose key is erased is \
            shown that way regardless; without the key file, sealed text shows as [LOCKED:<class>] and a warning \
            goes to standard error. --as-of SEQ answers what was known once event SEQ was \
            appended; --as-of TIME what had been accepted by TIME. Brings the transcript projection up to date \
            first.
            """)

    @OptionGroup var options: LedgerOptions

    @Argument(help: "The call id.")
    var call: String

    @Option(help: ArgumentHelp("Answer as of this seq or RFC 3339 time.", valueName: "seq|time"), transform: AsOf.parse)
    var asOf: AsOf?

    @Option(help: "Output format: text, json or vtt.")
    var format: TranscriptFormat = .text

    @Flag(help: "Show PII spans as [REDACTED:<kind>].")
    var redacted = false

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            options.warnIfKeyFileIsMissing(directory: directory, shownAs: "[LOCKED:<class>]")
            let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
            let engine = ProjectionEngine(reader: reader)
            guard let transcript = try engine.transcript(call: call, asOf: try seqBound(asOf, reader: reader)) else {
                let when = asOf == nil ? "" : " as of that point"
                throw LedgerError.invalidRequest("the log holds no transcript events for call '\(call)'\(when)")
            }
            switch format {
            case .text: Output.write(Array(TranscriptRenderer.text(transcript, redacted: redacted).utf8))
            case .vtt: Output.write(Array(TranscriptRenderer.webVTT(transcript, redacted: redacted).utf8))
            case .json: Output.write(TranscriptJSON.transcript(transcript, redacted: redacted) + [0x0A])
            }
        }
    }
}

struct CallsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calls",
        abstract: "List calls with start, duration, agent, queue and segment count.",
        discussion: """
            From the transcript projection (brought up to date first). Duration is the recorded one \
            (call.ended), else the end of the transcript. SEGMENTS counts final segments.
            """)

    @OptionGroup var options: LedgerOptions

    @Option(help: ArgumentHelp("Answer as of this seq or RFC 3339 time.", valueName: "seq|time"), transform: AsOf.parse)
    var asOf: AsOf?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let directory = try options.directory()
        try reportingErrors {
            let reader = try LedgerReader(directory: directory, keyFilePath: options.keyFilePath)
            let engine = ProjectionEngine(reader: reader)
            let bound = try seqBound(asOf, reader: reader)
            if json {
                Output.write(TranscriptJSON.summaries(try engine.calls(asOf: bound)) + [0x0A])
            } else {
                Output.write(try engine.callTable(asOf: bound))
            }
        }
    }
}
