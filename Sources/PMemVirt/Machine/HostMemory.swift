import Foundation
import PMemKit

/// Anonymous host memory that backs guest RAM or a device page; unmapped
/// when released.
final class HostMemory: @unchecked Sendable {
    /// First byte.
    let base: UnsafeMutableRawPointer
    /// Length, bytes (a multiple of the page size).
    let size: Int

    /// Maps `size` zeroed bytes (rounded up to whole pages), reserving no swap.
    init(size: Int, purpose: String) throws {
        let page = Int(getpagesize())
        let length = (size + page - 1) / page * page
        guard
            let p = mmap(
                nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
            p != MAP_FAILED
        else {
            throw PMemError.system("mmap", errno: errno, detail: "\(length) bytes of \(purpose)")
        }
        base = p
        self.size = length
    }

    deinit { munmap(base, size) }
}
