import CSigsegv
import Foundation
import PMemKit

/// Anonymous pages for a benchmark, each written once so that every page
/// is present (a fault then is a protection fault, not a first touch).
final class BenchPages: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let count: Int
    static let size = Int(getpagesize())

    init(_ count: Int) throws {
        let length = count * Self.size
        guard let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            p != MAP_FAILED
        else { throw PMemError.system("mmap", errno: errno, detail: "\(count) benchmark pages") }
        base = p
        self.count = count
        for i in 0..<count { (base + i * Self.size).storeBytes(of: 1, as: UInt8.self) }
    }

    deinit { munmap(base, length) }

    var length: Int { count * Self.size }

    /// Times one store to each page; both sides of a fault case run this
    /// one compiled loop, so code placement favours neither.
    @inline(never) func timeWritingEach(_ value: UInt8) -> UInt64 {
        timed {
            for i in 0..<count {
                (base + i * Self.size).storeBytes(of: value, toByteOffset: 8, as: UInt8.self)
            }
        }
    }
}

/// The baseline of the fault cases: libsigsegv (Debian libsigsegv-dev). Its
/// handler makes the faulting page read-write and resumes, the work our
/// built-in `count` action does, so each fault is SIGSEGV → handler →
/// mprotect → return on both sides.
enum SigsegvBaseline {
    /// The pages the handler owns; stored before the handler is installed.
    nonisolated(unsafe) static var start: UInt = 0
    nonisolated(unsafe) static var end: UInt = 0
    nonisolated(unsafe) static var faults = 0
    nonisolated(unsafe) static var pageMask: UInt = ~UInt(BenchPages.size - 1)

    /// Write-protects `pages`, installs libsigsegv's handler (taking SIGSEGV
    /// from PMemProtect until it reinstalls its own) and times one write to
    /// each page, every write a fault. Returns nanoseconds.
    static func faultEachPage(_ pages: BenchPages) throws -> UInt64 {
        start = UInt(bitPattern: pages.base)
        end = start + UInt(pages.length)
        faults = 0
        guard sigsegv_install_handler(resolve) == 0 else {
            throw PMemError(.unsupported, operation: "libsigsegv", detail: "sigsegv_install_handler failed")
        }
        guard mprotect(pages.base, pages.length, PROT_READ) == 0 else {
            throw PMemError.system("mprotect", errno: errno)
        }
        let ns = pages.timeWritingEach(2)
        guard faults == pages.count else {
            throw PMemError(
                .system, operation: "libsigsegv baseline", detail: "\(faults) faults for \(pages.count) pages"
            )
        }
        return ns
    }
}

/// libsigsegv's user handler: lift the page if it is the baseline's.
private let resolve: sigsegv_handler_t = { address, _ in
    let a = UInt(bitPattern: address)
    guard a >= SigsegvBaseline.start, a < SigsegvBaseline.end else { return 0 }
    SigsegvBaseline.faults += 1
    let page = UnsafeMutableRawPointer(bitPattern: a & SigsegvBaseline.pageMask)
    return mprotect(page, BenchPages.size, PROT_READ | PROT_WRITE) == 0 ? 1 : 0
}

/// Times `n` access switches alternating read-only (`true`) and read-write
/// through `set`: the one compiled loop both sides of a switch case run.
@inline(never) func timeSwitching(_ n: Int, _ set: (Bool) throws -> Void) rethrows -> UInt64 {
    try timed {
        for i in 0..<n { try set(i % 2 == 0) }
    }
}

/// `mprotect` of `pages` to read-only (`true`) or read-write: the switch cases' baseline.
func mprotectSwitch(_ pages: BenchPages, readOnly: Bool) throws {
    guard mprotect(pages.base, pages.length, readOnly ? PROT_READ : PROT_READ | PROT_WRITE) == 0 else {
        throw PMemError.system("mprotect", errno: errno)
    }
}
