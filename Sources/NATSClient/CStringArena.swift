// CStringArena: C copies of Swift strings that live as long as the arena, for C structs that hold `char *`.
import CNats
import Glibc

/// Owns `strdup` copies of strings handed to the C client and frees them when released. Never shared.
final class CStringArena {
    private var owned: [UnsafeMutablePointer<CChar>] = []
    private var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []

    init() {}

    deinit {
        for pointer in owned { free(pointer) }
        for array in arrays { array.deallocate() }
    }

    /// A C copy of `text`, valid while the arena lives.
    func string(_ text: String, for operation: String) throws(NATSError) -> UnsafePointer<CChar> {
        guard !text.utf8.contains(0) else {
            throw NATSError(operation: operation, message: "the text \"\(text)\" holds a NUL byte")
        }
        guard let copy = strdup(text) else { throw NATSError(operation: operation, message: "out of memory") }
        owned.append(copy)
        return UnsafePointer(copy)
    }

    /// A C array of C copies of `texts`, valid while the arena lives.
    func strings(
        _ texts: [String], for operation: String
    ) throws(NATSError) -> UnsafeMutablePointer<
        UnsafePointer<CChar>?
    > {
        let array = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: max(texts.count, 1))
        arrays.append(array)
        for (index, text) in texts.enumerated() { array[index] = try string(text, for: operation) }
        return array
    }
}

/// `count` as a C `int`, or an error naming `operation` when it does not fit.
func cInt(_ count: Int, for operation: String) throws(NATSError) -> Int32 {
    guard let value = Int32(exactly: count) else {
        throw NATSError(operation: operation, message: "\(count) does not fit a C int")
    }
    return value
}
