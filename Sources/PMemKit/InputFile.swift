import Foundation

/// Checks made on a path a command was given, before anything opens it.
///
/// Opening a FIFO for reading waits for a writer; reading `/dev/zero` never
/// ends; opening a terminal or another character device can block or have
/// side effects. So a path is `stat`ed first and refused, in one line naming
/// what it is, unless it is what the command can use; what is then opened
/// is opened with `O_NONBLOCK` and checked again with `fstat` (the path may
/// have been replaced in between).
public enum InputFile {
    /// What `stat` says a path is.
    public enum Kind: String, Sendable {
        case regularFile = "a regular file"
        case directory = "a directory"
        case characterDevice = "a character device"
        case blockDevice = "a block device"
        case fifo = "a FIFO"
        case socket = "a socket"
        case other = "a special file"

        /// The kind of a `st_mode`.
        public init(mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFREG: self = .regularFile
            case S_IFDIR: self = .directory
            case S_IFCHR: self = .characterDevice
            case S_IFBLK: self = .blockDevice
            case S_IFIFO: self = .fifo
            case S_IFSOCK: self = .socket
            default: self = .other
            }
        }
    }

    /// `stat` of `path` (links followed); throws the errno as a one-line error.
    public static func status(of path: String, operation: String) throws -> stat {
        var st = stat()
        guard stat(path, &st) == 0 else { throw PMemError.system(operation, errno: errno, detail: path) }
        return st
    }

    /// Whether the character device `rdev` is a device-DAX device (it has a
    /// size in sysfs); asked of sysfs, without opening the device.
    static func isDAXDevice(_ rdev: dev_t) -> Bool {
        let attr = "/sys/dev/char/\(DeviceNumber.major(rdev)):\(DeviceNumber.minor(rdev))/size"
        return access(attr, R_OK) == 0
    }

    /// Throws unless `path` is something a `PMemMapping` maps: a regular
    /// file, a device-DAX character device or a block device. Nothing is opened.
    public static func checkMappable(_ path: String, operation: String) throws {
        let st = try status(of: path, operation: operation)
        try checkMappable(st, path: path, operation: operation)
    }

    /// `checkMappable(_:operation:)` on a `stat` already made.
    static func checkMappable(_ st: stat, path: String, operation: String) throws {
        let kind = Kind(mode: st.st_mode)
        switch kind {
        case .regularFile, .blockDevice:
            return
        case .characterDevice where isDAXDevice(st.st_rdev):
            return
        case .characterDevice:
            throw PMemError(
                .unsupported, operation: operation,
                detail: "\(path) is a character device but not a DAX device")
        default:
            throw PMemError(
                .invalidArgument, operation: operation,
                detail: "\(path) is \(kind.rawValue), not a file, a DAX device or a block device")
        }
    }

    /// Opens `path` read-only for inspection, refusing (before opening it)
    /// anything `checkMappable` refuses; `O_NONBLOCK`, and checked again after
    /// the open. The caller closes the descriptor.
    public static func openForReading(_ path: String, operation: String) throws -> Int32 {
        let before = try status(of: path, operation: operation)
        try checkMappable(before, path: path, operation: operation)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw PMemError.system(operation, errno: errno, detail: path) }
        var after = stat()
        guard fstat(fd, &after) == 0 else {
            let error = PMemError.system(operation, errno: errno, detail: path)
            close(fd)
            throw error
        }
        guard after.st_dev == before.st_dev, after.st_ino == before.st_ino else {
            close(fd)
            throw PMemError(.busy, operation: operation, detail: "\(path) changed while it was being opened")
        }
        return fd
    }

    /// Reads a regular file of at most `limit` bytes whole: key files, type
    /// descriptions, guest images. Anything else (a FIFO, a device, a
    /// directory) and anything larger is refused in one line naming it.
    public static func readRegularFile(_ path: String, operation: String, limit: Int) throws -> Data {
        let before = try status(of: path, operation: operation)
        let kind = Kind(mode: before.st_mode)
        guard kind == .regularFile else {
            throw PMemError(
                .invalidArgument, operation: operation,
                detail: "\(path) is \(kind.rawValue), not a regular file")
        }
        guard before.st_size <= limit else {
            throw PMemError(
                .invalidArgument, operation: operation,
                detail: "\(path) holds \(before.st_size) bytes, more than the \(limit) expected")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw PMemError.system(operation, errno: errno, detail: path) }
        defer { close(fd) }
        var after = stat()
        guard fstat(fd, &after) == 0, Kind(mode: after.st_mode) == .regularFile else {
            throw PMemError(.busy, operation: operation, detail: "\(path) changed while it was being opened")
        }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        // Until the end of the file, or one chunk past the limit (a file that grew since the stat).
        while data.count <= limit {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw PMemError.system(operation, errno: errno, detail: path) }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
        }
        guard data.count <= limit else {
            throw PMemError(
                .invalidArgument, operation: operation,
                detail: "\(path) holds more than the \(limit) bytes expected")
        }
        return data
    }
}
