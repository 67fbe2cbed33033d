// A deterministic generator of realistic contact-center call event streams in the interchange format:
// agents handle calls back to back; each call yields call.started, dual-track KVS fragment receipts every 2 s,
// partial then final transcript segments with words and confidences, sentiment / entity / PII enrichment,
// CRM writes and call.ended, interleaved across agents in time order.
import LedgerCore

/// SplitMix64: a small, fast, reproducible pseudo-random generator.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Settings of a simulated day.
public struct SimulationOptions: Sendable {
    /// Number of calls.
    public var calls: Int
    /// Random seed; the same seed gives the same bytes.
    public var seed: UInt64
    /// Agents working in parallel (calls interleave across them).
    public var agents: Int
    /// When the day starts (UTC µs).
    public var dayStart: Int64
    /// The whole seconds a call lasts are drawn from this range (plus up to 999 ms); its lower bound should be at
    /// least `shortestCallSeconds`.
    public var callSeconds: ClosedRange<Int>

    /// The default call durations: 2 to 15 minutes.
    public static let defaultCallSeconds = 120...900
    /// The shortest call with room for a transcript: the first utterance starts up to 2.5 s in, and none starts
    /// in a call's last 4 s.
    public static let shortestCallSeconds = 10

    /// `calls` calls from `seed`.
    public init(
        calls: Int, seed: UInt64 = 1, agents: Int = 40, dayStart: Int64 = 1_795_683_600_000_000,
        callSeconds: ClosedRange<Int> = SimulationOptions.defaultCallSeconds
    ) {
        self.calls = calls
        self.seed = seed
        self.agents = agents
        self.dayStart = dayStart
        self.callSeconds = callSeconds
    }
}

/// Produces the JSON lines of a simulated day, in time order.
public struct CallSimulator {
    private struct PendingEvent {
        var time: Int64
        var order: Int
        var line: String
    }

    private var generator: SeededGenerator
    private let options: SimulationOptions
    private var agentQueues: [[PendingEvent]]
    private var agentCursor: [Int]
    private var agentClock: [Int64]
    private var callsStarted = 0
    private var fragmentCounter: UInt64 = 0

    /// A simulator for `options`.
    public init(options: SimulationOptions) {
        self.options = options
        generator = SeededGenerator(seed: options.seed)
        let agents = max(1, min(options.agents, max(options.calls, 1)))
        agentQueues = Array(repeating: [], count: agents)
        agentCursor = Array(repeating: 0, count: agents)
        agentClock = (0..<agents).map { options.dayStart + Int64($0) * 7_000_000 }
    }

    /// Calls `body` with every line (no newline) of the day, in time order.
    public mutating func run(_ body: (String) throws -> Void) rethrows {
        for agent in agentQueues.indices { refill(agent) }
        while true {
            var best: Int?
            for agent in agentQueues.indices where agentCursor[agent] < agentQueues[agent].count {
                let event = agentQueues[agent][agentCursor[agent]]
                if let current = best {
                    let other = agentQueues[current][agentCursor[current]]
                    if (event.time, agent) < (other.time, current) { best = agent }
                } else {
                    best = agent
                }
            }
            guard let agent = best else { return }
            try body(agentQueues[agent][agentCursor[agent]].line)
            agentCursor[agent] += 1
            if agentCursor[agent] == agentQueues[agent].count { refill(agent) }
        }
    }

    /// All lines joined with newlines (each line ends in a newline).
    public mutating func text() -> String {
        var out = ""
        run { out += $0 + "\n" }
        return out
    }

    private mutating func refill(_ agent: Int) {
        agentQueues[agent].removeAll(keepingCapacity: true)
        agentCursor[agent] = 0
        guard callsStarted < options.calls else { return }
        callsStarted += 1
        let start = agentClock[agent] + Int64(random(5...90)) * 1_000_000
        var events = makeCall(agent: agent, start: start)
        events.sort { ($0.time, $0.order) < ($1.time, $1.order) }
        agentClock[agent] = events.last!.time
        agentQueues[agent] = events
    }

    // MARK: - One call

    private mutating func random(_ range: ClosedRange<Int>) -> Int {
        Int.random(in: range, using: &generator)
    }

    private mutating func pick<T>(_ items: [T]) -> T {
        items[random(0...items.count - 1)]
    }

