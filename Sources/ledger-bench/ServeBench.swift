// The load generators of tools/bench's service section, each run against a `call-ledger serve` the script
// started, each printing one JSON line:
//   http-ingest: N client threads, each on its own keep-alive connection, POST /v1/events the events of their
//     share of the calls (a call's events stay in order on one client) in requests of B lines; events/s from the
//     first request to the last acknowledgement, and each event's acknowledgement latency (request sent to its
//     acknowledgement line read).
//   http-live: C calls at once, each a producer posting its call.started, then its transcript.segment events
//     (partials and finals) one per request at their simulated times (scaled by --speed, cut at --seconds), and a
//     reader of GET /v1/calls/{id}/stream; for each segment, the time from its request being sent (and from its
//     acknowledgement) to the first Server-Sent Event of that call whose id (seq) is at least the segment's.
//   http-transcript: GET /v1/calls/{id}/transcript for every call of a file on one connection, one at a time;
//     the first request (which brings the projections up to date) is reported apart.
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Command-line options of a subcommand: `--name value` pairs.
struct BenchOptions {
    private var values: [String: String] = [:]

    /// Parses `arguments` (pairs), failing on a stray one.
    init(_ arguments: ArraySlice<String>) {
        var iterator = arguments.makeIterator()
        while let name = iterator.next() {
            guard name.hasPrefix("--"), let value = iterator.next() else { fail("expected --name value, got \(name)") }
            values[String(name.dropFirst(2))] = value
        }
    }

    /// A required text option.
    func text(_ name: String) -> String {
        guard let value = values[name] else { fail("missing --\(name)") }
        return value
    }

    /// An integer option within `range`, `fallback` when absent.
    func integer(_ name: String, _ fallback: Int, in range: ClosedRange<Int>) -> Int {
        guard let text = values[name] else { return fallback }
        guard let value = Int(text), range.contains(value) else { fail("--\(name) must be an integer in \(range)") }
        return value
    }

    /// A positive number option, `fallback` when absent.
    func number(_ name: String, _ fallback: Double) -> Double {
        guard let text = values[name] else { return fallback }
        guard let value = Double(text), value > 0, value.isFinite else { fail("--\(name) must be a positive number") }
        return value
    }

    /// The `--port` option.
    var port: UInt16 {
        UInt16(integer("port", 0, in: 1...65535))
    }
}

/// One interchange event line with the fields the generators need.
struct EventLine: Sendable {
    /// The line (without newline).
    let bytes: [UInt8]
    /// Its call.
    let call: String
    /// Its type.
    let type: String
    /// Its `occurred` time in milliseconds since the epoch, if it has one.
    let occurredMilliseconds: Double?

    /// The value of the first `"key":"..."` in `line` (no escapes in the keys' values of simulated events).
    static func string(_ line: ArraySlice<UInt8>, _ key: String) -> String? {
        let pattern = Array("\"\(key)\":\"".utf8)
        guard let range = line.firstRange(of: pattern),
            let end = line[range.upperBound...].firstIndex(of: 0x22)
        else { return nil }
        return String(decoding: line[range.upperBound..<end], as: UTF8.self)
    }

    /// The lines of a JSON-lines file; `occurred` is read only for the types in `timed`.
    static func read(_ path: String, timed: Set<String> = []) -> [EventLine] {
        guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
        return data.split(separator: 0x0A).compactMap { line -> EventLine? in
            let bytes = Array(line)
            let slice = bytes[...]
            guard let call = string(slice, "call"), let type = string(slice, "type") else { return nil }
            let occurred = timed.contains(type) ? string(slice, "occurred").flatMap(milliseconds(rfc3339:)) : nil
            return EventLine(bytes: bytes, call: call, type: type, occurredMilliseconds: occurred)
        }
    }

