// Looking for erased bytes on disk: every sealed part's ciphertext of a ledger (read by the Python verifier's
// parsers), every file under a directory concatenated (segments also decompressed), and a fast byte search.
public import Foundation

/// Bytes to search for byte strings (with memchr and memcmp: the generic `Collection.contains` is far too slow
/// for megabytes).
public struct ScannedBytes {
    /// The bytes searched.
    public var bytes = Data()

    /// Searches `bytes` (none by default).
    public init(bytes: Data = Data()) {
        self.bytes = bytes
    }

    /// Whether `needle` occurs anywhere in the bytes.
    public func contains(_ needle: some DataProtocol) -> Bool {
        let wanted = Data(needle)
        guard !wanted.isEmpty else { return true }
        return bytes.withUnsafeBytes { haystack in
            wanted.withUnsafeBytes { needle in
                guard let start = haystack.baseAddress, let pattern = needle.baseAddress else { return false }
                var offset = 0
                while offset + needle.count <= haystack.count {
                    guard
                        let hit = memchr(
                            start + offset, Int32(needle[0]), haystack.count - offset - needle.count + 1)
                    else { return false }
                    if memcmp(hit, pattern, needle.count) == 0 { return true }
                    offset = UnsafeRawPointer(hit) - start + 1
                }
                return false
            }
        }
    }
}

/// A helper's failure, with what went wrong.
public struct ScanError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
}

/// Every file under `directory` (files named `*.zst` also decompressed with the real zstd CLI, unless empty),
/// concatenated.
public func allBytes(under directory: String) throws -> ScannedBytes {
    var all = ScannedBytes()
    let enumerator = FileManager.default.enumerator(atPath: directory)
    while let name = enumerator?.nextObject() as? String {
        let path = directory + "/" + name
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            continue
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        all.bytes.append(bytes)
        // An empty segment (the newest one, before its first frame) holds nothing, and `zstd -d` refuses it.
        if name.hasSuffix(".zst") && !bytes.isEmpty {
            let decompressed = NSTemporaryDirectory() + "/compaction-scan-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: decompressed) }
            let result = try run("/usr/bin/zstd", ["-d", "-q", "-f", path, "-o", decompressed])
            guard result.status == 0 else { throw ScanError(description: "zstd -d \(path): \(result.stderr)") }
            all.bytes.append(try Data(contentsOf: URL(fileURLWithPath: decompressed)))
        }
    }
    return all
}

/// The bytes a lowercase hex string spells (an odd last digit or a non-hex pair ends it).
public func hexBytes(_ hex: String) -> Data {
    var bytes = Data()
    var index = hex.startIndex
    while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex),
        let byte = UInt8(hex[index..<next], radix: 16)
    {
        bytes.append(byte)
        index = next
    }
    return bytes
}

/// Every sealed part's ciphertext in the segments of the ledger in `directory`, as "call class hex" lines, read by
/// the Python verifier's parsers (no Swift code involved), side-cars included.
public func sealedPayloads(directory: String) throws -> [String] {
    let script = """
        import sys, pathlib
        sys.path.insert(0, sys.argv[1])
        from verifier.zstdframes import frame_layout, decompress_frame
        from verifier.records import parse_frame_content, parse_record
        from verifier.sidecar import join
        for segment in sorted(pathlib.Path(sys.argv[2], "segments").glob("*.zst")):
            data = memoryview(segment.read_bytes())
            offset = 0
            while offset < len(data):
                layout = frame_layout(data, offset)
                content = decompress_frame(data[offset:offset + layout.size], layout)
                content = join(content, data[offset:offset + layout.stored_size], layout.size)
                offset += layout.stored_size
                for _, raw in parse_frame_content(content).records:
                    record = parse_record(raw)
                    for part in record.parts:
                        if part.form == 1:
                            print(record.call, part.data_class, part.payload.hex())
        """
    let result = try run(
        "/usr/bin/env", ["python3", "-c", script, Repository.root.appendingPathComponent("tools").path, directory])
    guard result.status == 0 else { throw ScanError(description: "reading sealed parts: \(result.stderr)") }
    return result.stdout.split(separator: "\n").map(String.init)
}

/// The "call class" → wrapped key (hex) rows of the `keys.sqlite` of the ledger in `directory`.
public func wrappedKeys(directory: String) throws -> [String: String] {
    let result = try run(
        "/usr/bin/sqlite3",
        [directory + "/keys.sqlite", "SELECT call || ' ' || class || ' ' || lower(hex(wrapped)) FROM data_keys"])
    var rows: [String: String] = [:]
    for line in result.stdout.split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count == 3 else { continue }
        rows[fields[0] + " " + fields[1]] = String(fields[2])
    }
    return rows
}
