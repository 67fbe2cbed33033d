// Helpers for the ingest endpoints' tests: a server configured with a Gladia webhook source and two Firehose
// sources, requests with any headers and bytes, the events a ledger holds, and the same input ingested by the CLI.
import Foundation
import LedgerTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The secrets of the configured push sources.
enum PushSecrets {
    static let gladia = "gladia-callback-secret-0123456789"
    static let ctr = "firehose-ctr-access-key-0123456789"
    static let lens = "firehose-lens-access-key-0123456789"
}

extension ServerProcess {
    /// A server whose config file names the Gladia source `gladia-acme` and the Firehose sources `ctr` (contact
    /// records) and `lens` (Contact Lens real-time events), all of tenant acme-bank.
    static func withPushSources(extraArguments: [String] = []) throws -> ServerProcess {
        let scratch = ScratchDirectory()
        let config = scratch.file("push.yaml")
        try """
        gladia_webhooks:
          gladia-acme:
            secret: \(PushSecrets.gladia)
            tenant: acme-bank
        firehose:
          ctr:
            records: connect-ctr
            access_key: \(PushSecrets.ctr)
            tenant: acme-bank
          lens:
            records: contact-lens
            access_key: \(PushSecrets.lens)
            tenant: acme-bank
        """.write(toFile: config, atomically: true, encoding: .utf8)
        // The file is read once, at start: the scratch directory may go once the server listens.
        return try ServerProcess(extraArguments: ["--config", config] + extraArguments)
    }

    /// A request with `headers` and `body` as given.
    func send(_ method: String, _ path: String, headers: [String: String], body: Data) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.httpMethod = method
        request.timeoutInterval = 120
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return Answer(
            status: http.statusCode, body: String(decoding: data, as: UTF8.self),
            contentType: http.value(forHTTPHeaderField: "Content-Type") ?? "")
    }

    /// The events the ledger holds, as `call-ledger cat` prints them.
    func storedEvents() throws -> [String] {
        try ledgerEvents(ledger)
    }
}

/// The events of the ledger at `directory`, as `call-ledger cat` prints them, without what differs between two
/// ledgers holding the same events: the time each was appended and the digests of sealed parts (each ledger
/// seals with keys of its own).
func ledgerEvents(_ directory: String) throws -> [String] {
    let result = try callLedger("cat", "--ledger", directory)
    try #require(result.status == 0, "cat: \(result.stderr)")
    return try result.stdout.split(separator: "\n").map { line in
        var event = try jsonObject(line)
        event["time"] = nil
        event["sealed"] = nil
        let data = try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// The events `call-ledger ingest --from kind arguments file` appends to a fresh ledger.
func cliIngested(_ kind: String, file: String, _ arguments: [String] = []) throws -> [String] {
    let scratch = ScratchDirectory()
    let ledger = scratch.file("ledger")
    try #require(try callLedger("init", ledger).status == 0)
    let ingested = try callLedger(arguments: ["ingest", "--ledger", ledger, "--from", kind] + arguments + [file])
    try #require(ingested.status == 0, "ingest: \(ingested.stderr)")
    return try ledgerEvents(ledger)
}

/// The idempotency keys of stored event lines, in order.
func idempotencyKeys(_ lines: [String]) throws -> [String] {
    try lines.map { try #require(try jsonObject($0)["idempotency"] as? String) }
}

/// The first line where `stored` and `expected` differ, for a failure message.
func firstDifference(_ stored: [String], _ expected: [String]) -> String {
    guard let index = zip(stored, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset else {
        return "\(stored.count) events stored, \(expected.count) expected"
    }
    return "event \(index): stored \(stored[index])\nexpected \(expected[index])"
}
