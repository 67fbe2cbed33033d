// QA scorecards: the versioned YAML files under Projections/qa/, modelled on Amazon Connect evaluation forms
// (sections of questions, weights summing to 100 per scoring mode, answer options with scores from 0 to 10 and an
// automatic-fail flag, not-applicable handling), each question answered automatically by a check on the ledger.
// Parsing checks every member and names the file, the member's path and the reason for anything it refuses.
public import LedgerCore

/// A parsed, validated QA scorecard.
public struct QAScorecard: Sendable, Equatable {
    /// The scorecard's stable name.
    public var name: String
    /// Its version, bumped by whoever edits it.
    public var version: String
    /// What it is for.
    public var description: String
    /// How weights combine (Amazon Connect `ScoringStrategy.Mode`).
    public var scoring: ScoringMode
    /// The sections, in order.
    public var sections: [Section]
    /// SHA-256 of the file's bytes, recorded with every score computed under it.
    public var digest: SHA256Digest

    /// How question and section weights combine into the evaluation's score.
    public enum ScoringMode: String, Sendable, Equatable {
        /// Every question carries a weight; the question weights of the whole form sum to 100.
        case questionOnly = "question_only"
        /// Every section carries a weight summing to 100 over the form; within a section, question weights sum
        /// to 100.
        case sectionOnly = "section_only"
    }

    /// A group of questions.
    public struct Section: Sendable, Equatable {
        /// Stable id, unique in the form.
        public var id: String
        /// Shown title.
        public var title: String
        /// The section's weight (section_only mode), else 0.
        public var weight: Double
        /// The questions, in order.
        public var questions: [Question]
    }

    /// A question answered `yes` or `no` by a check.
    public struct Question: Sendable, Equatable {
        /// Stable id, unique in the form.
        public var id: String
        /// Shown title.
        public var title: String
        /// The question's weight.
        public var weight: Double
        /// What answers it.
        public var check: Check
        /// The score and automatic-fail flag of each answer.
        public var yes: Option
        /// The score and automatic-fail flag of `no`.
        public var no: Option
        /// Whether the question may be not applicable (its weight then goes to the others); without it, a check
        /// that cannot apply answers `no`.
        public var notApplicableAllowed: Bool
    }

    /// One answer option.
    public struct Option: Sendable, Equatable {
        /// 0 to 10, as in Amazon Connect.
        public var score: Int
        /// Whether choosing it makes the whole evaluation score 0.
        public var automaticFail: Bool
    }

    /// What the ledger must show for the answer to be `yes`.
    public enum Check: Sendable, Equatable {
        /// A final line of `role` says one of `phrases` (case-insensitive), within the first `firstSeconds` of the
        /// call or the last `lastSeconds` of its transcript when given.
        case phrase(role: String, phrases: [String], firstSeconds: Double?, lastSeconds: Double?)
        /// No final line (of `role`, or anyone's) says any of `phrases`.
        case absentPhrase(role: String?, phrases: [String])
        /// `role`'s share of the talk time lies within `min...max`.
        case talkShare(role: String, min: Double, max: Double)
        /// No silence (a gap between speech of either side, gaps under `ignoreBelow` seconds ignored) lasts over
        /// `maxSeconds`.
        case longestSilence(maxSeconds: Double, ignoreBelow: Double)
        /// The call lasted between `minSeconds` and `maxSeconds`.
        case duration(minSeconds: Double, maxSeconds: Double)
        /// The customer was put on hold at most `maxCount` times and for at most `maxSeconds` in all, as the
        /// contact record (`call.ended`) says (N/A when it does not say); a nil bound is not checked.
        case holds(maxCount: Int?, maxSeconds: Double?)
        /// `role`'s sentiment on its last line is no worse than on its first (N/A without sentiment).
        case sentimentNotWorse(role: String)
        /// `role` says one of `first` before it first says one of `then` (N/A when `then` is never said): identity
        /// verification before account details.
        case phraseBefore(role: String, first: [String], then: [String])
        /// `role` interrupts (starts speaking before the other side's line ends) at most `max` times.
        case interruptions(role: String, max: Int)
        /// The source detected one of `names` as an enrichment of `kind` (`category`: Call Analytics or Contact
        /// Lens categories; `outcome`, `issue`, `action_item`: Contact Lens detections, matched on their text).
        case detected(kind: String, names: [String])
    }

