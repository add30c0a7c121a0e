import Foundation

/// Text the kernel generates (`/proc`, `/sys`), read to its end with read(2).
/// Such files report a size of 0 or one page whatever they hold, and
/// Foundation's `String(contentsOfFile:)` stops there: a `/proc/PID/maps`
/// of 3,000 mappings read as its first 4 KiB, so a device mapped past them
/// was not seen as in use.
package enum KernelText {
    /// The text of `path`, or `nil` when it cannot be read; at most `limit` bytes.
    package static func read(_ path: String, limit: Int = 64 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count < limit {
            let n = Foundation.read(fd, &chunk, min(chunk.count, limit - bytes.count))
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
