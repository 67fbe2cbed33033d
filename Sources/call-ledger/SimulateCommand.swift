// call-ledger simulate: a deterministic, realistic day of call events as JSON lines on standard output.
import ArgumentParser
import LedgerSimulator

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Print a deterministic simulated day of calls as interchange JSON lines.",
        discussion: """
            Per call (2 to 15 minutes, or as long as --call-seconds says): call.started, dual-track KVS fragment \
            receipts every 2 s, partial then final transcript segments with words and confidences, sentiment and \
            PII enrichment, a CRM write and call.ended. Calls interleave across agents in time order. The same \
            --seed gives the same bytes.
            """)

    @Option(help: "Number of calls.")
    var calls: Int

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Option(help: "Agents handling calls in parallel.")
    var agents: Int = 40

    @Option(
        help: ArgumentHelp(
            """
            Call durations: whole seconds drawn from MIN-MAX (default 120-900); MIN at least \
            \(SimulationOptions.shortestCallSeconds), MAX at most 86400.
            """,
            valueName: "min-max"))
    var callSeconds: String?

    func validate() throws {
        guard calls >= 0 else { throw ValidationError("--calls must not be negative") }
        guard agents >= 1 else { throw ValidationError("--agents must be at least 1") }
        _ = try durations()
    }

    /// `--call-seconds` as a range, or the default one.
    private func durations() throws -> ClosedRange<Int> {
        guard let callSeconds else { return SimulationOptions.defaultCallSeconds }
        let bounds = callSeconds.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[1]) else {
            throw ValidationError("--call-seconds '\(callSeconds)' is not MIN-MAX in whole seconds, such as 10-20")
        }
        guard low >= SimulationOptions.shortestCallSeconds else {
            throw ValidationError(
                """
                --call-seconds: MIN must be at least \(SimulationOptions.shortestCallSeconds), so that a call has room \
                for a transcript
                """)
        }
        guard low <= high, high <= 86_400 else {
            throw ValidationError("--call-seconds: MIN must not exceed MAX, and MAX must not exceed 86400 (a day)")
        }
        return low...high
    }

    func run() throws {
        var simulator = CallSimulator(
            options: SimulationOptions(calls: calls, seed: seed, agents: agents, callSeconds: try durations()))
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 17)
        simulator.run { line in
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            if buffer.count >= 1 << 16 {
                Output.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        Output.write(buffer)
    }
}
