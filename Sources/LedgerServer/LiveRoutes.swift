// GET /v1/calls/{id}/stream: a call's transcript lines as Server-Sent Events while they are appended (the lines
// so far first), always redacted; and GET /ui/calls/{id}: the HTML page that shows it, with the QA evidence of
// the finished call.
import Foundation
import Hummingbird
import LedgerCore
import LedgerProjections
import ServiceLifecycle

/// The handlers of the live endpoints.
struct LiveRoutes: Sendable {
    let reads: ReadRoutes
    let feed: LiveFeed

    /// `GET /v1/calls/{id}/stream`: `event: partial` / `event: final` with the line as JSON (the transcript
    /// endpoint's redacted line), `id:` its seq; then `event: end` with `{"reason":...}` when the call ended or
    /// the reader fell too far behind.
    func stream(_ id: String, principal: Principal) async throws -> Response {
        _ = try await reads.visibleSummary(id, principal: principal)
        let subscription = await feed.subscribe(call: id)
        let feed = self.feed
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                // A comment line every keepAliveInterval: a reader that went away is noticed when the write fails,
                // not only when the call next changes.
                let keepAlive = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: Self.keepAliveInterval)
                        if !Task.isCancelled { subscription.push(.keepAlive) }
                    }
                }
                defer { keepAlive.cancel() }
                do {
                    try await writer.write(ByteBuffer(string: ": live transcript\nretry: 2000\n\n"))
                    // On SIGTERM the stream ends (saying so), so that graceful shutdown does not wait for a call
                    // that may never end.
                    try await withGracefulShutdownHandler {
                        while let message = await subscription.next() {
                            try await writer.write(ByteBuffer(string: Self.event(message)))
                        }
                    } onGracefulShutdown: {
                        subscription.push(.end(reason: "the service is shutting down; reconnect to resume"))
                    }
                } catch {
                    await feed.unsubscribe(subscription)
                    throw error
                }
                await feed.unsubscribe(subscription)
                try await writer.finish(nil)
            })
    }

    /// How often an idle stream sends a comment line.
    static let keepAliveInterval = Duration.seconds(15)

    /// One Server-Sent Event.
    static func event(_ message: LiveMessage) -> String {
        switch message {
        case .line(let line):
            let data = String(decoding: TranscriptJSON.line(line, redacted: true), as: UTF8.self)
            return "event: \(line.isFinal ? "final" : "partial")\nid: \(line.seq)\ndata: \(data)\n\n"
        case .keepAlive:
            return ": keep-alive\n\n"
        case .end(let reason):
            var data: [UInt8] = []
            data.appendASCII("{\"reason\":")
            data.appendJSONString(reason)
            return "event: end\ndata: \(String(decoding: data, as: UTF8.self))}\n\n"
        }
    }

    /// `GET /ui/calls/{id}`: the page (no data in it; its script reads with the token the user gives).
    static func page() -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: CallPageDocument.html)))
    }
}

