// The call page (/ui/calls/{id}) in headless Chromium, driven over the DevTools protocol by tools/browser: it
// shows a call's lines live as another client appends them, redacted, then the QA evidence once the call ends.
import Foundation
import LedgerServer
import LedgerTestSupport
import Testing

/// Whether chromium is installed (tools/setup installs it; CI always has it).
let chromiumInstalled = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].contains {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// tools/browser as a child process: one JSON command a line in, one JSON answer a line out.
final class BrowserSession {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending = Data()

    init() throws {
        process.executableURL = URL(fileURLWithPath: Repository.root.appendingPathComponent("tools/browser").path)
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// Sends `command` and returns the answer.
    func send(_ command: [String: Any]) throws -> [String: Any] {
        var line = try JSONSerialization.data(withJSONObject: command)
        line.append(0x0A)
        input.fileHandleForWriting.write(line)
        while !pending.contains(0x0A) {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { throw HarnessError(message: "tools/browser ended: \(process.terminationStatus)") }
            pending.append(data)
        }
        let end = try #require(pending.firstIndex(of: 0x0A))
        let answer = pending[pending.startIndex..<end]
        pending = Data(pending[(end + 1)...])
        return try #require(try JSONSerialization.jsonObject(with: answer) as? [String: Any])
    }

    /// Waits up to `seconds` for `expression` to be truthy in the page.
    func wait(_ expression: String, seconds: Double = 30) throws -> Bool {
        try send(["wait": expression, "timeout": seconds])["ok"] as? Bool == true
    }

    /// `expression`'s value in the page.
    func evaluate(_ expression: String) throws -> Any? {
        try send(["eval": expression])["value"]
    }
}

@Suite("call-ledger serve: the call page in headless Chromium")
struct CallPageBrowserTests {
    @Test(.enabled(if: chromiumInstalled, "chromium is not installed here: run tools/setup (CI installs it)"))
    func thePageShowsLiveLinesRedactedThenTheQAEvidence() async throws {
        let server = try await ServerTests.seeded()
        let call = ServerTests.acmeCall
        let browser = try BrowserSession()
        let url = "http://127.0.0.1:\(server.port)/ui/calls/\(call)#token=\(Tokens.key(.supervisor))"
        #expect(try browser.send(["navigate": url])["ok"] as? Bool == true)
        #expect(try browser.wait("document.getElementById('status').textContent === 'live'"))
        #expect(try browser.wait("document.querySelectorAll('#lines li').length === 1"))
        // The token left the address bar (and was never sent: it is in the fragment).
        #expect(try browser.evaluate("location.hash") as? String == "")
        // Another client appends a partial line, its final version and the call's end while the page is open.
        let segment = { (final: Bool, text: String) in
            #"{"type":"transcript.segment","call":"\#(call)","tenant":"acme-bank","source":"test/1","idempotency":"\#(call):u2:\#(final)","body":{"utterance":"u2","final":\#(final),"role":"agent","start_ms":4000,"end_ms":5000,"text":"\#(text)","provider":"test"}}"#
        }
        try await server.append([segment(false, "thank you for")])
        #expect(try browser.wait("document.querySelector('#lines li.partial')?.textContent.includes('thank you for')"))
        try await server.append([segment(true, "thank you for calling, how can I help")])
        #expect(try browser.wait("document.querySelectorAll('#lines li.final').length === 2"))
        try await server.append([
            #"{"type":"call.ended","call":"\#(call)","tenant":"acme-bank","source":"test/1","idempotency":"\#(call):ended","body":{"disconnected_at":"2026-11-26T09:05:12Z","disconnect_reason":"CUSTOMER_DISCONNECT","duration_ms":312000}}"#
        ])
        #expect(try browser.wait("document.querySelectorAll('#qa .qa-answer').length > 0"))
        let lines = try #require(
            try browser.evaluate("[...document.querySelectorAll('#lines li')].map(li => li.textContent)") as? [String])
        #expect(
            lines == ["00:01customermy name is [REDACTED:name]", "00:04agentthank you for calling, how can I help"],
            "\(lines)")
        let status = try browser.evaluate("document.getElementById('status').textContent") as? String
        #expect(status == "ended: the call ended")
        let qa = try #require(try browser.evaluate("document.getElementById('qa').textContent") as? String)
        #expect(qa.contains("QA support-call-basics@"), "\(qa)")
        let page = try #require(try browser.evaluate("document.documentElement.outerHTML") as? String)
        #expect(!page.contains("Jane Roe"))
        let screenshot = FileManager.default.temporaryDirectory.appendingPathComponent("call-ledger-call-page.png")
        #expect(try browser.send(["screenshot": screenshot.path])["ok"] as? Bool == true)
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "\(png.count) bytes")
    }
}
