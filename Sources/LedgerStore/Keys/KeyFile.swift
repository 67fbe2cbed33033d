// The key file: the master key that wraps data keys and the checkpoint signer key (FORMAT.md §8).
// It lives outside the ledger directory and is never written to the log or the index.
public import LedgerCore

/// The secrets of one ledger.
public struct KeyFile: Sendable {
    /// Wraps every data key in `keys.sqlite`.
    public let masterKey: SymmetricKey
    /// Signs checkpoints.
    public let signer: NoteSignerKey

    static let header = "call-ledger key file v1"

    /// Fresh secrets for a ledger whose checkpoints carry `origin`.
    static func generate(origin: String) throws(LedgerError) -> KeyFile {
        do {
            return KeyFile(masterKey: try SymmetricKey.random(), signer: try NoteSignerKey.generate(name: origin))
        } catch let error as CryptoError {
            throw .crypto(error)
        } catch {
            throw .invalidRequest("cannot create a signer named \"\(origin)\": \(error)")
        }
    }

    /// The file's text.
    var serialized: String {
        """
        \(Self.header)
        master-key \(Base64.encode(masterKey.bytes))
        signer \(signer.description)

        """
    }

    /// Writes a new key file with mode 0600; refuses to overwrite one.
    func create(at path: String) throws(LedgerError) {
        guard !FileSystem.exists(path) else {
            throw .keyFile(
                path: path,
                reason: "already exists; refusing to overwrite a key file (pass --key-file to choose another path)")
        }
        try FileSystem.createDirectory(FileSystem.parentDirectory(path))
        try FileSystem.writeAtomically(Array(serialized.utf8), to: path, mode: 0o600)
    }

    /// Reads a key file; it must not be readable by group or others.
    static func load(from path: String) throws(LedgerError) -> KeyFile {
        guard FileSystem.exists(path) else {
            throw .keyFile(path: path, reason: "not found (pass --key-file or set CALL_LEDGER_KEY_FILE)")
        }
        let mode = try FileSystem.permissions(path)
        guard mode & 0o077 == 0 else {
            throw .keyFile(
                path: path, reason: "permissions \(String(mode, radix: 8)) let others read it; run chmod 600 \(path)")
        }
        let text = String(decoding: try FileSystem.read(path), as: UTF8.self)
        var lines = text.split(separator: "\n").map(String.init)
        guard lines.first == header else { throw .keyFile(path: path, reason: "first line is not \"\(header)\"") }
        lines.removeFirst()
        var master: SymmetricKey?
        var signer: NoteSignerKey?
        for line in lines {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw .keyFile(path: path, reason: "malformed line") }
            switch parts[0] {
            case "master-key":
                guard let bytes = Base64.decode(parts[1]), let key = try? SymmetricKey(bytes: bytes) else {
                    throw .keyFile(path: path, reason: "master-key is not base64 of 32 bytes")
                }
                master = key
            case "signer":
                do { signer = try NoteSignerKey(parsing: parts[1]) } catch {
                    throw .keyFile(path: path, reason: "signer: \(error)")
                }
            default:
                throw .keyFile(path: path, reason: "unknown entry \"\(parts[0])\"")
            }
        }
        guard let master, let signer else { throw .keyFile(path: path, reason: "needs both master-key and signer") }
        return KeyFile(masterKey: master, signer: signer)
    }
}