    /// Parses and validates the scorecard in `bytes`, read from `file` (named in errors).
    public static func parse(_ bytes: [UInt8], file: String) throws(DefinitionError) -> QAScorecard {
        let raw = try DefinitionFile.decode(RawScorecard.self, from: bytes, file: file, kind: "scorecard")
        func fail(_ path: String, _ reason: String) -> DefinitionError {
            DefinitionError(file: file, path: path, reason: reason)
        }
        guard !raw.version.isEmpty else { throw fail("version", "must not be empty") }
        guard let scoring = ScoringMode(rawValue: raw.scoring) else {
            throw fail("scoring", "must be question_only or section_only, not '\(raw.scoring)'")
        }
        guard !raw.sections.isEmpty else { throw fail("sections", "a scorecard needs at least one section") }
        var ids: Set<String> = []
        var sections: [Section] = []
        for (index, rawSection) in raw.sections.enumerated() {
            let path = "sections[\(index)]"
            guard DefinitionFile.isName(rawSection.id), ids.insert(rawSection.id).inserted else {
                throw fail(path + ".id", "'\(rawSection.id)' is not a unique lowercase id")
            }
            guard !rawSection.questions.isEmpty else { throw fail(path + ".questions", "a section needs questions") }
            var questions: [Question] = []
            for (number, rawQuestion) in rawSection.questions.enumerated() {
                let questionPath = path + ".questions[\(number)]"
                guard DefinitionFile.isName(rawQuestion.id), ids.insert(rawQuestion.id).inserted else {
                    throw fail(questionPath + ".id", "'\(rawQuestion.id)' is not a unique lowercase id")
                }
                guard rawQuestion.weight >= 0 else { throw fail(questionPath + ".weight", "must not be negative") }
                let options = try rawQuestion.answers.options(path: questionPath + ".answers", fail: fail)
                questions.append(
                    Question(
                        id: rawQuestion.id, title: rawQuestion.title, weight: rawQuestion.weight,
                        check: try rawQuestion.check.check(path: questionPath + ".check", fail: fail),
                        yes: options.yes, no: options.no, notApplicableAllowed: rawQuestion.notApplicable ?? false))
            }
            let weight = rawSection.weight ?? 0
            if scoring == .sectionOnly {
                guard rawSection.weight != nil else {
                    throw fail(path + ".weight", "section_only needs a section weight")
                }
                try requireHundred(questions.map(\.weight), path + ".questions", "the question weights of the section")
            } else if rawSection.weight != nil {
                throw fail(path + ".weight", "question_only weighs questions, not sections; remove it")
            }
            sections.append(Section(id: rawSection.id, title: rawSection.title, weight: weight, questions: questions))
        }
        func requireHundred(_ weights: [Double], _ path: String, _ what: String) throws(DefinitionError) {
            let sum = weights.reduce(0, +)
            guard abs(sum - 100) < 1e-9 else { throw fail(path, "\(what) sum to \(sum), not 100") }
        }
        if scoring == .sectionOnly {
            try requireHundred(sections.map(\.weight), "sections", "the section weights")
        } else {
            try requireHundred(sections.flatMap { $0.questions.map(\.weight) }, "sections", "the question weights")
        }
        return QAScorecard(
            name: raw.name, version: raw.version, description: raw.description ?? "", scoring: scoring,
            sections: sections, digest: SHA256.hash(bytes))
    }
}

