// call-ledger simulate: a deterministic, realistic day of call events as JSON lines on standard output.
import ArgumentParser
import LedgerSimulator

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Print a deterministic simulated day of calls as interchange JSON lines.",
        discussion: """
            Per call (2 to 15 minutes): call.started, dual-track KVS fragment receipts every 2 s, partial then \
            final transcript segments with words and confidences, sentiment and PII enrichment, a CRM write and \
            call.ended. Calls interleave across agents in time order. The same --seed gives the same bytes.
            """)

    @Option(help: "Number of calls.")
    var calls: Int

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Option(help: "Agents handling calls in parallel.")
    var agents: Int = 40

    func validate() throws {
        guard calls >= 0 else { throw ValidationError("--calls must not be negative") }
        guard agents >= 1 else { throw ValidationError("--agents must be at least 1") }
    }

    func run() throws {
        var simulator = CallSimulator(options: SimulationOptions(calls: calls, seed: seed, agents: agents))
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
