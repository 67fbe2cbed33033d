// Errors from the OpenSSL-backed primitives.
import CCrypto

/// A failure in a cryptographic operation.
public enum CryptoError: Error, CustomStringConvertible, Equatable {
    /// OpenSSL refused an operation; `operation` names it and `detail` is OpenSSL's reason.
    case openSSL(operation: String, detail: String)
    /// Sealed bytes did not authenticate: wrong key, wrong associated data, or altered ciphertext.
    case authenticationFailed
    /// A key or nonce had the wrong length.
    case invalidLength(what: String, expected: Int, actual: Int)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .openSSL(let operation, let detail):
            "OpenSSL failed in \(operation): \(detail)"
        case .authenticationFailed:
            "sealed data did not authenticate (wrong key, wrong associated data, or altered ciphertext)"
        case .invalidLength(let what, let expected, let actual):
            "\(what) must be \(expected) bytes, got \(actual)"
        }
    }

    /// An `.openSSL` error carrying the reason OpenSSL queued for the current thread.
    static func fromQueue(_ operation: String) -> CryptoError {
        let code = ERR_get_error()
        var detail = "unknown reason"
        if code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            detail = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        ERR_clear_error()
        return .openSSL(operation: operation, detail: detail)
    }
}

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let status = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard status == 1 else { throw .fromQueue("RAND_bytes") }
        return out
    }

    /// Fills `buffer` with random bytes.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(CryptoError) {
        guard RAND_bytes(buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)) == 1 else {
            throw .fromQueue("RAND_bytes")
        }
    }
}