    /// Milliseconds since the epoch of a UTC time `YYYY-MM-DDTHH:MM:SS[.fff]Z` (the simulator's form), or nil.
    static func milliseconds(rfc3339 text: String) -> Double? {
        let parts = text.split(whereSeparator: { "-T:Z".contains($0) })
        guard text.hasSuffix("Z"), parts.count == 6, let year = Int(parts[0]), let month = Int(parts[1]),
            let day = Int(parts[2]), let hour = Int(parts[3]), let minute = Int(parts[4]),
            let second = Double(parts[5]), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
        let shifted = month <= 2 ? year - 1 : year
        let era = (shifted >= 0 ? shifted : shifted - 399) / 400
        let yearOfEra = shifted - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return (Double(days * 86_400 + hour * 3600 + minute * 60) + second) * 1000
    }
}

/// Runs `body(index)` on `count` threads at once and returns when all have finished.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
}

/// Milliseconds between two `nowNanoseconds()` readings (negative when `to` came first).
func milliseconds(from: UInt64, to: UInt64) -> Double {
    to >= from ? Double(to - from) / 1e6 : -Double(from - to) / 1e6
}

/// Formats the percentiles of `values` as JSON members prefixed `name`.
func percentileMembers(_ name: String, _ values: [Double]) -> String {
    let sorted = values.sorted()
    return "\"\(name)_p50_ms\":\(decimals(percentile(sorted, 0.5))),\"\(name)_p99_ms\":"
        + "\(decimals(percentile(sorted, 0.99))),\"\(name)_max_ms\":\(decimals(sorted.last ?? 0))"
}

// MARK: - http-ingest

/// `ledger-bench http-ingest --port P --token T --events FILE [--clients 64] [--batch 100]`.
func httpIngest(_ options: BenchOptions) {
    let port = options.port
    let token = options.text("token")
    let clients = options.integer("clients", 64, in: 1...4096)
    let batch = options.integer("batch", 100, in: 1...1_000_000)
    let events = EventLine.read(options.text("events"))
    guard !events.isEmpty else { fail("no events") }
    // Calls dealt to clients so that every client has about the same number of events (largest call first, to
    // the client with the fewest so far), so the 64 clients stay busy until near the end; dealt in order of
    // first appearance instead, 200 simulated calls gave one client 5,194 events and another 884 (mean 2,720),
    // and the last half of a run had a few clients left. A call's events keep their order on its client.
    var eventsOfCall: [String: Int] = [:]
    var callsInOrder: [String] = []
    for event in events {
        if eventsOfCall[event.call] == nil { callsInOrder.append(event.call) }
        eventsOfCall[event.call, default: 0] += 1
    }
    var load = [Int](repeating: 0, count: clients)
    var clientOfCall: [String: Int] = [:]
    for call in callsInOrder.sorted(by: { (eventsOfCall[$0] ?? 0, $1) > (eventsOfCall[$1] ?? 0, $0) }) {
        let client = load.indices.min { load[$0] < load[$1] } ?? 0
        clientOfCall[call] = client
        load[client] += eventsOfCall[call] ?? 0
    }
    var shares = [[[UInt8]]](repeating: [], count: clients)
    for event in events { shares[clientOfCall[event.call] ?? 0].append(event.bytes) }
    let requests: [[[UInt8]]] = shares.map { lines in
        stride(from: 0, to: lines.count, by: batch).map { first in
            var body: [UInt8] = []
            for line in lines[first..<min(first + batch, lines.count)] {
                body.append(contentsOf: line)
                body.append(0x0A)
            }
            return HTTPConnection.request(
                "POST", "/v1/events", token: token, contentType: "application/x-ndjson", body: body)
        }
    }
    struct Tally: Sendable {
        var latencies: [Double] = []
        var appended = 0
        var duplicates = 0
        var problems: [String] = []
        var finished: UInt64 = 0
    }
    let tally = Shared(Tally())
    // Built once: a generic `firstRange(of:)` with a needle built per line cost the generator about 0.8 s of CPU
    // per run, on the cores the service needs.
    let appendedStatus = Array("\"status\":\"appended\"".utf8)
    let duplicateStatus = Array("\"status\":\"duplicate\"".utf8)
    let start = nowNanoseconds()
    onThreads(clients) { client in
        var mine = Tally()
        do throws(HTTPFailure) {
            let connection = try HTTPConnection(port: port)
            for request in requests[client] {
                let sent = nowNanoseconds()
                var lines = ByteLines()
                var failure: HTTPFailure?
                let status = try connection.readResponseAfter(writing: request) { piece, arrived in
                    for line in lines.append(piece) {
                        if line.containsBytes(appendedStatus) {
                            mine.appended += 1
                        } else if line.containsBytes(duplicateStatus) {
                            mine.duplicates += 1
                        } else {
                            failure = HTTPFailure(description: String(decoding: line.prefix(300), as: UTF8.self))
                            return false
                        }
                        mine.latencies.append(milliseconds(from: sent, to: arrived))
                    }
                    return true
                }
                if let failure { throw failure }
                guard status == 200 else { throw HTTPFailure(description: "POST /v1/events answered \(status)") }
            }
        } catch {
            mine.problems.append(error.description)
        }
        let end = nowNanoseconds()
        tally.withLock {
            $0.latencies += mine.latencies
            $0.appended += mine.appended
            $0.duplicates += mine.duplicates
            $0.problems += mine.problems
            $0.finished = max($0.finished, end)
        }
    }
    let result = tally.withLock { $0 }
    guard result.problems.isEmpty else { fail("http-ingest: \(result.problems[0])") }
    guard result.appended + result.duplicates == events.count else {
        fail("http-ingest: \(result.appended + result.duplicates) acknowledgements for \(events.count) events")
    }
    let seconds = Double(result.finished - start) / 1e9
    print(
        "{\"clients\":\(clients),\"batch\":\(batch),\"events\":\(events.count),\"appended\":\(result.appended),"
            + "\"duplicates\":\(result.duplicates),\"seconds\":\(decimals(seconds)),\"events_per_second\":"
            + "\(Int((Double(events.count) / seconds).rounded())),\"largest_client_events\":\(load.max() ?? 0),"
            + "\(percentileMembers("ack", result.latencies))}")
}

