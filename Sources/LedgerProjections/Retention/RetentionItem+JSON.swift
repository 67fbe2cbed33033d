// The retention plan as JSON without Foundation's `JSONEncoder`: the same bytes that encoder writes for
// `[RetentionItem]` with sorted keys, snake-case key names and unescaped slashes (one line, no spaces), at a
// fraction of its cost. On a large plan the encoder was the larger half of `retention plan --json` and ran on one
// core after the plan itself had used both.
import LedgerCore

extension RetentionItem {
    /// `items` as a JSON array, byte for byte what `JSONEncoder` with `.sortedKeys`, `.withoutEscapingSlashes`
    /// and `.convertToSnakeCase` writes for them, followed by `terminator`. Consecutive slices of the items are
    /// encoded on up to `workers` threads (by default `CALL_LEDGER_WORKERS`) and joined: the bytes do not depend on
    /// the number of workers.
    public static func jsonArray(
        _ items: [RetentionItem], terminator: [UInt8] = [], workers: Int = ProjectionWorkers.defaultCount
    ) -> [UInt8] {
        // Slices of at least a few hundred items, so that a small plan is encoded on the calling thread alone.
        let parts = mapSlices(items, slices: min(workers, items.count / 256)) { slice in
            var part: [UInt8] = []
            part.reserveCapacity(slice.count * 450)
            for item in slice {
                if !part.isEmpty { part.append(UInt8(ascii: ",")) }
                item.appendJSON(to: &part)
            }
            return part
        }
        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(2 + terminator.count + parts.count) { $0 + $1.count })
        out.append(UInt8(ascii: "["))
        for (index, part) in parts.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: part)
        }
        out.append(UInt8(ascii: "]"))
        out.append(contentsOf: terminator)
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
