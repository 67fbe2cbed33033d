// The order in which the ledger has always written the keys of a free-form JSON object in its own events (a CRM
// write's fields): Foundation's `JSONSerialization` `.sortedKeys` order, kept so records stay byte-identical.
import Foundation

/// Sorting object keys as the ledger's own events always had them.
enum JSONKeyOrder {
    /// Whether `a` sorts before `b`: the comparison `JSONSerialization` makes for `.sortedKeys` (numeric,
    /// case-insensitive, forced ordering, in the system locale).
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.compare(
            b, options: [.numeric, .caseInsensitive, .forcedOrdering], range: a.startIndex..<a.endIndex,
            locale: systemLocale) == .orderedAscending
    }

    private static let systemLocale = Locale(identifier: "")
}
