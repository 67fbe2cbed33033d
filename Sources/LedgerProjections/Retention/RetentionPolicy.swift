// Retention policies: the versioned YAML files under Projections/retention/ that say, for the calls their rules
// select, how long each data class is kept and from which trigger the period counts. Parsing checks every
// member and names the file, the member's path and the reason for anything it refuses.
public import LedgerCore

/// A parsed, validated retention policy.
public struct RetentionPolicy: Sendable, Equatable {
    /// The policy's stable name.
    public var name: String
    /// The policy's own version, bumped by whoever edits it.
    public var version: String
    /// What the policy is for.
    public var description: String
    /// The rules, tried in order: the first whose selection holds governs the call.
    public var rules: [Rule]
    /// SHA-256 of the file's bytes, recorded with every decision taken under it.
    public var digest: SHA256Digest

    /// Which calls a rule governs: every condition given must hold; a list holds when any of its values does.
    public struct Selection: Sendable, Equatable {
        /// Tenants, or nil for any.
        public var tenants: [String]?
        /// Queue names, or nil for any.
        public var queues: [String]?
        /// Contact channels (`VOICE`...), or nil for any.
        public var channels: [String]?
        /// Other `call.started` members (`initiation_method`, `language`, `agent`, `instance`...), by name.
        public var attributes: [String: [String]]
    }

    /// How long a data class is kept.
    public enum Period: Sendable, Equatable, CustomStringConvertible {
        /// Erased as soon as the trigger happens.
        case zero
        /// Erased this long after the trigger (ISO 8601 duration: calendar years, months, weeks, days, then
        /// hours, minutes, seconds).
        case duration(years: Int, months: Int, days: Int, seconds: Int)
        /// Never erased.
        case forever

        /// When a period that starts at `start` (UTC µs) ends, or nil for `forever`. Years and months are
        /// calendar units in UTC; a day that does not exist in the target month becomes its last day.
        public func end(after start: Int64) -> Int64? {
            switch self {
            case .zero: return start
            case .forever: return nil
            case .duration(let years, let months, let days, let seconds):
                let microsPerDay: Int64 = 86_400_000_000
                let day = start >= 0 ? start / microsPerDay : (start - microsPerDay + 1) / microsPerDay
                let timeOfDay = start - day * microsPerDay
                let (year, month, dayOfMonth) = Timestamp.civilFromDays(Int(day))
                let monthIndex = year * 12 + (month - 1) + years * 12 + months
                let newYear = monthIndex >= 0 ? monthIndex / 12 : (monthIndex - 11) / 12
                let newMonth = monthIndex - newYear * 12 + 1
                let clamped = min(dayOfMonth, Timestamp.daysIn(month: newMonth, year: newYear))
                let newDay = Int64(Timestamp.daysFromCivil(year: newYear, month: newMonth, day: clamped) + days)
                return newDay * microsPerDay + timeOfDay + Int64(seconds) * 1_000_000
            }
        }

        /// The period as written in a policy file.
        public var description: String {
            switch self {
            case .zero: return "zero"
            case .forever: return "forever"
            case .duration(let years, let months, let days, let seconds):
                var text = "P"
                if years > 0 { text += "\(years)Y" }
                if months > 0 { text += "\(months)M" }
                if days > 0 { text += "\(days)D" }
                if seconds > 0 { text += "T\(seconds)S" }
                return text == "P" ? "PT0S" : text
            }
        }
    }

    /// What a retention period counts from.
    public enum Trigger: String, Sendable, Equatable, CaseIterable {
        /// The call's end (`call.ended`).
        case callEnd = "call_end"
        /// The call's last confirmed CRM write (`crm.write`).
        case crmWriteConfirmed = "crm_write_confirmed"
        /// The call's payment authorization (`payment.authorized`).
        case authorization
    }

    /// How long one data class is kept, from when.
    public struct ClassRetention: Sendable, Equatable {
        /// The period.
        public var period: Period
        /// Its trigger (irrelevant for `forever`).
        public var trigger: Trigger

        /// A retention of `period` counted from `trigger`.
        public init(period: Period, trigger: Trigger) {
            self.period = period
            self.trigger = trigger
        }
    }

    /// One rule: a selection and the retention of each data class it names.
    public struct Rule: Sendable, Equatable {
        /// The rule's name.
        public var name: String
        /// The calls it governs.
        public var selection: Selection
        /// Retention by data class: `audio`, `content`, `crm.values`, `meta`, `pii.<kind>`, or `pii.*` for every
        /// PII kind not named on its own.
        public var classes: [String: ClassRetention]

        /// The retention of `dataClass` under this rule, or nil when the rule does not name it (kept).
        public func retention(of dataClass: String) -> ClassRetention? {
            if let exact = classes[dataClass] { return exact }
            return dataClass.hasPrefix("pii.") ? classes["pii.*"] : nil
        }
    }

    /// The first rule that selects a call with these facts, or nil when none does.
    public func rule(tenant: String, queue: String?, channel: String?, attributes: [String: String]) -> Rule? {
        rules.first { rule in
            let selection = rule.selection
            func holds(_ allowed: [String]?, _ value: String?) -> Bool {
                guard let allowed else { return true }
                return value.map(allowed.contains) ?? false
            }
            return holds(selection.tenants, tenant) && holds(selection.queues, queue)
                && holds(selection.channels, channel)
                && selection.attributes.allSatisfy { name, allowed in holds(allowed, attributes[name]) }
        }
    }

