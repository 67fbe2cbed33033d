// The retention plan as JSON without Foundation's `JSONEncoder`: the same bytes that encoder writes for
// `[RetentionItem]` with sorted keys, snake-case key names and unescaped slashes (one line, no spaces), at a
// fraction of its cost. On a large plan the encoder was the larger half of `retention plan --json` and ran on one
// core after the plan itself had used both.
import LedgerCore

extension RetentionItem {
    /// `items` as a JSON array, byte for byte what `JSONEncoder` with `.sortedKeys`, `.withoutEscapingSlashes`
    /// and `.convertToSnakeCase` writes for them.
    public static func jsonArray(_ items: [RetentionItem]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(items.count * 400 + 2)
        out.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            item.appendJSON(to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// Appends this item as a JSON object, its keys in sorted order and absent optionals left out.
    func appendJSON(to out: inout [UInt8]) {
        out.appendASCII("{\"call\":")
        out.appendJSONString(call)
        out.appendASCII(",\"data_class\":")
        out.appendJSONString(dataClass)
        if let dueAt {
            out.appendASCII(",\"due_at\":")
            out.appendJSONString(dueAt)
        }
        if let dueMicros {
            out.appendASCII(",\"due_micros\":")
            out.appendJSONInteger(dueMicros)
        }
        out.appendASCII(",\"holds\":[")
        for (index, hold) in holds.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.appendJSONString(hold)
        }
        out.appendASCII("],\"policy\":")
        out.appendJSONString(policy)
        out.appendASCII(",\"policy_digest\":")
        out.appendJSONString(policyDigest)
        out.appendASCII(",\"policy_version\":")
        out.appendJSONString(policyVersion)
        out.appendASCII(",\"retain\":")
        out.appendJSONString(retain)
        out.appendASCII(",\"rule\":")
        out.appendJSONString(rule)
        out.appendASCII(",\"status\":")
        out.appendJSONString(status.rawValue)
        out.appendASCII(",\"tenant\":")
        out.appendJSONString(tenant)
        out.appendASCII(",\"trigger\":")
        out.appendJSONString(trigger)
        if let triggerAt {
            out.appendASCII(",\"trigger_at\":")
            out.appendJSONString(triggerAt)
        }
        out.append(UInt8(ascii: "}"))
    }
}
