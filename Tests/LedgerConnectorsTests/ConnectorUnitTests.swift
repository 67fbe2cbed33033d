// The parts that need no server: configuration from the environment, the backoff arithmetic, and HTTPClient's
// mapping of libcurl failures (invalid URL, timeout) to HTTPError.
import Foundation
import LedgerConnectors
import LedgerTestSupport
import Testing

@Suite struct ConfigurationTests {
    @Test func missingVariablesAreNamed() throws {
        #expect(throws: SalesforceError.self) { try SalesforceClient.Configuration.fromEnvironment([:]) }
        do {
            _ = try SalesforceClient.Configuration.fromEnvironment([
                "CALL_LEDGER_CRM_URL": "https://x.my.salesforce.com"
            ])
            Issue.record("a configuration without a token was accepted")
        } catch {
            guard case .missingEnvironmentVariable(let name, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(name == "CALL_LEDGER_CRM_TOKEN")
            #expect(error.description.hasPrefix("environment variable CALL_LEDGER_CRM_TOKEN is not set"))
        }
        do {
            _ = try SalesforceClient.Configuration.fromEnvironment(["CALL_LEDGER_CRM_TOKEN": "t"])
            Issue.record("a configuration without a URL was accepted")
        } catch {
            #expect(error.description.contains("CALL_LEDGER_CRM_URL"))
        }
    }

    @Test func environmentIsReadAndValidated() throws {
        let configuration = try SalesforceClient.Configuration.fromEnvironment([
            "CALL_LEDGER_CRM_URL": "https://x.my.salesforce.com/", "CALL_LEDGER_CRM_TOKEN": "00Dx!secret",
        ])
        #expect(configuration.instanceURL == "https://x.my.salesforce.com" && configuration.apiVersion == "62.0")
        #expect(!configuration.description.contains("secret"))
        let versioned = try SalesforceClient.Configuration.fromEnvironment([
            "CALL_LEDGER_CRM_URL": "https://x.my.salesforce.com", "CALL_LEDGER_CRM_TOKEN": "t",
            "CALL_LEDGER_CRM_API_VERSION": "v58.0",
        ])
        #expect(versioned.apiVersion == "58.0")
        for (url, version, token) in [
            ("x.my.salesforce.com", "62.0", "t"), ("https://x", "45.0", "t"), ("https://x", "62", "t"),
            ("https://x", "62.0", "Bearer t"),
        ] {
            #expect(throws: SalesforceError.self) {
                try SalesforceClient.Configuration(instanceURL: url, apiVersion: version, token: token)
            }
        }
    }
}

@Suite struct RetryPolicyTests {
    @Test func fullJitterGrowsToTheCap() {
        let policy = RetryPolicy(maxAttempts: 8, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(
            (1...6).map { policy.delay(afterAttempt: $0, random: 1, retryAfterSeconds: nil) } == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1),
                .seconds(1),
            ])
        #expect(policy.delay(afterAttempt: 3, random: 0.25, retryAfterSeconds: nil) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 3, random: 0, retryAfterSeconds: nil) == .zero)
        #expect(policy.delay(afterAttempt: 1, random: 0.9, retryAfterSeconds: 7) == .seconds(7))
        #expect(policy.delay(afterAttempt: 1, random: 0.9, retryAfterSeconds: 600) == .seconds(60))
        #expect(RetryPolicy(maxAttempts: 0).maxAttempts == 1)
    }

    @Test func retryableAnswers() {
        #expect([429, 500, 502, 503, 504].allSatisfy(RetryPolicy.isRetryable(status:)))
        #expect(![200, 201, 300, 400, 401, 404, 501].contains(where: RetryPolicy.isRetryable(status:)))
    }
}

@Suite struct HTTPClientTests {
    @Test func invalidURLs() throws {
        let client = try HTTPClient()
        for url in ["not a url", "ftp://127.0.0.1/x"] {
            let error = #expect(throws: HTTPError.self) { try client.send(HTTPRequest(method: .get, url: url)) }
            guard case .invalidURL = error else {
                Issue.record("\(url): expected invalidURL, got \(String(describing: error))")
                continue
            }
        }
    }

    @Test func slowAnswerIsATimeoutAndRetryAfterIsRead() throws {
        let standIn = try StandIn()
        try standIn.faults(["delay_ms": 3000, "delay_next": 1, "fail_next": 1, "fail_status": 429, "retry_after": 5])
        let client = try HTTPClient()
        var request = HTTPRequest(
            method: .patch, url: standIn.baseURL + "/services/data/v62.0/sobjects/Case/Call_Id__c/h",
            headers: [HTTPHeader("Authorization", "Bearer \(StandIn.token)")], body: Array("{}".utf8))
        let throttled = try client.send(request)
        #expect(throttled.status == 429 && throttled.retryAfterSeconds == 5)
        #expect(throttled.header("content-type")?.hasPrefix("application/json") == true)
        request.timeout = .milliseconds(300)
        let error = #expect(throws: HTTPError.self) { try client.send(request) }
        guard case .timeout(let url, let message) = error else {
            Issue.record("expected a timeout, got \(String(describing: error))")
            return
        }
        #expect(url == request.url && !message.isEmpty)
        request.timeout = .seconds(10)
        let created = try client.send(request)
        #expect(created.status == 200 && created.bodyText.contains("\"created\": false"))
    }
}

@Suite struct HTTPMethodTests {
    @Test func emptyBodyHeadAndGet() throws {
        let standIn = try StandIn()
        let client = try HTTPClient()
        let url = standIn.baseURL + "/services/data/v62.0/sobjects/Case/Call_Id__c/m"
        let auth = [HTTPHeader("Authorization", "Bearer \(StandIn.token)")]
        let created = try client.send(HTTPRequest(method: .patch, url: url, headers: auth))
        #expect(created.status == 201 && created.bodyText.contains("\"created\": true"))
        let head = try client.send(HTTPRequest(method: .head, url: standIn.baseURL + "/__stats"))
        #expect(head.status == 501 && head.body.isEmpty)
        let record = try client.send(HTTPRequest(method: .get, url: url, headers: auth))
        #expect(record.status == 200 && record.bodyText.contains("\"Call_Id__c\": \"m\""))
    }
}