extension HTTPConnection {
    /// Writes `request`, then reads its response (see `readResponse`).
    func readResponseAfter(
        writing request: [UInt8], _ onBody: (ArraySlice<UInt8>, UInt64) throws(HTTPFailure) -> Bool
    ) throws(HTTPFailure) -> Int {
        try write(request)
        return try readResponse(onBody)
    }
}

// MARK: - http-live

/// `ledger-bench http-live --port P --ingest-token T --read-token R --events FILE [--calls 200] [--seconds 60]
/// [--speed 1] [--grace 5]`.
func httpLive(_ options: BenchOptions) {
    let port = options.port
    let ingestToken = options.text("ingest-token")
    let readToken = options.text("read-token")
    let callCount = options.integer("calls", 200, in: 1...10000)
    let window = options.number("seconds", 60)
    let speed = options.number("speed", 1)
    let grace = options.number("grace", 5)
    let events = EventLine.read(
        options.text("events"), timed: ["call.started", "transcript.segment", "call.ended"])
    // Each call: its call.started, then its transcript segments (and call.ended) within the window, each with its
    // offset from the call's start in (scaled) nanoseconds.
    var order: [String] = []
    var timelines: [String: [(offset: UInt64, event: EventLine)]] = [:]
    var starts: [String: Double] = [:]
    for event in events where ["call.started", "transcript.segment", "call.ended"].contains(event.type) {
        guard let occurred = event.occurredMilliseconds else { continue }
        if event.type == "call.started" {
            guard order.count < callCount, starts[event.call] == nil else { continue }
            order.append(event.call)
            starts[event.call] = occurred
        }
        guard let start = starts[event.call] else { continue }
        let offset = max(0, occurred - start) / speed
        guard offset <= window * 1000 else { continue }
        timelines[event.call, default: []].append((UInt64(offset * 1e6), event))
    }
    guard order.count == callCount else { fail("http-live: the file has \(order.count) calls, not \(callCount)") }
    let plans = order.map { timelines[$0] ?? [] }
    /// A segment's send time, acknowledgement time and seq.
    struct Sent: Sendable {
        var seq: UInt64
        var sent: UInt64
        var acknowledged: UInt64
    }
    struct CallRecord: Sendable {
        var sent: [Sent] = []
        var delivered: [(seq: UInt64, at: UInt64)] = []
        var problem: String?
        /// Why the stream ended before the run did (its `event: end` data).
        var ended: String?
    }
    let records = Shared([CallRecord](repeating: CallRecord(), count: callCount))
    let readySockets = Shared([Int32]())
    let ready = DispatchSemaphore(value: 0)
    let go = Shared<UInt64?>(nil)
    let goSignal = DispatchGroup()
    goSignal.enter()
    let producersDone = DispatchGroup()
    for _ in 0..<callCount { producersDone.enter() }
    let allDone = DispatchGroup()

    for index in 0..<callCount {
        let plan = plans[index]
        let call = order[index]
        // The producer: call.started, then (once its reader is subscribed and every call is ready) the rest.
        allDone.enter()
        Thread {
            defer { allDone.leave() }
            var sent: [Sent] = []
            do throws(HTTPFailure) {
                let connection = try HTTPConnection(port: port)
                guard let first = plan.first, first.event.type == "call.started" else {
                    throw HTTPFailure(description: "call \(call) has no call.started")
                }
                _ = try postEvent(connection, first.event.bytes, token: ingestToken)
                // The reader.
                let subscribed = DispatchSemaphore(value: 0)
                allDone.enter()
                Thread {
                    defer { allDone.leave() }
                    var delivered: [(seq: UInt64, at: UInt64)] = []
                    var problem: String?
                    var ended: String?
                    do throws(HTTPFailure) {
                        let stream = try HTTPConnection(port: port)
                        readySockets.withLock { $0.append(stream.descriptor) }
                        var lines = ByteLines()
                        var announced = false
                        var ending = false
                        let status = try stream.readResponseAfter(
                            writing: HTTPConnection.request(
                                "GET", "/v1/calls/\(call)/stream", token: readToken)
                        ) { piece, at in
                            if !announced {
                                announced = true
                                subscribed.signal()
                            }
                            for line in lines.append(piece) {
                                if line.starts(with: Array("id: ".utf8)),
                                    let seq = UInt64(String(decoding: line.dropFirst(4), as: UTF8.self))
                                {
                                    delivered.append((seq, at))
                                }
                                if line.starts(with: Array("event: end".utf8)) { ending = true }
                                if ending, line.starts(with: Array("data: ".utf8)) {
                                    ended = String(decoding: line.dropFirst(6), as: UTF8.self)
                                    return false
                                }
                            }
                            return true
                        }
                        if !announced {
                            subscribed.signal()
                            problem = "GET /v1/calls/\(call)/stream answered \(status)"
                        }
                    } catch {
                        // The end of the run shuts the stream's socket down: that ends the read, not a problem.
                        if go.withLock({ $0 }) == nil {
                            problem = error.description
                            subscribed.signal()
                        }
                    }
                    records.withLock {
                        $0[index].delivered = delivered
                        $0[index].ended = ended
                        if let problem { $0[index].problem = problem }
                    }
                }.start()
                subscribed.wait()
                ready.signal()
                goSignal.wait()
                let origin =
                    (go.withLock { $0 } ?? nowNanoseconds()) + UInt64(index) * 2_000_000_000 / UInt64(callCount)
                for (offset, event) in plan.dropFirst() {
                    let due = origin + offset
                    let now = nowNanoseconds()
                    if due > now { usleep(useconds_t(min((due - now) / 1000, 10_000_000))) }
                    let sentAt = nowNanoseconds()
                    let (seq, acknowledged) = try postEvent(connection, event.bytes, token: ingestToken)
                    if event.type == "transcript.segment" {
                        sent.append(Sent(seq: seq, sent: sentAt, acknowledged: acknowledged))
                    }
                }
            } catch {
                ready.signal()
                records.withLock { $0[index].problem = error.description }
            }
            records.withLock { $0[index].sent = sent }
            producersDone.leave()
        }.start()
    }
    for _ in 0..<callCount { ready.wait() }
    if let problem = records.withLock({ $0.compactMap(\.problem).first }) { fail("http-live: \(problem)") }
    let start = nowNanoseconds()
    go.withLock { $0 = start }
    goSignal.leave()
    producersDone.wait()
    let producing = Double(nowNanoseconds() - start) / 1e9
    usleep(useconds_t(grace * 1e6))
    for socket in readySockets.withLock({ $0 }) { shutdown(socket, Int32(SHUT_RDWR)) }
    allDone.wait()
    let all = records.withLock { $0 }
    if let problem = all.compactMap(\.problem).first { fail("http-live: \(problem)") }
    var fromSend: [Double] = []
    var fromAck: [Double] = []
    var acknowledgement: [Double] = []
    var undelivered = 0
    for record in all {
        // The earliest arrival of an event with id >= S, for every S: a running minimum over ids, descending.
        let byID = record.delivered.sorted { $0.seq > $1.seq }
        var earliest: [(seq: UInt64, at: UInt64)] = []
        for delivery in byID {
            earliest.append((delivery.seq, min(delivery.at, earliest.last?.at ?? .max)))
        }
        for sent in record.sent {
            acknowledgement.append(milliseconds(from: sent.sent, to: sent.acknowledged))
            // The last entry (smallest id) with id >= sent.seq.
            guard let match = earliest.last(where: { $0.seq >= sent.seq }) else {
                undelivered += 1
                continue
            }
            fromSend.append(milliseconds(from: sent.sent, to: match.at))
            fromAck.append(milliseconds(from: sent.acknowledged, to: match.at))
        }
    }
    let segments = acknowledgement.count
    let endings = all.compactMap(\.ended)
    print(
        "{\"calls\":\(callCount),\"seconds\":\(decimals(producing)),\"speed\":\(decimals(speed)),"
            + "\"segments\":\(segments),\"segments_per_second\":\(decimals(Double(segments) / producing)),"
            + "\"undelivered\":\(undelivered),\"streams_ended\":\(endings.count),"
            + "\"first_end\":\(endings.first ?? "null"),\(percentileMembers("send_to_delivery", fromSend)),"
            + "\(percentileMembers("ack_to_delivery", fromAck)),\(percentileMembers("ack", acknowledgement))}")
}

