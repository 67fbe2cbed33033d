// The projection engine through its API on simulated ledgers: incremental catch-up equals a rebuild, deleting
// the state and rebuilding gives identical state, and a read as of a seq equals the same read on a ledger that
// only ever held the events below it.
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import LedgerTestSupport
import Testing

/// A new ledger in `scratch` holding `events`, appended in slices of `slice` (each slice a separate writer).
private func ledger(
    _ scratch: ScratchDirectory, name: String, events: [DecodedEvent], slice: Int = .max,
    afterEachSlice: (String) throws -> Void = { _ in }
) throws -> String {
    var options = LedgerCreationOptions()
    options.origin = "projections.test/ledger"
    let directory = scratch.file(name)
    try LedgerWriter.create(directory: directory, options: options)
    var start = 0
    while start < events.count {
        let end = min(events.count, start + min(slice, events.count))
        let writer = try LedgerWriter(directory: directory)
        _ = try writer.append(Array(events[start..<end]))
        try writer.close()
        try afterEachSlice(directory)
        start = end
    }
    return directory
}

private func engine(_ directory: String) throws -> ProjectionEngine {
    ProjectionEngine(reader: try LedgerReader(directory: directory))
}

@Suite struct ProjectionEngineTests {
    let events: [DecodedEvent]
    let calls: [String]

    init() throws {
        events = try decodeLines(simulatedLines(calls: 12, seed: 33, agents: 4))
        calls = Array(Set(events.map(\.call))).filter { !$0.isEmpty }.sorted()
    }

    @Test func incrementalCatchUpEqualsRebuildAndADeletedStateRebuildsIdentically() throws {
        let scratch = ScratchDirectory()
        var runs: [ProjectionRun] = []
        let directory = try ledger(scratch, name: "ledger", events: events, slice: 997) { directory in
            runs.append(contentsOf: try engine(directory).catchUp())
        }
        for projection in ["transcript", "retention", "crm"] {
            let ofProjection = runs.filter { $0.projection == projection }
            #expect(ofProjection.count > 5)
            #expect(ofProjection.first?.rebuilt == true && ofProjection.dropFirst().allSatisfy { !$0.rebuilt })
            #expect(ofProjection.map(\.events).reduce(0, +) == UInt64(events.count))
        }
        let incremental = try engine(directory).stateDump()
        let incrementalTranscripts = try calls.map { try engine(directory).transcript(call: $0) }

        let rebuilds = try engine(directory).rebuild()
        #expect(rebuilds.map(\.projection) == ["transcript", "retention", "crm"])
        let rebuild = try #require(rebuilds.first)
        #expect(rebuild.rebuilt && rebuild.events == UInt64(events.count) && rebuild.calls == calls.count)
        let rebuiltDump = try engine(directory).stateDump()
        #expect(rebuiltDump == incremental)

        try FileManager.default.removeItem(atPath: directory + "/projections")
        #expect(try engine(directory).catchUp().allSatisfy(\.rebuilt))
        #expect(try engine(directory).stateDump() == incremental)
        #expect(try calls.map { try engine(directory).transcript(call: $0) } == incrementalTranscripts)
    }

    @Test func readsAsOfASeqEqualReadsOfALedgerThatOnlyHeldTheEventsBelowIt() throws {
        let scratch = ScratchDirectory()
        let full = try ledger(scratch, name: "full", events: events)
        for bound in [events.count / 5, events.count / 2, events.count - 3] {
            let prefix = try ledger(scratch, name: "prefix-\(bound)", events: Array(events.prefix(bound)))
            #expect(try engine(full).calls(asOf: UInt64(bound)) == engine(prefix).calls())
            for call in calls {
                let asOf = try engine(full).transcript(call: call, asOf: UInt64(bound))
                let known = try engine(prefix).transcript(call: call)
                #expect(asOf == known, "call \(call) as of \(bound)")
            }
        }
    }

    @Test func callInProgressShowsItsLatestPartialsMarkedAndFinishedCallsShowOnlyFinals() throws {
        let scratch = ScratchDirectory()
        let directory = try ledger(scratch, name: "ledger", events: events)
        let segments = events.enumerated().filter { $0.element.type == .transcriptSegment }
        let finished = try #require(try engine(directory).transcript(call: calls[0]))
        #expect(!finished.lines.isEmpty && finished.lines.allSatisfy(\.isFinal))
        #expect(finished.summary.finalSegments == finished.lines.count)
        #expect(finished.lines.map(\.startMs) == finished.lines.map(\.startMs).sorted())

        // Just before some final segment, its utterance is known only by partials.
        let final = try #require(
            segments.first { $0.offset > events.count / 3 && $0.element.idempotency.hasSuffix(":final") })
        let midway = try #require(
            try engine(directory).transcript(call: final.element.call, asOf: UInt64(final.offset)))
        let partials = midway.lines.filter { !$0.isFinal }
        #expect(!partials.isEmpty)
        let after = try #require(
            try engine(directory).transcript(call: final.element.call, asOf: UInt64(final.offset + 1)))
        #expect(after.lines.filter { !$0.isFinal }.count == partials.count - 1)
    }
}