    private mutating func hexBytes(_ count: Int) -> String {
        var bytes: [UInt8] = []
        for _ in 0..<count { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
        return Hex.encode(bytes)
    }

    private mutating func uuid() -> String {
        let h = hexBytes(16)
        let c = Array(h)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-4" + String(c[13..<16]) + "-a" + String(c[17..<20]) + "-"
            + String(c[20..<32])
    }

    private func ts(_ micros: Int64) -> String {
        Timestamp(micros: micros - micros % 1000, fractionDigits: 3).formatted
    }

    private mutating func makeCall(agent: Int, start: Int64) -> [PendingEvent] {
        var events: [PendingEvent] = []
        var order = 0
        let call = uuid()
        let tenant = pick(Self.tenants)
        let queue = pick(Self.queues)
        let agentID = "agent-" + String(agent + 1000)
        let durationMs = random(options.callSeconds) * 1000 + random(0...999)
        let end = start + Int64(durationMs) * 1000
        let source = "simulator/1"
        func emit(_ time: Int64, _ type: String, _ key: String, _ body: String, source: String = source) {
            let line =
                #"{"type":"\#(type)","call":"\#(call)","tenant":"\#(tenant)","source":"\#(source)","idempotency":"\#(key)","occurred":"\#(ts(time))","body":\#(body)}"#
            events.append(PendingEvent(time: time, order: order, line: line))
            order += 1
        }
        let phone = "+1415555" + String(1000 + random(0...8999))
        emit(
            start, "call.started", "ctr:\(call):started",
            #"{"channel":"VOICE","initiation_method":"INBOUND","initiated_at":"\#(ts(start))","queue":{"name":"\#(queue)","arn":"arn:aws:connect:us-east-1:123456789012:instance/5f1a/queue/\#(queue.lowercased())"},"agent":{"id":"\#(agentID)","name":"\#(agentID)"},"customer_endpoint":{"type":"TELEPHONE_NUMBER","address":"\#(phone)"},"system_endpoint":{"type":"TELEPHONE_NUMBER","address":"+18005550100"},"tracks":[{"track":"AUDIO_FROM_CUSTOMER","role":"customer","channel":0},{"track":"AUDIO_TO_CUSTOMER","role":"agent","channel":1}],"language":"en-US"}"#,
            source: "connect-ctr/1")
        let stream = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/connect-5f1a-contact-\(call)/1700000000000"
        var fragmentTime = start
        while fragmentTime + 2_000_000 <= end {
            for track in ["AUDIO_FROM_CUSTOMER", "AUDIO_TO_CUSTOMER"] {
                fragmentCounter += 1
                let number =
                    "9134385233318143239268206260774392014626" + String(1_000_000 + fragmentCounter % 8_999_999)
                let received = fragmentTime + 2_000_000 + Int64(random(20...180)) * 1000
                emit(
                    received, "audio.fragment.received", "kvs:\(call):\(number):\(track)",
                    #"{"stream":"\#(stream)","fragment_number":"\#(number)","track":"\#(track)","producer_timestamp":"\#(ts(fragmentTime))","server_timestamp":"\#(ts(received))","duration_ms":2000,"bytes":\#(64000 + random(-200...200)),"sha256":"\#(hexBytes(32))"}"#,
                    source: "connect-kvs/1")
            }
            fragmentTime += 2_000_000
        }
        var cursorMs = random(800...2500)
        var utteranceNumber = 0
        var role = "agent"
        var customerName: String?
        var sentiments: [String] = []
        let stt = pick(["gladia/v2", "transcribe-call-analytics/2023"])
        let provider = stt.hasPrefix("gladia") ? "gladia" : "amazon-transcribe"
        while cursorMs < durationMs - 4000 {
            utteranceNumber += 1
            let utterance = "utt-" + String(10000 + utteranceNumber).dropFirst()
            var spans: [(text: String, pii: String?)]
            if utteranceNumber == 1 {
                spans = [(pick(Self.greetings), nil)]
            } else if role == "customer" && random(0...9) == 0 {
                let name = pick(Self.firstNames) + " " + pick(Self.lastNames)
                customerName = name
                spans = [
                    ("Sure, my name is ", nil), (name, "name"), (" and the card ends in ", nil),
                    (String(random(1000...9999)), "credit_card_number"), (".", nil),
                ]
            } else if role == "customer" && random(0...14) == 0 {
                spans = [
                    ("My account number is ", nil), (String(random(10_000_000...99_999_999)), "bank_account_number"),
                    (".", nil),
                ]
            } else {
                spans = [(pick(role == "agent" ? Self.agentLines : Self.customerLines), nil)]
            }
            let track = role == "agent" ? "AUDIO_TO_CUSTOMER" : "AUDIO_FROM_CUSTOMER"
            let channel = role == "agent" ? 1 : 0
            // Word timings and confidences follow the published samples (Fixtures/SOURCES.md): Gladia gives
            // millisecond times and two-decimal confidences, often exactly 1; Transcribe gives 10 ms times and
            // three-decimal confidences, mostly above 0.9.
            let gladia = provider == "gladia"
            var words: [(word: String, start: Int, end: Int, confidence: String, pii: String?)] = []
            var wordStart = cursorMs
            for span in spans {
                for word in span.text.split(separator: " ") {
                    var length = 180 + word.count * 45 + random(0...120)
                    if !gladia { length -= (wordStart + length) % 10 }
                    let confidence =
                        random(0...99) < (gladia ? 40 : 25)
                        ? "1"
                        : gladia ? "0." + String(random(80...99)) : "0." + String(random(850...999))
                    words.append((String(word), wordStart, wordStart + length, confidence, span.pii))
                    wordStart += length + (gladia ? random(20...160) : random(2...16) * 10)
                }
            }
            let endMs = words.last!.end
            func segmentBody(final: Bool, wordCount: Int) -> String {
                var body =
                    #"{"utterance":"\#(utterance)","final":\#(final),"role":"\#(role)","track":"\#(track)","channel":\#(channel),"start_ms":\#(cursorMs),"end_ms":\#(words[wordCount - 1].end),"text":"#
                if final && spans.contains(where: { $0.pii != nil }) {
                    body +=
                        "["
                        + spans.map { span in
                            span.pii.map { #"{"text":"\#(span.text)","pii":"\#($0)"}"# } ?? #"{"text":"\#(span.text)"}"#
                        }.joined(separator: ",") + "]"
                } else {
                    body += "\"" + words.prefix(wordCount).map(\.word).joined(separator: " ") + "\""
                }
                body += #","words":["#
                body += words.prefix(wordCount).map { word in
                    let pii = final ? word.pii.map { #","pii":"\#($0)""# } ?? "" : ""
                    return
                        #"{"word":"\#(word.word)","start_ms":\#(word.start),"end_ms":\#(word.end),"confidence":\#(word.confidence)\#(pii)}"#
                }.joined(separator: ",")
                let mean = words.prefix(wordCount).map { Double($0.confidence)! }.reduce(0, +) / Double(wordCount)
                let confidence = "0." + String(Int(mean * 100).clamped(to: 10...99))
                body += #"],"confidence":\#(confidence),"language":"en","provider":"\#(provider)"}"#
                return body
            }
            let callStart = start
            var shown = 3
            var partial = 0
            while shown < words.count {
                partial += 1
                let at = callStart + Int64(words[shown - 1].end + random(150...400)) * 1000
                let key = "stt:\(call):\(utterance):partial-\(partial)"
                let anyPII = words.prefix(shown).contains { $0.pii != nil }
                if !anyPII {
                    emit(at, "transcript.segment", key, segmentBody(final: false, wordCount: shown), source: stt)
                }
                shown += random(2...4)
            }
            let finalAt = callStart + Int64(endMs + random(300...900)) * 1000
            emit(
                finalAt, "transcript.segment", "stt:\(call):\(utterance):final",
                segmentBody(final: true, wordCount: words.count), source: stt)
            let label = pick(role == "customer" ? Self.customerSentiments : Self.agentSentiments)
            sentiments.append(label)
            emit(
                finalAt + 250_000, "enrichment.result", "nlp:\(call):\(utterance):sentiment",
                #"{"kind":"sentiment","utterances":["\#(utterance)"],"provider":"\#(provider)","model":"sentiment-2","result":{"label":"\#(label)","score":0.\#(random(500...999))}}"#,
                source: stt)
            let piiSpans = spans.filter { $0.pii != nil }
            if !piiSpans.isEmpty {
                let entities = piiSpans.map { span in
                    #"{"type":"\#(span.pii!)","text":"\#(span.text)","pii":"\#(span.pii!)","utterance":"\#(utterance)","confidence":0.\#(random(900...999))}"#
                }.joined(separator: ",")
                emit(
                    finalAt + 300_000, "enrichment.result", "nlp:\(call):\(utterance):pii",
                    #"{"kind":"pii","utterances":["\#(utterance)"],"provider":"\#(provider)","result":{"entities":[\#(entities)]}}"#,
                    source: stt)
            }
            let spoken = spans.map(\.text).joined()
            if let product = Self.products.first(where: { spoken.contains($0) }) {
                emit(
                    finalAt + 350_000, "enrichment.result", "nlp:\(call):\(utterance):entities",
                    #"{"kind":"entities","utterances":["\#(utterance)"],"provider":"\#(provider)","result":{"entities":[{"type":"product","text":"\#(product)","utterance":"\#(utterance)","confidence":0.\#(random(800...999))}]}}"#,
                    source: stt)
            }
            cursorMs = endMs + random(300...2600)
            role = role == "agent" ? "customer" : "agent"
        }
        let disposition = pick(["resolved", "resolved", "escalated", "callback-scheduled"])
        let finalSentiment = sentiments.last ?? "NEUTRAL"
        var fields =
            #""CallDisposition":"\#(disposition)","Sentiment__c":"\#(finalSentiment)","Queue__c":"\#(queue)","CallDurationInSeconds":\#(durationMs / 1000)"#
        if let customerName { fields += #","Customer_Name__c":"\#(customerName)""# }
        emit(
            end + 1_500_000, "crm.write", "crm:voicecall:v1:\(call)",
            #"{"system":"salesforce","object":"VoiceCall","external_id_field":"VendorCallKey","external_id":"\#(call)","record_id":"0LQ5e\#(hexBytes(5))","fields":{\#(fields)},"mapping":{"name":"voicecall","version":"1"},"status":200,"attempts":1}"#,
            source: "crm/salesforce")
        emit(
            end, "call.ended", "ctr:\(call):ended",
            #"{"disconnected_at":"\#(ts(end))","disconnect_reason":"\#(pick(["CUSTOMER_DISCONNECT", "AGENT_DISCONNECT"]))","duration_ms":\#(durationMs),"agent_interaction_ms":\#(durationMs - 3000),"hold_ms":0,"hold_count":0,"recording":{"location":"s3://recordings-5f1a/\#(call).wav","status":"AVAILABLE"}}"#,
            source: "connect-ctr/1")
        return events
    }

    // MARK: - Vocabulary

    static let tenants = ["acme-bank", "globex-telco", "initech-insurance"]
    /// Phrases that a named-entity recogniser reports as products (non-personal entities).
    static let products = ["card", "payment plan", "late fee", "replacement"]
    static let queues = ["Cards", "Loans", "Billing", "Support", "Retention"]
    static let firstNames = ["Jane", "Omar", "Priya", "Lukas", "Mei", "Carlos", "Aisha", "Tom", "Sofia", "Kenji"]
    static let lastNames = ["Roe", "Haddad", "Nair", "Becker", "Chen", "Ortega", "Bello", "Walsh", "Rossi", "Sato"]
    static let customerSentiments = ["NEUTRAL", "NEUTRAL", "NEGATIVE", "POSITIVE", "MIXED"]
    static let agentSentiments = ["NEUTRAL", "POSITIVE", "POSITIVE", "NEUTRAL"]
    static let greetings = [
        "Thank you for calling, my name is Alex, how can I help you today?",
        "Good morning and thanks for calling customer care, this is Sam speaking, how may I help?",
        "Hi, thanks for holding, you are through to the billing team, what can I do for you?",
    ]
    static let agentLines = [
        "Can I please have your full name and the last four digits of your card?",
        "Thank you, I can see your account here, let me pull up the recent transactions.",
        "I understand how frustrating that must be, let me see what I can do.",
        "I have blocked the card and ordered a replacement, it should arrive in five to seven business days.",
        "Is there anything else I can help you with today?",
        "Just to let you know, this call may be recorded for quality and training purposes.",
        "I can waive the late fee this time as a courtesy.",
        "Let me place you on a brief hold while I check with my supervisor.",
        "Thanks for waiting, I have an update for you.",
        "The payment was received on the twelfth and has been applied to your balance.",
        "I can set up a payment plan over three months if that helps.",
        "Your new plan will start on the first of next month.",
        "I have sent a confirmation email to the address on file.",
        "Thank you for your patience, have a great day.",
    ]
    static let customerLines = [
        "Hi, I think my card was stolen and I need to block it right away.",
        "There is a charge on my statement that I do not recognize.",
        "I was charged twice for the same order last week.",
        "Yes, that is right.",
        "No, I did not authorize that payment.",
        "Can you tell me when the replacement will arrive?",
        "I have been waiting for almost an hour, this is really frustrating.",
        "Okay, that sounds good, thank you.",
        "I would like to close my account please.",
        "Could you explain why my bill went up this month?",
        "I moved recently and need to update my address.",
        "That is all, thanks for your help.",
        "Sorry, could you repeat that?",
        "I want to dispute this transaction.",
    ]
}

extension Comparable {
    fileprivate func clamped(to range: ClosedRange<Self>) -> Self {
        min(max(self, range.lowerBound), range.upperBound)
    }
}
