// Thin POSIX file wrappers: whole-file reads, positioned writes, fsync, truncation, directory sync and flock.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file descriptor, closed when the value is released.
final class POSIXFile {
    let descriptor: Int32
    let path: String

    /// Opens `path` with `flags` (and `mode` when creating).
    init(path: String, flags: Int32, mode: mode_t = 0o644) throws(LedgerError) {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        self.descriptor = fd
        self.path = path
    }

    deinit { close(descriptor) }

    /// The file's size in bytes.
    func size() throws(LedgerError) -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .io(operation: "fstat", path: path, errno: errno) }
        return Int(info.st_size)
    }

    /// The file's size, modification time (nanoseconds since 1970) and inode number, as `stat(2)` gives them: what
    /// changes when anyone writes or replaces the file.
    func modificationStamp() throws(LedgerError) -> String {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .io(operation: "fstat", path: path, errno: errno) }
        return "\(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec) \(info.st_ino)"
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(LedgerError) {
        var written = 0
        while written < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + written, bytes.count - written, off_t(offset + written))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "write", path: path, errno: errno)
            }
            written += n
        }
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws(LedgerError) {
        var failure: LedgerError?
        bytes.withUnsafeBytes { raw in
            do throws(LedgerError) { try write(raw, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Reads `count` bytes at `offset`; fewer only at end of file.
    func read(count: Int, at offset: Int) throws(LedgerError) -> [UInt8] {
        var failure: Int32 = 0
        let buffer = [UInt8](unsafeUninitializedCapacity: count) { raw, initialized in
            var total = 0
            while total < count {
                let n = pread(descriptor, raw.baseAddress! + total, count - total, off_t(offset + total))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                total += n
            }
            initialized = total
        }
        if failure != 0 { throw .io(operation: "read", path: path, errno: failure) }
        return buffer
    }

    /// The whole file.
    func readAll() throws(LedgerError) -> [UInt8] {
        try read(count: try size(), at: 0)
    }

    /// Flushes the file's data (and the metadata needed to read it) to stable storage.
    func sync() throws(LedgerError) {
        guard fdatasync(descriptor) == 0 else { throw .io(operation: "fdatasync", path: path, errno: errno) }
    }

    /// Cuts the file to `size` bytes.
    func truncate(to size: Int) throws(LedgerError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else {
            throw .io(operation: "ftruncate", path: path, errno: errno)
        }
    }

    /// Releases a `flock` taken by `tryLockExclusive`.
    func unlock() {
        flock(descriptor, LOCK_UN)
    }

    /// Takes an exclusive `flock` without waiting; returns false if another process holds it.
    func tryLockExclusive() throws(LedgerError) -> Bool {
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
        if errno == EWOULDBLOCK { return false }
        throw .io(operation: "flock", path: path, errno: errno)
    }
}

/// File-system helpers.
package enum FileSystem {
    /// Whether `path` exists.
    package static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates a directory (and missing parents) with `mode`.
    package static func createDirectory(_ path: String, mode: UInt32 = 0o755) throws(LedgerError) {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if parent != path && !parent.isEmpty && !isDirectory(parent) { try createDirectory(parent, mode: mode) }
        guard mkdir(path, mode) == 0 || errno == EEXIST else { throw .io(operation: "mkdir", path: path, errno: errno) }
    }

    /// The names in a directory, sorted; "." and ".." excluded.
    package static func contents(of path: String) throws(LedgerError) -> [String] {
        guard let dir = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Flushes a directory's entries (after creating, renaming or deleting files in it).
    package static func syncDirectory(_ path: String) throws(LedgerError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(operation: "open directory", path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .io(operation: "fsync directory", path: path, errno: errno) }
    }

    /// Writes `bytes` to `path` atomically with permission bits `mode`: a temporary file, fsync, rename, fsync of
    /// the directory.
    package static func writeAtomically(_ bytes: [UInt8], to path: String, mode: UInt32 = 0o644) throws(LedgerError) {
        let temporary = path + ".tmp"
        do {
            let file = try POSIXFile(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: mode_t(mode))
            // A temporary file left by an earlier run keeps its mode through O_CREAT: set it.
            guard fchmod(file.descriptor, mode_t(mode)) == 0 else {
                throw .io(operation: "fchmod", path: temporary, errno: errno)
            }
            try file.write(bytes, at: 0)
            try file.sync()
        }
        guard rename(temporary, path) == 0 else { throw .io(operation: "rename", path: path, errno: errno) }
        try syncDirectory(parentDirectory(path))
    }

    /// Makes the file at `temporary` durable and moves it to `path` atomically: fsync, rename, fsync of the
    /// directory.
    package static func moveDurably(_ temporary: String, to path: String) throws(LedgerError) {
        try POSIXFile(path: temporary, flags: O_RDWR).sync()
        guard rename(temporary, path) == 0 else { throw .io(operation: "rename", path: path, errno: errno) }
        try syncDirectory(parentDirectory(path))
    }

    /// Reads a whole file.
    static func read(_ path: String) throws(LedgerError) -> [UInt8] {
        try POSIXFile(path: path, flags: O_RDONLY).readAll()
    }

    /// Removes a file if it exists.
    package static func remove(_ path: String) throws(LedgerError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .io(operation: "unlink", path: path, errno: errno) }
    }

    /// The permission bits of `path`.
    static func permissions(_ path: String) throws(LedgerError) -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .io(operation: "stat", path: path, errno: errno) }
        return info.st_mode & 0o777
    }

    /// Whether this process may create files in directory `path` (false on a read-only mount, even for root).
    package static func isWritableDirectory(_ path: String) -> Bool {
        access(path, W_OK) == 0
    }

    /// Bytes available to this process on the file system holding `path`, nil when it cannot be told.
    package static func availableBytes(_ path: String) -> UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let (bytes, overflow) = UInt64(info.f_bavail).multipliedReportingOverflow(by: UInt64(info.f_frsize))
        return overflow ? .max : bytes
    }

    /// Creates a new private directory in the temporary directory (`$TMPDIR`, else /tmp).
    package static func temporaryDirectory(prefix: String) throws(LedgerError) -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array(join(base, prefix + ".XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { mkdtemp($0) != nil } ?? false
        }
        guard created else { throw .io(operation: "mkdtemp", path: join(base, prefix), errno: errno) }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Copies the file at `source` to a new file `destination`.
    package static func copy(_ source: String, to destination: String) throws(LedgerError) {
        let bytes = try read(source)
        try POSIXFile(path: destination, flags: O_WRONLY | O_CREAT | O_EXCL).write(bytes, at: 0)
    }

    /// Removes the files of a directory (not its subdirectories' contents) and the directory, ignoring errors.
    package static func removeTree(_ path: String) {
        for name in (try? contents(of: path)) ?? [] { unlink(join(path, name)) }
        rmdir(path)
    }

    /// `path` without its last component.
    package static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `path` and `name` joined with one slash.
    package static func join(_ path: String, _ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }
}

/// A read-only memory mapping of a whole file, unmapped when released. Threads may read it concurrently.
final class MappedFile: @unchecked Sendable {
    /// The mapped bytes.
    let bytes: UnsafeRawBufferPointer

    /// Maps `path` read-only.
    init(path: String) throws(LedgerError) {
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        let size = try file.size()
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, file.descriptor, 0), address != MAP_FAILED else {
            throw .io(operation: "mmap", path: path, errno: errno)
        }
        madvise(address, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