/// Posts one event line to /v1/events; returns its seq and the time its acknowledgement arrived.
func postEvent(_ connection: HTTPConnection, _ line: [UInt8], token: String) throws(HTTPFailure) -> (UInt64, UInt64) {
    var seq: UInt64?
    var arrived: UInt64 = 0
    var lines = ByteLines()
    let status = try connection.readResponseAfter(
        writing: HTTPConnection.request(
            "POST", "/v1/events", token: token, contentType: "application/x-ndjson", body: line + [0x0A])
    ) { piece, at in
        for answer in lines.append(piece) where seq == nil {
            seq = jsonInteger(answer, key: "seq")
            arrived = at
        }
        return true
    }
    guard status == 200, let seq else { throw HTTPFailure(description: "POST /v1/events answered \(status)") }
    return (seq, arrived)
}

// MARK: - http-transcript

/// `ledger-bench http-transcript --port P --token T --calls FILE`.
func httpTranscript(_ options: BenchOptions) {
    let port = options.port
    let token = options.text("token")
    guard let list = try? String(contentsOfFile: options.text("calls"), encoding: .utf8) else {
        fail("cannot read \(options.text("calls"))")
    }
    let calls = list.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    guard !calls.isEmpty else { fail("http-transcript: no calls") }
    var times: [Double] = []
    var first = 0.0
    var bytes = 0
    do throws(HTTPFailure) {
        let connection = try HTTPConnection(port: port)
        for (index, call) in ([calls[0]] + calls).enumerated() {
            let start = nowNanoseconds()
            var size = 0
            let status = try connection.readResponseAfter(
                writing: HTTPConnection.request("GET", "/v1/calls/\(call)/transcript?format=json", token: token)
            ) { piece, _ in
                size += piece.count
                return true
            }
            let elapsed = milliseconds(from: start, to: nowNanoseconds())
            guard status == 200 else { throw HTTPFailure(description: "transcript of \(call) answered \(status)") }
            if index == 0 {
                first = elapsed
            } else {
                times.append(elapsed)
                bytes += size
            }
        }
    } catch {
        fail("http-transcript: \(error)")
    }
    print(
        "{\"calls\":\(calls.count),\"first_ms\":\(decimals(first)),\(percentileMembers("read", times)),\"bytes\":\(bytes)}"
    )
}
