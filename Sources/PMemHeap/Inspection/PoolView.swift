import Foundation
import PMemKit

/// A mapping of a pool for inspection that can never write to it: a
/// private copy-on-write view of a file (recovery may run in it, changing
/// only this process's pages), or a read-only view of a device.
final class PoolView {
    let base: UnsafeMutableRawPointer
    let size: Int
    /// Stores are allowed and stay private.
    let isPrivate: Bool

    /// Maps `path` for inspection; a path that is no pool file or DAX device
    /// (a FIFO, whose open would block) is refused before it is opened. The
    /// pages of `masking` (bad byte ranges) read as zeros.
    init(path: String, masking: [Range<UInt64>] = []) throws {
        let fd = try InputFile.openForReading(path, operation: "heap open")
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PMemError.system("stat", errno: errno, detail: path) }
        let regular = st.st_mode & S_IFMT == S_IFREG
        let length: Int
        if regular {
            length = Int(st.st_size)
        } else {
            // A DAX device: the mapping code knows how to size it.
            length = try PMemMapping(path: path, options: .init(readOnly: true)).size
        }
        guard length > 0 else {
            throw PMemError(.corrupt, operation: "heap check", detail: "\(path) is empty, not a heap pool")
        }
        // MAP_PRIVATE needs a file; device DAX only maps shared, so it is inspected read-only.
        let prot = regular ? PROT_READ | PROT_WRITE : PROT_READ
        let flags = regular ? MAP_PRIVATE : MAP_SHARED
        guard let p = mmap(nil, length, prot, flags, fd, 0), p != MAP_FAILED else {
            throw PMemError.system("mmap", errno: errno, detail: path)
        }
        base = p
        size = length
        isPrivate = regular
        // Pages holding bad bytes are replaced by zero pages: touching poison
        // faults (SIGBUS), and a check must read around it, never into it.
        let page = UInt64(getpagesize())
        for range in masking {
            let first = range.lowerBound / page * page
            let end = min(UInt64(length), (range.upperBound + page - 1) / page * page)
            guard first < end else { continue }
            let at = p + Int(first)
            guard mmap(at, Int(end - first), prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == at
            else {
                munmap(p, length)
                throw PMemError.system("mmap", errno: errno, detail: "\(path): masking its bad pages")
            }
        }
    }

    deinit { munmap(base, size) }
}