/// The call page's HTML and script (plain, no framework).
enum CallPageDocument {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>CallLedger call</title>
        <style>
        body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em; max-width: 60em; }
        #lines { list-style: none; padding: 0; }
        #lines li { padding: .2em .4em; border-left: 3px solid #2a7; margin: .15em 0; }
        #lines li.partial { border-color: #bbb; color: #777; font-style: italic; }
        #lines li.evidence { background: #ffd; }
        .time { color: #888; font-variant-numeric: tabular-nums; margin-right: .5em; }
        .role { font-weight: bold; margin-right: .5em; }
        #status { color: #555; }
        .answer-no { color: #b22; } .answer-yes { color: #272; }
        </style>
        </head>
        <body>
        <h1>Call <span id="call"></span></h1>
        <form id="login" hidden>
        <label>Token <input id="token" type="password" autocomplete="off"></label> <button>Open</button>
        </form>
        <p id="status">waiting for a token</p>
        <ol id="lines"></ol>
        <section id="qa"></section>
        <script>
        "use strict";
        const call = decodeURIComponent(location.pathname.split("/").pop());
        document.getElementById("call").textContent = call;
        const api = "/v1/calls/" + encodeURIComponent(call);
        const status = text => { document.getElementById("status").textContent = text; };
        const clock = ms => {
          const s = Math.floor(ms / 1000);
          return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
        };
        function show(line) {
          let item = document.querySelector('#lines li[data-utterance="' + CSS.escape(line.utterance) + '"]');
          if (!item) {
            item = document.createElement("li");
            item.dataset.utterance = line.utterance;
            const after = [...document.querySelectorAll("#lines li")]
              .find(other => Number(other.dataset.start) > line.start_ms);
            document.getElementById("lines").insertBefore(item, after || null);
          }
          item.dataset.start = line.start_ms;
          item.dataset.seq = line.seq;
          item.className = line.final ? "final" : "partial";
          item.replaceChildren();
          for (const [cls, text] of [["time", clock(line.start_ms)], ["role", line.role], ["text", line.text]]) {
            const span = document.createElement("span");
            span.className = cls;
            span.textContent = text;
            item.appendChild(span);
          }
        }
        async function qa(token) {
          const answer = await fetch(api + "/qa", { headers: { Authorization: "Bearer " + token } });
          const section = document.getElementById("qa");
          if (!answer.ok) { section.textContent = "QA: " + (await answer.json()).error.message; return; }
          for (const evaluation of await answer.json()) {
            const heading = document.createElement("h2");
            heading.textContent = "QA " + evaluation.scorecard + "@" + evaluation.scorecard_version + ": " +
              (evaluation.score === null || evaluation.score === undefined ? "n/a" : evaluation.score.toFixed(1)) +
              (evaluation.automatic_fail ? " (automatic fail)" : "");
            section.appendChild(heading);
            const list = document.createElement("ul");
            for (const part of evaluation.sections) for (const item of part.answers) {
              const entry = document.createElement("li");
              entry.className = "qa-answer answer-" + item.answer;
              entry.textContent = item.title + ": " + item.answer + " (" + item.reason + ")";
              for (const evidence of item.evidence) {
                const line = document.querySelector('#lines li[data-utterance="' + CSS.escape(evidence.utterance) + '"]');
                if (line) line.classList.add("evidence");
                entry.textContent += " [" + clock(evidence.start_ms) + " " + evidence.role + "]";
              }
              list.appendChild(entry);
            }
            section.appendChild(list);
          }
        }
        async function follow(token) {
          status("connecting");
          const answer = await fetch(api + "/stream", { headers: { Authorization: "Bearer " + token } });
          if (!answer.ok) { status("cannot read this call: " + (await answer.json()).error.message); return; }
          status("live");
          const reader = answer.body.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true });
            let cut;
            while ((cut = buffer.indexOf("\\n\\n")) >= 0) {
              const block = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              let type = "message", data = "";
              for (const field of block.split("\\n")) {
                if (field.startsWith("event: ")) type = field.slice(7);
                else if (field.startsWith("data: ")) data += field.slice(6);
              }
              if (!data) continue;
              const message = JSON.parse(data);
              if (type === "partial" || type === "final") show(message);
              else if (type === "end") {
                status("ended: " + message.reason);
                if (message.reason === "the call ended") await qa(token);
                return;
              }
            }
          }
          status("disconnected");
        }
        function start(token) {
          document.getElementById("login").hidden = true;
          follow(token).catch(error => status("error: " + error.message));
        }
        const fragment = new URLSearchParams(location.hash.slice(1));
        if (fragment.get("token")) {
          const token = fragment.get("token");
          history.replaceState(null, "", location.pathname);
          start(token);
        } else {
          const form = document.getElementById("login");
          form.hidden = false;
          form.addEventListener("submit", event => {
            event.preventDefault();
            start(document.getElementById("token").value);
          });
        }
        </script>
        </body>
        </html>

        """
}