/// The file as written, before validation.
private struct RawScorecard: DefinitionHeader {
    var format: Int
    var name: String
    var version: String
    var description: String?
    var scoring: String
    var sections: [RawSection]

    struct RawSection: Decodable {
        var id: String
        var title: String
        var weight: Double?
        var questions: [RawQuestion]
    }

    struct RawQuestion: Decodable {
        var id: String
        var title: String
        var weight: Double
        var check: RawCheck
        var answers: RawAnswers
        var notApplicable: Bool?

        enum CodingKeys: String, CodingKey {
            case id, title, weight, check, answers
            case notApplicable = "not_applicable"
        }
    }

    struct RawAnswers: Decodable {
        var yes: RawOption
        var no: RawOption

        func options(
            path: String, fail: (String, String) -> DefinitionError
        ) throws(DefinitionError) -> (yes: QAScorecard.Option, no: QAScorecard.Option) {
            for (name, option) in [("yes", yes), ("no", no)] where !(0...10).contains(option.score) {
                throw fail(path + "." + name + ".score", "must be 0 to 10, not \(option.score)")
            }
            guard yes.automaticFail != true else {
                throw fail(path + ".yes.automatic_fail", "the passing answer cannot fail the evaluation")
            }
            return (
                QAScorecard.Option(score: yes.score, automaticFail: false),
                QAScorecard.Option(score: no.score, automaticFail: no.automaticFail ?? false)
            )
        }
    }

    struct RawOption: Decodable {
        var score: Int
        var automaticFail: Bool?

        enum CodingKeys: String, CodingKey {
            case score
            case automaticFail = "automatic_fail"
        }
    }

    /// One check kind given as the only member of `check`.
    struct RawCheck: Decodable {
        var phrase: RawPhrase?
        var absentPhrase: RawPhrase?
        var talkShare: RawRange?
        var longestSilence: RawSilence?
        var duration: RawRange?
        var holds: RawHolds?
        var sentimentNotWorse: RawRole?
        var phraseBefore: RawOrder?
        var interruptions: RawInterruptions?
        var detected: RawDetected?

        enum CodingKeys: String, CodingKey {
            case phrase, duration, holds, interruptions, detected
            case phraseBefore = "phrase_before"
            case absentPhrase = "absent_phrase"
            case talkShare = "talk_share"
            case longestSilence = "longest_silence"
            case sentimentNotWorse = "sentiment_not_worse"
        }