    /// Parses and validates the policy in `bytes`, read from `file` (named in errors).
    public static func parse(_ bytes: [UInt8], file: String) throws(DefinitionError) -> RetentionPolicy {
        let raw = try DefinitionFile.decode(RawPolicy.self, from: bytes, file: file, kind: "policy")
        func fail(_ path: String, _ reason: String) -> DefinitionError {
            DefinitionError(file: file, path: path, reason: reason)
        }
        guard !raw.version.isEmpty, raw.version.utf8.count <= 64 else { throw fail("version", "must be 1 to 64 bytes") }
        guard !raw.rules.isEmpty else { throw fail("rules", "a policy needs at least one rule") }
        var rules: [Rule] = []
        for (index, rawRule) in raw.rules.enumerated() {
            let path = "rules[\(index)]"
            guard !rawRule.name.isEmpty else { throw fail("\(path).name", "must not be empty") }
            guard !rawRule.classes.isEmpty else {
                throw fail("\(path).classes", "a rule needs at least one data class")
            }
            var classes: [String: ClassRetention] = [:]
            for (dataClass, rawRetention) in rawRule.classes {
                let classPath = "\(path).classes.\(dataClass)"
                guard Self.isDataClass(dataClass) else {
                    throw fail(
                        classPath, "unknown data class; use audio, content, crm.values, meta, pii.<kind> or pii.*")
                }
                let period: Period
                do { period = try Self.period(rawRetention.retain) } catch {
                    throw fail("\(classPath).retain", error.description)
                }
                if dataClass == "meta", period != .forever {
                    throw fail(
                        "\(classPath).retain",
                        "meta is not sealed: it is part of every entry and stays as long as the log; only 'forever'")
                }
                let trigger: Trigger
                if let from = rawRetention.from {
                    guard let known = Trigger(rawValue: from) else {
                        let names = Trigger.allCases.map(\.rawValue).joined(separator: ", ")
                        throw fail("\(classPath).from", "unknown trigger '\(from)'; use \(names)")
                    }
                    trigger = known
                } else if period == .forever {
                    trigger = .callEnd
                } else {
                    throw fail("\(classPath).from", "required unless retain is 'forever'")
                }
                classes[dataClass] = ClassRetention(period: period, trigger: trigger)
            }
            let match = rawRule.match
            rules.append(
                Rule(
                    name: rawRule.name,
                    selection: Selection(
                        tenants: match?.tenant, queues: match?.queue, channels: match?.channel,
                        attributes: match?.attributes ?? [:]),
                    classes: classes))
        }
        return RetentionPolicy(
            name: raw.name, version: raw.version, description: raw.description ?? "", rules: rules,
            digest: SHA256.hash(bytes))
    }

    /// Parses `zero`, `forever` or an ISO 8601 duration; returns the reason when it is none of them.
    static func period(_ text: String) throws(PeriodError) -> Period {
        if text == "zero" { return .zero }
        if text == "forever" { return .forever }
        var years = 0
        var months = 0
        var days = 0
        var seconds = 0
        var number = ""
        var inTime = false
        var sawUnit = false
        var characters = text.makeIterator()
        guard characters.next() == "P" else { throw PeriodError(text) }
        while let character = characters.next() {
            if character.isASCII, character.isNumber {
                number.append(character)
                continue
            }
            if character == "T", number.isEmpty, !inTime {
                inTime = true
                continue
            }
            guard let value = Int(number), value <= 100_000 else { throw PeriodError(text) }
            number = ""
            sawUnit = true
            switch (character, inTime) {
            case ("Y", false): years += value
            case ("M", false): months += value
            case ("W", false): days += 7 * value
            case ("D", false): days += value
            case ("H", true): seconds += 3600 * value
            case ("M", true): seconds += 60 * value
            case ("S", true): seconds += value
            default: throw PeriodError(text)
            }
        }
        guard number.isEmpty, sawUnit else { throw PeriodError(text) }
        return years + months + days + seconds == 0
            ? .zero : .duration(years: years, months: months, days: days, seconds: seconds)
    }

    /// Why a period was refused.
    struct PeriodError: Error, CustomStringConvertible {
        let text: String

        init(_ text: String) {
            self.text = text
        }

        var description: String {
            "'\(text)' is not a period: use zero, forever, or an ISO 8601 duration such as P7Y, P90D or PT24H"
        }
    }

    private static func isDataClass(_ name: String) -> Bool {
        if ["audio", "content", "crm.values", "meta", "pii.*"].contains(name) { return true }
        guard name.hasPrefix("pii.") else { return false }
        let kind = name.dropFirst(4)
        return !kind.isEmpty && kind.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }
    }
}

/// The file as written, before validation.
private struct RawPolicy: DefinitionHeader {
    var format: Int
    var name: String
    var version: String
    var description: String?
    var rules: [RawRule]

    struct RawRule: Decodable {
        var name: String
        var match: RawMatch?
        var classes: [String: RawRetention]
    }

    struct RawMatch: Decodable {
        var tenant: [String]?
        var queue: [String]?
        var channel: [String]?
        var attributes: [String: [String]]?
    }

    struct RawRetention: Decodable {
        var retain: String
        var from: String?
    }
}
