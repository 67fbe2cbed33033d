// Scoring a call against a QA scorecard: each question's check answered from the call's transcript (final
// lines, their times, roles and sentiment), with evidence as utterance ids, seqs and times (never text), then the
// Amazon Connect arithmetic: option scores as a share of the best option, weights of not-applicable items
// shared out among the others, and any automatic-fail answer making the whole evaluation 0.

/// A call's evaluation under one scorecard.
public struct QAEvaluation: Sendable, Equatable, Codable {
    /// The scorecard's name, version and file digest (hex).
    public var scorecard: String
    /// Its version.
    public var scorecardVersion: String
    /// Its file's SHA-256, hex.
    public var scorecardDigest: String
    /// The call.
    public var call: String
    /// Events with seq below this were taken into account.
    public var asOf: UInt64
    /// 0 to 100; 0 when an answer failed the evaluation automatically; nil when nothing was applicable.
    public var score: Double?
    /// Whether an automatic-fail answer was given.
    public var automaticFail: Bool
    /// Per section, in order.
    public var sections: [SectionResult]

    /// A section's result.
    public struct SectionResult: Sendable, Equatable, Codable {
        /// The section id.
        public var id: String
        /// Its title.
        public var title: String
        /// 0 to 100 over its applicable questions, nil when none applies.
        public var score: Double?
        /// The answers, in order.
        public var answers: [Answer]
    }

    /// One question's answer.
    public struct Answer: Sendable, Equatable, Codable {
        /// The question id.
        public var question: String
        /// Its title.
        public var title: String
        /// `yes`, `no` or `not_applicable`.
        public var answer: String
        /// The chosen option's score (0 to 10), nil when not applicable.
        public var points: Int?
        /// Whether the chosen option failed the evaluation.
        public var automaticFail: Bool
        /// What the check measured (seconds, a share, a count), when it measures.
        public var measured: Double?
        /// Why, in words.
        public var reason: String
        /// The lines that decided it.
        public var evidence: [Evidence]
    }

    /// A transcript line cited as evidence.
    public struct Evidence: Sendable, Equatable, Codable {
        /// The utterance id.
        public var utterance: String
        /// The seq of the segment event.
        public var seq: UInt64
        /// Who spoke.
        public var role: String
        /// Start and end, ms from the call's start.
        public var startMs: Int64
        /// End, ms from the call's start.
        public var endMs: Int64
    }
}

extension QAScorecard {
    /// Evaluates `transcript` with this scorecard.
    public func evaluate(_ transcript: CallTranscript) -> QAEvaluation {
        let lines = transcript.lines.filter(\.isFinal)
        var sections: [QAEvaluation.SectionResult] = []
        var automaticFail = false
        var weighted: [(weight: Double, score: Double)] = []
        for section in self.sections {
            var answers: [QAEvaluation.Answer] = []
            var sectionWeighted: [(weight: Double, score: Double)] = []
            for question in section.questions {
                let outcome = Self.outcome(of: question.check, transcript: transcript, lines: lines)
                let answer: String
                var option: Option?
                switch outcome.passed {
                case true?:
                    answer = "yes"
                    option = question.yes
                case false?:
                    answer = "no"
                    option = question.no
                case nil:
                    answer = question.notApplicableAllowed ? "not_applicable" : "no"
                    option = question.notApplicableAllowed ? nil : question.no
                }
                automaticFail = automaticFail || option?.automaticFail == true
                let best = max(question.yes.score, question.no.score)
                if let option, best > 0 {
                    let share = Double(option.score) / Double(best) * 100
                    sectionWeighted.append((question.weight, share))
                    if scoring == .questionOnly { weighted.append((question.weight, share)) }
                }
                answers.append(
                    QAEvaluation.Answer(
                        question: question.id, title: question.title, answer: answer, points: option?.score,
                        automaticFail: option?.automaticFail == true, measured: outcome.measured,
                        reason: outcome.reason, evidence: outcome.evidence))
            }
            let sectionScore = Self.weightedMean(sectionWeighted)
            if scoring == .sectionOnly, let sectionScore { weighted.append((section.weight, sectionScore)) }
            sections.append(
                QAEvaluation.SectionResult(id: section.id, title: section.title, score: sectionScore, answers: answers))
        }
        let score = Self.weightedMean(weighted)
        return QAEvaluation(
            scorecard: name, scorecardVersion: version, scorecardDigest: digest.hex, call: transcript.summary.call,
            asOf: transcript.asOf, score: automaticFail ? 0 : score, automaticFail: automaticFail, sections: sections)
    }