        func check(path: String, fail: (String, String) -> DefinitionError) throws(DefinitionError) -> QAScorecard.Check
        {
            let given = [
                phrase != nil, absentPhrase != nil, talkShare != nil, longestSilence != nil, duration != nil,
                holds != nil, sentimentNotWorse != nil, phraseBefore != nil, interruptions != nil, detected != nil,
            ].count { $0 }
            guard given == 1 else {
                throw fail(
                    path,
                    "give exactly one of phrase, absent_phrase, phrase_before, talk_share, longest_silence, interruptions, duration, holds, sentiment_not_worse, detected"
                )
            }
            func role(_ value: String?, _ member: String) throws(DefinitionError) -> String {
                guard let value, ["agent", "customer"].contains(value) else {
                    throw fail(member + ".role", "must be agent or customer")
                }
                return value
            }
            func phrases(_ list: [String], _ member: String) throws(DefinitionError) -> [String] {
                let cleaned = list.map { $0.lowercased() }.filter { !$0.isEmpty }
                guard !cleaned.isEmpty, cleaned.count == list.count else {
                    throw fail(member, "list one or more non-empty phrases")
                }
                return cleaned
            }
            if let phraseBefore {
                let member = path + ".phrase_before"
                return .phraseBefore(
                    role: try role(phraseBefore.role, member),
                    first: try phrases(phraseBefore.first, member + ".first"),
                    then: try phrases(phraseBefore.then, member + ".then"))
            }
            if let interruptions {
                guard interruptions.max >= 0 else { throw fail(path + ".interruptions.max", "must not be negative") }
                return .interruptions(
                    role: try role(interruptions.role, path + ".interruptions"), max: interruptions.max)
            }
            if let detected {
                guard ["category", "outcome", "issue", "action_item"].contains(detected.kind) else {
                    throw fail(path + ".detected.kind", "must be category, outcome, issue or action_item")
                }
                return .detected(kind: detected.kind, names: try phrases(detected.any, path + ".detected.any"))
            }
            if let phrase {
                return .phrase(
                    role: try role(phrase.role, path + ".phrase"),
                    phrases: try phrases(phrase.any, path + ".phrase.any"),
                    firstSeconds: phrase.withinFirstSeconds, lastSeconds: phrase.withinLastSeconds)
            }
            if let absentPhrase {
                return .absentPhrase(
                    role: try absentPhrase.role.map { value throws(DefinitionError) in
                        try role(value, path + ".absent_phrase")
                    }, phrases: try phrases(absentPhrase.any, path + ".absent_phrase.any"))
            }
            if let talkShare {
                let member = path + ".talk_share"
                guard let minimum = talkShare.min, let maximum = talkShare.max, 0 <= minimum, minimum <= maximum,
                    maximum <= 1
                else { throw fail(member, "needs min and max with 0 <= min <= max <= 1") }
                return .talkShare(role: try role(talkShare.role, member), min: minimum, max: maximum)
            }
            if let longestSilence {
                guard longestSilence.maxSeconds > 0 else {
                    throw fail(path + ".longest_silence.max_seconds", "must be positive")
                }
                return .longestSilence(
                    maxSeconds: longestSilence.maxSeconds, ignoreBelow: longestSilence.ignoreBelowSeconds ?? 2)
            }
            if let duration {
                guard let minimum = duration.minSeconds, let maximum = duration.maxSeconds, 0 <= minimum,
                    minimum <= maximum
                else { throw fail(path + ".duration", "needs min_seconds <= max_seconds") }
                return .duration(minSeconds: minimum, maxSeconds: maximum)
            }
            if let holds {
                guard holds.maxCount != nil || holds.maxSeconds != nil else {
                    throw fail(path + ".holds", "give max_count, max_seconds or both")
                }
                guard (holds.maxCount ?? 0) >= 0, (holds.maxSeconds ?? 0) >= 0 else {
                    throw fail(path + ".holds", "max_count and max_seconds must not be negative")
                }
                return .holds(maxCount: holds.maxCount, maxSeconds: holds.maxSeconds)
            }
            return .sentimentNotWorse(role: try role(sentimentNotWorse?.role, path + ".sentiment_not_worse"))
        }
    }

    struct RawHolds: Decodable {
        var maxCount: Int?
        var maxSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case maxCount = "max_count"
            case maxSeconds = "max_seconds"
        }
    }

    struct RawPhrase: Decodable {
        var role: String?
        var any: [String]
        var withinFirstSeconds: Double?
        var withinLastSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case role, any
            case withinFirstSeconds = "within_first_seconds"
            case withinLastSeconds = "within_last_seconds"
        }
    }

    struct RawRange: Decodable {
        var role: String?
        var min: Double?
        var max: Double?
        var minSeconds: Double?
        var maxSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case role, min, max
            case minSeconds = "min_seconds"
            case maxSeconds = "max_seconds"
        }
    }

    struct RawSilence: Decodable {
        var maxSeconds: Double
        var ignoreBelowSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case maxSeconds = "max_seconds"
            case ignoreBelowSeconds = "ignore_below_seconds"
        }
    }

    struct RawRole: Decodable {
        var role: String
    }

    struct RawOrder: Decodable {
        var role: String
        var first: [String]
        var then: [String]
    }

    struct RawInterruptions: Decodable {
        var role: String
        var max: Int
    }

    struct RawDetected: Decodable {
        var kind: String
        var any: [String]
    }
}
