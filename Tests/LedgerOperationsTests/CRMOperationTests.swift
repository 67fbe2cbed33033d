// The CRM operations driven directly, beside the CLI on a copy of the same ledger and each against its own stand-in
// CRM: the plan is the one `crm plan --json` prints (apart from its timing), and an apply writes the same records, appends
// the same events and sums up the same way; a second apply finds nothing to write.
import Foundation
import LedgerConnectors
import LedgerOperations
import LedgerProjections
import LedgerTestSupport
import Testing

private let mappingFile = Repository.root.appendingPathComponent("Projections/crm/voicecall-v1.yaml").path

/// A JSON object as sorted JSON text without its `seconds` member (how long planning took).
private func withoutTiming(_ text: String) throws -> String {
    var object = try jsonObject(text)
    object["seconds"] = nil
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

@Suite struct CRMOperationTests {
    @Test func planAndApplyMatchTheCLI() throws {
        let twins = try Twins(calls: 8, seed: 11, callSeconds: 20...60)
        let ledger = LedgerLocation(directory: twins.operations)
        let mapping = try CRMMapping.parse(
            Array(try Data(contentsOf: URL(fileURLWithPath: mappingFile))), file: mappingFile)
        let noScorecards = twins.scratch.file("no-scorecards")
        try FileManager.default.createDirectory(atPath: noScorecards, withIntermediateDirectories: true)
        let cliCRM = try StandIn()
        let operationsCRM = try StandIn()
        let environment = [
            "CALL_LEDGER_CRM_URL": cliCRM.baseURL, "CALL_LEDGER_CRM_TOKEN": StandIn.token,
            "CALL_LEDGER_SCORECARDS": noScorecards,
        ]

        let cliPlan = try twins.run(["crm", "plan", "--mapping", mappingFile, "--json"], environment: environment)
        try #require(cliPlan.status == 0, "\(cliPlan.stderr)")
        let plan = try CRMPlanOperation(ledger: ledger, mapping: mapping, scorecards: [], calls: nil).run()
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(
            try withoutTiming(String(decoding: try encoder.encode(plan), as: UTF8.self))
                == withoutTiming(cliPlan.stdout))
        #expect(!plan.writes.isEmpty)

        let cliApply = try twins.run(
            ["crm", "apply", "--mapping", mappingFile, "--batch-size", "3", "--json"], environment: environment)
        try #require(cliApply.status == 0, "\(cliApply.stderr)")
        let expected = try jsonObject(cliApply.stdout)
        let summary = try CRMApplyOperation(
            ledger: ledger, mapping: mapping, mappingFile: mappingFile, scorecards: [], calls: nil, batchSize: 3,
            configuration: try operationsCRM.configuration()
        ).run()
        #expect(summary.planned == plan.writes.count && summary.written == summary.planned && summary.failed == 0)
        for (key, value) in [
            ("planned", summary.planned), ("written", summary.written), ("created", summary.created),
            ("confirmed", summary.confirmed), ("failed", summary.failed), ("requests", summary.requests),
            ("unanswered", summary.unanswered), ("not_attempted", summary.notAttempted),
        ] {
            #expect(expected[key] as? Int == value, "\(key)")
        }
        #expect(expected["digest"] as? String == summary.digest)

        // The same events (crm.write.started, crm.write, the definition change) and the same records in the CRM.
        #expect(try twins.events(twins.cli) == twins.events(twins.operations))
        for object in Set(plan.writes.map(\.key.object)) {
            func fields(_ crm: StandIn) throws -> [String] {
                try crm.records(object: object).map {
                    String(
                        decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self)
                }.sorted()
            }
            #expect(try fields(cliCRM) == fields(operationsCRM))
        }

        let again = try CRMApplyOperation(
            ledger: ledger, mapping: mapping, mappingFile: mappingFile, scorecards: [], calls: nil, batchSize: 3,
            configuration: try operationsCRM.configuration()
        ).run()
        #expect(again.planned == 0 && again.requests == 0)
    }
}