    /// The weighted mean of the scores, the weights of what is absent shared out; nil when nothing weighs.
    private static func weightedMean(_ items: [(weight: Double, score: Double)]) -> Double? {
        let total = items.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return nil }
        return items.reduce(0) { $0 + $1.weight * $1.score } / total
    }

    /// What a check found: passed (nil when it cannot apply), the measure, why, and the lines.
    private struct Outcome {
        var passed: Bool?
        var measured: Double?
        var reason: String
        var evidence: [QAEvaluation.Evidence] = []
    }

    private static func evidence(_ line: TranscriptLine) -> QAEvaluation.Evidence {
        QAEvaluation.Evidence(
            utterance: line.utterance, seq: line.seq, role: line.role, startMs: line.startMs, endMs: line.endMs)
    }

    private static func outcome(of check: Check, transcript: CallTranscript, lines: [TranscriptLine]) -> Outcome {
        let summary = transcript.summary
        switch check {
        case .phraseBefore(let role, let first, let then):
            return orderOutcome(role: role, first: first, then: then, lines: lines)
        case .interruptions(let role, let maximum):
            return interruptionOutcome(role: role, maximum: maximum, lines: lines)
        case .detected(let kind, let names):
            return detectionOutcome(kind: kind, names: names, transcript: transcript)
        case .phrase(let role, let phrases, let firstSeconds, let lastSeconds):
            let end = lines.map(\.endMs).max() ?? 0
            let hits = lines.filter { line in
                line.role == role && firstSeconds.map { Double(line.startMs) <= $0 * 1000 } ?? true
                    && lastSeconds.map { Double(line.endMs) >= Double(end) - $0 * 1000 } ?? true
                    && says(line, phrases)
            }
            let window =
                firstSeconds.map { " in the first \(Int($0)) s" } ?? lastSeconds.map { " in the last \(Int($0)) s" }
                ?? ""
            return Outcome(
                passed: !hits.isEmpty, measured: Double(hits.count),
                reason: hits.isEmpty ? "the \(role) never says it\(window)" : "the \(role) says it\(window)",
                evidence: hits.prefix(5).map(evidence))
        case .absentPhrase(let role, let phrases):
            let hits = lines.filter { (role == nil || $0.role == role) && says($0, phrases) }
            return Outcome(
                passed: hits.isEmpty, measured: Double(hits.count),
                reason: hits.isEmpty ? "never said" : "said on \(hits.count) line(s)", evidence: hits.map(evidence))
        case .talkShare(let role, let minimum, let maximum):
            let total = lines.reduce(Int64(0)) { $0 + max(0, $1.endMs - $1.startMs) }
            guard total > 0 else { return Outcome(passed: nil, reason: "nobody spoke") }
            let own = lines.filter { $0.role == role }.reduce(Int64(0)) { $0 + max(0, $1.endMs - $1.startMs) }
            let share = Double(own) / Double(total)
            return Outcome(
                passed: (minimum...maximum).contains(share), measured: share,
                reason: "the \(role) talks \(Int((share * 100).rounded()))% of the time (\(minimum)-\(maximum) wanted)")
        case .longestSilence(let maxSeconds, let ignoreBelow):
            let sorted = lines.sorted { $0.startMs < $1.startMs }
            guard var reach = sorted.first else { return Outcome(passed: nil, reason: "no speech") }
            var longest: (gap: Int64, before: TranscriptLine, after: TranscriptLine)?
            for line in sorted.dropFirst() {
                let gap = line.startMs - reach.endMs
                if Double(gap) >= ignoreBelow * 1000, gap > longest?.gap ?? 0 { longest = (gap, reach, line) }
                if line.endMs > reach.endMs { reach = line }
            }
            let seconds = Double(longest?.gap ?? 0) / 1000
            return Outcome(
                passed: seconds <= maxSeconds, measured: seconds,
                reason: "the longest silence lasts \(seconds) s (at most \(maxSeconds) s wanted)",
                evidence: longest.map { [evidence($0.before), evidence($0.after)] } ?? [])
        case .duration(let minimum, let maximum):
            guard let milliseconds = summary.shownDurationMs else { return Outcome(passed: nil, reason: "no duration") }
            let seconds = Double(milliseconds) / 1000
            return Outcome(
                passed: (minimum...maximum).contains(seconds), measured: seconds,
                reason: "the call lasts \(seconds) s (\(minimum)-\(maximum) s wanted)")
        case .holds(let maxCount, let maxSeconds):
            let seconds = summary.holdMs.map { Double($0) / 1000 }
            guard maxCount == nil || summary.holdCount != nil, maxSeconds == nil || seconds != nil else {
                return Outcome(passed: nil, reason: "the contact record gives no hold figures")
            }
            let countOK = maxCount.map { Int64($0) >= summary.holdCount! } ?? true
            let timeOK = maxSeconds.map { $0 >= seconds! } ?? true
            let count = summary.holdCount.map { "\($0) holds" } ?? "holds not counted"
            let time = seconds.map { "\($0) s on hold" } ?? "hold time unknown"
            return Outcome(
                passed: countOK && timeOK, measured: maxSeconds == nil ? summary.holdCount.map(Double.init) : seconds,
                reason: "\(count), \(time) (at most \(maxCount.map(String.init) ?? "any") holds and "
                    + "\(maxSeconds.map { "\($0) s" } ?? "any time") wanted)")
        case .sentimentNotWorse(let role):
            let rated = lines.filter { $0.role == role }.compactMap { line -> (TranscriptLine, Int)? in
                guard let label = line.enrichments.last(where: { $0.kind == "sentiment" })?.label,
                    let rank = ["NEGATIVE": 0, "MIXED": 1, "NEUTRAL": 1, "POSITIVE": 2][label.uppercased()]
                else { return nil }
                return (line, rank)
            }
            guard let first = rated.first, let last = rated.last, rated.count >= 2 else {
                return Outcome(passed: nil, reason: "fewer than two \(role) lines carry a sentiment")
            }
            return Outcome(
                passed: last.1 >= first.1, measured: Double(last.1 - first.1),
                reason: "the \(role)'s sentiment goes from rank \(first.1) to \(last.1) (0 negative, 2 positive)",
                evidence: [evidence(first.0), evidence(last.0)])
        }
    }

    /// `role` says one of `first` before one of `then`.
    private static func orderOutcome(role: String, first: [String], then: [String], lines: [TranscriptLine]) -> Outcome
    {
        let own = lines.filter { $0.role == role }.sorted { $0.startMs < $1.startMs }
        guard let later = own.first(where: { says($0, then) }) else {
            return Outcome(passed: nil, reason: "the \(role) never says the later phrases")
        }
        guard let earlier = own.first(where: { says($0, first) }), earlier.startMs <= later.startMs else {
            return Outcome(
                passed: false, reason: "the \(role) says the later phrases first", evidence: [evidence(later)])
        }
        return Outcome(
            passed: true, reason: "the \(role) says them in order", evidence: [evidence(earlier), evidence(later)])
    }

    /// The lines of `role` that start before the other side's previous line ends.
    private static func interruptionOutcome(role: String, maximum: Int, lines: [TranscriptLine]) -> Outcome {
        let sorted = lines.sorted { $0.startMs < $1.startMs }
        var cut: [TranscriptLine] = []
        for (previous, line) in zip(sorted, sorted.dropFirst())
        where line.role == role && previous.role != role && line.startMs < previous.endMs {
            cut.append(line)
        }
        return Outcome(
            passed: cut.count <= maximum, measured: Double(cut.count),
            reason: "the \(role) interrupts \(cut.count) time(s) (at most \(maximum) wanted)",
            evidence: cut.prefix(5).map(evidence))
    }

    /// Whether the source detected one of `names` as an enrichment of `kind`, on the call or a line.
    private static func detectionOutcome(kind: String, names: [String], transcript: CallTranscript) -> Outcome {
        let notes = transcript.callEnrichments + transcript.lines.filter(\.isFinal).flatMap(\.enrichments)
        let found = notes.filter { $0.kind == kind }.flatMap { note in
            note.names + note.entities.compactMap { $0.text?.text }
        }.filter { name in names.contains { name.lowercased().contains($0) } }
        return Outcome(
            passed: !found.isEmpty, measured: Double(found.count),
            reason: found.isEmpty
                ? "no \(kind) of those detected" : "detected \(kind): \(found.joined(separator: ", "))")
    }

    /// Whether `line`'s text (sealed spans it cannot open stay placeholders) contains one of `phrases`.
    private static func says(_ line: TranscriptLine, _ phrases: [String]) -> Bool {
        let text = line.text(redacted: false).lowercased()
        return phrases.contains { text.contains($0) }
    }
}
