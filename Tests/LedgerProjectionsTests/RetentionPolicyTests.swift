// Retention policy files: every shipped example parses into the rules its text states, rule selection takes
// the first matching rule, periods follow ISO 8601, and each kind of mistake is refused with its member's path.
import Foundation
import LedgerCore
import LedgerProjections
import LedgerTestSupport
import Testing

/// The shipped policy file `name`.
private func shipped(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: Repository.root.appendingPathComponent("Projections/retention/\(name)")))
}

/// Parses YAML text as a policy file called `test.yaml`.
private func parse(_ text: String) throws(DefinitionError) -> RetentionPolicy {
    try RetentionPolicy.parse(Array(text.utf8), file: "test.yaml")
}

@Suite struct RetentionPolicyTests {
    @Test(arguments: [
        "pci-dss.yaml", "gdpr-storage-limitation.yaml", "sec-17a-4-finra.yaml", "mifid-ii.yaml",
        "zero-retention-tenant.yaml",
    ])
    func everyShippedPolicyParsesWithItsLegalBasisAndDigest(file: String) throws {
        let bytes = try shipped(file)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("# Legal basis: "))
        let policy = try RetentionPolicy.parse(bytes, file: file)
        #expect(policy.digest == SHA256.hash(bytes))
        #expect(!policy.rules.isEmpty && !policy.version.isEmpty)
        // Every class line of the file is a parsed class of some rule.
        let classLines = text.split(separator: "\n").filter { $0.contains("retain:") }
        #expect(classLines.count == policy.rules.map(\.classes.count).reduce(0, +))
    }

    @Test func pciErasesCardDataAtAuthorizationAndKeepsTheRest() throws {
        let policy = try RetentionPolicy.parse(try shipped("pci-dss.yaml"), file: "pci-dss.yaml")
        let rule = try #require(policy.rule(tenant: "acme-bank", queue: "Cards", channel: "VOICE", attributes: [:]))
        #expect(rule.retention(of: "pii.credit_debit_cvv") == .init(period: .zero, trigger: .authorization))
        #expect(rule.retention(of: "pii.name") == nil)
        #expect(rule.retention(of: "content") == nil)
    }

    @Test func theFirstMatchingRuleGovernsAndPiiWildcardCoversUnnamedKinds() throws {
        let policy = try RetentionPolicy.parse(try shipped("sec-17a-4-finra.yaml"), file: "sec")
        let opening = try #require(policy.rule(tenant: "t", queue: "New Accounts", channel: nil, attributes: [:]))
        #expect(opening.name == "account-opening")
        #expect(opening.retention(of: "pii.ssn")?.period == .duration(years: 6, months: 0, days: 0, seconds: 0))
        #expect(policy.rule(tenant: "t", queue: "Trading", channel: nil, attributes: [:])?.name == "brokerage-desk")
        #expect(policy.rule(tenant: "t", queue: "Support", channel: nil, attributes: [:]) == nil)
        #expect(policy.rule(tenant: "t", queue: nil, channel: nil, attributes: [:]) == nil)

        let gdpr = try RetentionPolicy.parse(try shipped("gdpr-storage-limitation.yaml"), file: "gdpr")
        let rule = try #require(gdpr.rule(tenant: "acme-bank", queue: nil, channel: "VOICE", attributes: [:]))
        #expect(rule.retention(of: "pii.name")?.trigger == .crmWriteConfirmed)
        #expect(
            rule.retention(of: "pii.bank_account_number")?.period
                == .duration(years: 0, months: 0, days: 90, seconds: 0))
        #expect(gdpr.rule(tenant: "acme-bank", queue: nil, channel: "CHAT", attributes: [:]) == nil)
    }

    @Test func attributesSelectOnCallStartedMembers() throws {
        let policy = try parse(
            """
            format: 1
            name: inbound-only
            version: "1"
            rules:
              - name: inbound
                match: { attributes: { initiation_method: [INBOUND, TRANSFER] } }
                classes: { audio: { retain: P1D, from: call_end } }
            """)
        #expect(policy.rule(tenant: "t", queue: nil, channel: nil, attributes: ["initiation_method": "INBOUND"]) != nil)
        #expect(
            policy.rule(tenant: "t", queue: nil, channel: nil, attributes: ["initiation_method": "OUTBOUND"]) == nil)
        #expect(policy.rule(tenant: "t", queue: nil, channel: nil, attributes: [:]) == nil)
    }

    @Test(arguments: [
        ("P7Y", RetentionPolicy.Period.duration(years: 7, months: 0, days: 0, seconds: 0)),
        ("P18M", .duration(years: 0, months: 18, days: 0, seconds: 0)),
        ("P2W", .duration(years: 0, months: 0, days: 14, seconds: 0)),
        ("PT24H", .duration(years: 0, months: 0, days: 0, seconds: 86_400)),
        ("P1Y2M3DT4H5M6S", .duration(years: 1, months: 2, days: 3, seconds: 14_706)),
        ("PT0S", .zero), ("zero", .zero), ("forever", .forever),
    ])
    func periodsFollowISO8601(text: String, period: RetentionPolicy.Period) throws {
        let policy = try parse(
            """
            format: 1
            name: p
            version: "1"
            rules: [{ name: r, classes: { content: { retain: "\(text)", from: call_end } } }]
            """)
        #expect(policy.rules[0].classes["content"]?.period == period)
    }

    @Test(arguments: [
        ("format: 2\nname: p\nversion: \"1\"\nrules: []", "test.yaml: format: unsupported policy format 2"),
        ("format: 1\nname: Bad Name\nversion: \"1\"\nrules: []", "test.yaml: name: must be"),
        ("format: 1\nname: p\nversion: \"1\"\nrules: []", "test.yaml: rules: a policy needs at least one rule"),
        (
            "format: 1\nname: p\nversion: \"1\"\nrules: [{name: r, classes: {transcript: {retain: P1D, from: call_end}}}]",
            "test.yaml: rules[0].classes.transcript: unknown data class"
        ),
        (
            "format: 1\nname: p\nversion: \"1\"\nrules: [{name: r, classes: {content: {retain: 90 days, from: call_end}}}]",
            "test.yaml: rules[0].classes.content.retain: '90 days' is not a period"
        ),
        (
            "format: 1\nname: p\nversion: \"1\"\nrules: [{name: r, classes: {content: {retain: P1D, from: hangup}}}]",
            "test.yaml: rules[0].classes.content.from: unknown trigger 'hangup'"
        ),
        (
            "format: 1\nname: p\nversion: \"1\"\nrules: [{name: r, classes: {content: {retain: P1D}}}]",
            "test.yaml: rules[0].classes.content.from: required unless retain is 'forever'"
        ),
        (
            "format: 1\nname: p\nversion: \"1\"\nrules: [{name: r, classes: {meta: {retain: P1D, from: call_end}}}]",
            "test.yaml: rules[0].classes.meta.retain: meta is not sealed"
        ),
        ("format: 1\nname: p\nrules: [{name: r, classes: {}}]", "test.yaml: version: required member is missing"),
        (
            "format: 1\nname: p\nversion: \"1\"\nrules: [{name: r}]",
            "test.yaml: rules[0].classes: required member is missing"
        ),
        ("format: [1\n", "test.yaml: "),
    ])
    func mistakesAreRefusedWithTheirPath(text: String, message: String) {
        #expect {
            _ = try parse(text)
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }
}
