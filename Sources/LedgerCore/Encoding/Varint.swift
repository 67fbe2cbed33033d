// LEB128 varints and zigzag integers: the integer encoding of records, values and frames (FORMAT.md §3).

/// Appends encodings to a byte array.
extension Array where Element == UInt8 {
    /// Appends `value` as an unsigned LEB128 varint (7 bits per byte, least significant first).
    @inline(__always)
    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    /// Appends `value` zigzag-encoded (`(v << 1) ^ (v >> 63)`) as a varint.
    @inline(__always)
    public mutating func appendZigzag(_ value: Int64) {
        appendVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Appends a length-prefixed UTF-8 string: varint byte count, then the bytes.
    @inline(__always)
    public mutating func appendString(_ value: String) {
        var copy = value
        copy.withUTF8 { appendLengthPrefixed($0) }
    }

    /// Appends a varint byte count, then the bytes.
    @inline(__always)
    public mutating func appendLengthPrefixed(_ bytes: UnsafeBufferPointer<UInt8>) {
        appendVarint(UInt64(bytes.count))
        append(contentsOf: bytes)
    }

    /// Appends `value` as 8 little-endian bytes.
    @inline(__always)
    public mutating func appendUInt64LE(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

/// Why a byte sequence could not be decoded.
public enum DecodingError: Error, CustomStringConvertible, Equatable {
    /// The bytes ended inside a value.
    case truncated(offset: Int)
    /// A varint ran past 10 bytes or 64 bits.
    case varintOverflow(offset: Int)
    /// A byte that cannot start a value, or is out of range, was found.
    case invalidByte(offset: Int, what: String)
    /// A string was not valid UTF-8.
    case invalidUTF8(offset: Int)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .truncated(let offset): "truncated at byte \(offset)"
        case .varintOverflow(let offset): "varint overflows 64 bits at byte \(offset)"
        case .invalidByte(let offset, let what): "invalid \(what) at byte \(offset)"
        case .invalidUTF8(let offset): "string at byte \(offset) is not valid UTF-8"
        }
    }
}

/// A cursor over bytes that decodes the encodings `Array.append…` writes. It does not own the bytes.
public struct ByteReader {
    /// The bytes being read.
    public let bytes: UnsafeRawBufferPointer
    /// The next byte to read.
    public var offset: Int

    /// A reader starting at `offset`.
    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset >= bytes.count }

    /// Reads one byte.
    @inline(__always)
    public mutating func readByte() throws(DecodingError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads an unsigned LEB128 varint.
    @inline(__always)
    public mutating func readVarint() throws(DecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = offset
        while true {
            guard offset < bytes.count else { throw .truncated(offset: offset) }
            let byte = bytes[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw .varintOverflow(offset: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { throw .varintOverflow(offset: start) }
        }
    }

    /// Reads a zigzag-encoded signed integer.
    @inline(__always)
    public mutating func readZigzag() throws(DecodingError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// Reads a varint length and returns the range of that many following bytes.
    @inline(__always)
    public mutating func readLengthPrefixedRange() throws(DecodingError) -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(bytes.count - offset) else { throw .truncated(offset: offset) }
        let start = offset
        offset += Int(length)
        return start..<offset
    }

    /// Returns the range of the next `count` bytes.
    @inline(__always)
    public mutating func readRange(count: Int) throws(DecodingError) -> Range<Int> {
        guard count <= bytes.count - offset else { throw .truncated(offset: offset) }
        let start = offset
        offset += count
        return start..<offset
    }

    /// Reads a length-prefixed UTF-8 string, validating it.
    public mutating func readString() throws(DecodingError) -> String {
        let start = offset
        let range = try readLengthPrefixedRange()
        let slice = UnsafeRawBufferPointer(rebasing: bytes[range])
        guard let string = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw .invalidUTF8(offset: start)
        }
        return string
    }

    /// Reads 8 little-endian bytes.
    public mutating func readUInt64LE() throws(DecodingError) -> UInt64 {
        let range = try readRange(count: 8)
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt64.self))
    }
}
