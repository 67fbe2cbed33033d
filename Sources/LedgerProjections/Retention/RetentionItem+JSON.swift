// The retention plan as JSON without Foundation's `JSONEncoder`: the same bytes that encoder writes for
// `[RetentionItem]` with sorted keys, snake-case key names and unescaped slashes (one line, no spaces), at a
// fraction of its cost. On a large plan the encoder was the larger half of `retention plan --json` and ran on one
// core after the plan itself had used both.
import LedgerCore
public import LedgerStore

extension RetentionItem {
    /// `items` as a JSON array, byte for byte what `JSONEncoder` with `.sortedKeys`, `.withoutEscapingSlashes`
    /// and `.convertToSnakeCase` writes for them, followed by `terminator`, in pieces whose concatenation it is.
    /// Consecutive slices of the items are encoded on up to `workers` threads (by default `CALL_LEDGER_WORKERS`):
    /// the bytes do not depend on the number of workers. The caller writes the pieces out in turn: joining a large
    /// plan into one buffer cost a copy of every byte and the page faults of a buffer as large as the output, on
    /// one thread.
    public static func jsonArrayPieces(
        _ items: [RetentionItem], terminator: [UInt8] = [], workers: Int = WorkerThreads.count
    ) -> [[UInt8]] {
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
        var pieces: [[UInt8]] = [[UInt8(ascii: "[")]]
        for (index, part) in parts.enumerated() {
            if index > 0 { pieces.append([UInt8(ascii: ",")]) }
            pieces.append(part)
        }
        pieces.append([UInt8(ascii: "]")] + terminator)
        return pieces
    }

    /// Appends this item as a JSON object, its keys in sorted order and absent optionals left out.
    func appendJSON(to out: inout [UInt8]) {
        out.appendASCII("{\"call\":")
        out.appendJSONString(call)
        out.appendASCII(",\"data_class\":")
        out.appendJSONString(dataClass)
        if let dueMicros {
            out.appendASCII(",\"due_at\":")
            Self.appendInstant(dueMicros, to: &out)
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
        if let triggerMicros {
            out.appendASCII(",\"trigger_at\":")
            Self.appendInstant(triggerMicros, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Appends an instant as a JSON string, as `triggerAt` and `dueAt` give it (RFC 3339 text needs no escaping).
    private static func appendInstant(_ micros: Int64, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        Timestamp(micros: micros).append(to: &out)
        out.append(UInt8(ascii: "\""))
    }
}
