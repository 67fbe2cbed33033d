// The stand-in Salesforce's own unit tests (tools/crm-standin/test_crm_standin.py), run from the Swift suite so
// that CI runs them: a client hanging up mid-answer prints no traceback into the test output.
import Foundation
import LedgerTestSupport
import Testing

@Suite struct StandInSelfTests {
    @Test func theStandInsOwnUnitTestsPass() throws {
        let folder = Repository.root.appendingPathComponent("tools/crm-standin").path
        let result = try run("/usr/bin/env", ["python3", "-m", "unittest", "discover", "-s", folder, "-t", folder])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("OK"), "\(result.stderr)")
        #expect(!result.stderr.contains("Traceback"), "\(result.stderr)")
    }
}
