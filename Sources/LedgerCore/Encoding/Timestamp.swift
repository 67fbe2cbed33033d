// RFC 3339 timestamps <-> microseconds since the Unix epoch (UTC), without Foundation.

/// An RFC 3339 date-time at microsecond precision that remembers how it was written (fraction digits and
/// UTC offset), so that it renders back exactly as received.
public struct Timestamp: Sendable, Equatable {
    /// How the time zone was written.
    public enum Zone: Sendable, Equatable {
        /// `Z`.
        case utc
        /// `+HH:MM` or `-HH:MM`; `minutes` is signed (`-00:00` is `negativeZero`).
        case offset(minutes: Int)
        /// `-00:00`, RFC 3339's "local offset unknown".
        case negativeZero
    }

    /// Microseconds since 1970-01-01T00:00:00Z.
    public var micros: Int64
    /// Fraction digits written (0-6).
    public var fractionDigits: Int
    /// The zone as written.
    public var zone: Zone

    /// A UTC timestamp written with `fractionDigits` digits.
    public init(micros: Int64, fractionDigits: Int = 6, zone: Zone = .utc) {
        self.micros = micros
        self.fractionDigits = fractionDigits
        self.zone = zone
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)` (uppercase `T` and `Z`).
    public static func parse(_ text: some Collection<UInt8>) -> Result<Timestamp, TimestampError> {
        if let result = text.withContiguousStorageIfAvailable({ parse(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(text).withUnsafeBytes { parse($0) }
    }

    /// Parses the bytes of `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`.
    public static func parse(_ b: UnsafeRawBufferPointer) -> Result<Timestamp, TimestampError> {
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var value = 0
            for i in start..<start + count {
                let d = b[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                value = value * 10 + Int(d)
            }
            return value
        }
        guard b.count >= 20, let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2),
            b[7] == UInt8(ascii: "-"), let day = digits(8, 2), b[10] == UInt8(ascii: "T"),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
            b[16] == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return .failure(.notRFC3339) }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60,
            second < 60
        else { return .failure(.outOfRange) }
        var index = 19
        var micros = 0
        var fractionDigits = 0
        if b[index] == UInt8(ascii: ".") {
            index += 1
            while index < b.count, b[index] &- UInt8(ascii: "0") < 10 {
                guard fractionDigits < RecordLimits.maximumTimestampFractionDigits else {
                    return .failure(.tooPrecise)
                }
                micros = micros * 10 + Int(b[index] - UInt8(ascii: "0"))
                fractionDigits += 1
                index += 1
            }
            guard fractionDigits > 0 else { return .failure(.notRFC3339) }
            for _ in fractionDigits..<6 { micros *= 10 }
        }
        guard index < b.count else { return .failure(.notRFC3339) }
        var zone = Zone.utc
        if b[index] == UInt8(ascii: "Z") {
            index += 1
        } else if b[index] == UInt8(ascii: "+") || b[index] == UInt8(ascii: "-") {
            guard let offsetHour = digits(index + 1, 2), b.count > index + 3, b[index + 3] == UInt8(ascii: ":"),
                let offsetMinute = digits(index + 4, 2), offsetHour < 24, offsetMinute < 60
            else { return .failure(.notRFC3339) }
            let minutes = (offsetHour * 60 + offsetMinute) * (b[index] == UInt8(ascii: "+") ? 1 : -1)
            zone = minutes == 0 && b[index] == UInt8(ascii: "-") ? .negativeZero : .offset(minutes: minutes)
            index += 6
        } else {
            return .failure(.notRFC3339)
        }
        guard index == b.count else { return .failure(.notRFC3339) }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - zone.offsetMinutes * 60
        let instant = Int64(seconds) * 1_000_000 + Int64(micros)
        guard RecordLimits.timestampMicros.contains(instant) else { return .failure(.instantOutOfRange) }
        return .success(Timestamp(micros: instant, fractionDigits: fractionDigits, zone: zone))
    }

    /// Parses a string, returning nil when it is not an RFC 3339 date-time.
    public static func parse(_ text: String) -> Timestamp? {
        try? parse(Array(text.utf8)).get()
    }

    /// The RFC 3339 form of a UTC instant with six fraction digits, as the ledger writes acceptance times.
    public static func format(micros: Int64) -> String {
        Timestamp(micros: micros).formatted
    }

    /// The RFC 3339 text, exactly as it was written.
    public var formatted: String {
        var out: [UInt8] = []
        append(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the RFC 3339 text to `out`. Total for every `micros`: a year outside 0000-9999 (which only a
    /// timestamp built in code, or a record accepted before the writer checked the UTC instant, can have) is
    /// written with a sign or more digits (`-0001`, `10000`) rather than trapping.
    public func append(to out: inout [UInt8]) {
        // Split before applying the offset, so that no value of `micros` overflows.
        let (wholeSeconds, fraction) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        var secs = wholeSeconds
        var frac = fraction
        if frac < 0 {
            secs -= 1
            frac += 1_000_000
        }
        secs += Int64(zone.offsetMinutes) * 60
        let (days, secondOfDay) = secs.quotientAndRemainder(dividingBy: 86_400)
        var d = days
        var sod = secondOfDay
        if sod < 0 {
            d -= 1
            sod += 86_400
        }
        let (year, month, day) = Self.civilFromDays(Int(d))
        func put(_ value: Int, _ width: Int) { out.appendDecimal(value, minimumDigits: width) }
        put(year, 4)
        out.append(UInt8(ascii: "-"))
        put(month, 2)
        out.append(UInt8(ascii: "-"))
        put(day, 2)
        out.append(UInt8(ascii: "T"))
        put(Int(sod / 3600), 2)
        out.append(UInt8(ascii: ":"))
        put(Int(sod / 60 % 60), 2)
        out.append(UInt8(ascii: ":"))
        put(Int(sod % 60), 2)
        if fractionDigits > 0 {
            out.append(UInt8(ascii: "."))
            var scaled = Int(frac)
            for _ in fractionDigits..<6 { scaled /= 10 }
            put(scaled, fractionDigits)
        }
        switch zone {
        case .utc: out.append(UInt8(ascii: "Z"))
        case .negativeZero: out.append(contentsOf: "-00:00".utf8)
        case .offset(let minutes):
            out.append(minutes < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            put(Int(minutes.magnitude / 60), 2)
            out.append(UInt8(ascii: ":"))
            put(Int(minutes.magnitude % 60), 2)
        }
    }

    /// Appends the binary form (FORMAT.md §4): zigzag varint micros, a layout byte (bits 0-2 fraction digits,
    /// bits 3-4 zone: 0 `Z`, 1 offset, 2 `-00:00`), and for an offset its zigzag varint minutes.
    public func encode(to out: inout [UInt8]) {
        out.appendZigzag(micros)
        switch zone {
        case .utc: out.append(UInt8(fractionDigits))
        case .negativeZero: out.append(UInt8(fractionDigits) | 2 << 3)
        case .offset(let minutes):
            out.append(UInt8(fractionDigits) | 1 << 3)
            out.appendZigzag(Int64(minutes))
        }
    }

    /// Reads the binary form; a time whose local date-time falls outside years 0000-9999 (which no RFC 3339 text
    /// can write) is refused as corrupt.
    public static func decode(_ reader: inout ByteReader) throws(DecodingError) -> Timestamp {
        let microsOffset = reader.offset
        let micros = try reader.readZigzag()
        guard RecordLimits.readableTimestampMicros.contains(micros) else {
            throw .invalidByte(offset: microsOffset, what: "timestamp \(micros) µs (outside years 0000-9999)")
        }
        let layoutOffset = reader.offset
        let layout = try reader.readByte()
        let digits = Int(layout & 7)
        guard digits <= RecordLimits.maximumTimestampFractionDigits, layout >> 5 == 0 else {
            throw .invalidByte(offset: layoutOffset, what: "timestamp layout")
        }
        switch layout >> 3 {
        case 0: return Timestamp(micros: micros, fractionDigits: digits, zone: .utc)
        case 1:
            let minutes = try reader.readZigzag()
            guard minutes.magnitude <= UInt64(RecordLimits.maximumTimestampOffsetMinutes) else {
                throw .invalidByte(offset: layoutOffset, what: "timestamp offset")
            }
            return Timestamp(micros: micros, fractionDigits: digits, zone: .offset(minutes: Int(minutes)))
        case 2: return Timestamp(micros: micros, fractionDigits: digits, zone: .negativeZero)
        default: throw .invalidByte(offset: layoutOffset, what: "timestamp zone")
        }
    }

    private static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    /// The number of days in `month` of `year` (proleptic Gregorian).
    package static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    package static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    package static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Why a string is not an acceptable timestamp.
public enum TimestampError: Error, CustomStringConvertible {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`.
    case notRFC3339
    /// A component is out of range (month 13, February 30...).
    case outOfRange
    /// More than six fractional digits.
    case tooPrecise
    /// The instant, in UTC, is before 0000-01-01T00:00:00Z or after 9999-12-31T23:59:59.999999Z.
    case instantOutOfRange

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .notRFC3339: "must be an RFC 3339 date-time such as 2026-11-26T09:30:00.250Z (uppercase T and Z)"
        case .outOfRange: "date or time component out of range (leap seconds are not accepted)"
        case .tooPrecise: "at most 6 fractional digits (microseconds) are kept"
        case .instantOutOfRange:
            "the instant in UTC must be within 0000-01-01T00:00:00Z...9999-12-31T23:59:59.999999Z (mind the offset)"
        }
    }
}

extension Timestamp.Zone {
    /// The offset from UTC in minutes.
    var offsetMinutes: Int {
        if case .offset(let minutes) = self { return minutes }
        return 0
    }
}
