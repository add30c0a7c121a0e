import CFaultShim
import Foundation
import PMemKit
import PMemProtect
import XCTest

/// The gate of every test that needs one mechanism: skipped with the reason
/// printed where this machine lacks it. `PMEMKIT_REQUIRE_PKEYS=1` (the lab,
/// whose emulated CPU has pku) turns a pkeys skip into a failure.
enum ProtectGate {
    static func require(_ mechanism: ProtectionMechanism, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let status = MechanismSupport.current.status(of: mechanism)
        guard !status.available else { return }
        let reason = "\(mechanism.rawValue) unavailable: \(status.reason)"
        if mechanism == .pkeys, ProcessInfo.processInfo.environment["PMEMKIT_REQUIRE_PKEYS"] == "1" {
            XCTFail(reason + " (PMEMKIT_REQUIRE_PKEYS=1)", file: file, line: line)
        }
        print("skipped: \(reason)")
        throw XCTSkip(reason, file: file, line: line)
    }
}

/// Anonymous read-write pages, unmapped when released.
final class Pages: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let count: Int
    static let size = Int(getpagesize())

    init(_ count: Int) {
        self.count = count
        base = mmap(nil, count * Self.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        precondition(base != MAP_FAILED, "mmap of \(count) pages failed")
    }

    deinit { munmap(base, count * Self.size) }

    /// The first byte of page `i`.
    func page(_ i: Int) -> UnsafeMutableRawPointer { base + i * Self.size }

    var length: Int { count * Self.size }
}

/// Calls to a Swift handler, recorded from the handler thread.
final class HandlerLog: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [(fault: PageFault, thread: Int32)] = []

    func record(_ fault: PageFault) {
        let thread = pmk_fault_thread_id()
        lock.withLock { recorded.append((fault, thread)) }
    }

    var faults: [PageFault] { lock.withLock { recorded.map(\.fault) } }
    var handlerThreads: Set<Int32> { lock.withLock { Set(recorded.map(\.thread)) } }
}

/// The calling thread's kernel id.
func currentThreadID() -> Int32 { pmk_fault_thread_id() }

/// A file of `bytes` in `directory` mapped as emulated PMem, removed at once
/// (the mapping keeps it).
func scratchMapping(in directory: String, bytes: Int) throws -> PMemMapping {
    let path = "\(directory)/pmemprotect-test.\(getpid()).\(UUID().uuidString)"
    defer { unlink(path) }
    return try PMemMapping(path: path, options: .init(size: bytes, create: true, plainFile: .emulated))
}

/// Runs `count` threads at once, each running `body(index)`, and waits for all.
func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    let start = DispatchSemaphore(value: 0)
    for i in 0..<count {
        group.enter()
        Thread {
            start.wait()
            body(i)
            group.leave()
        }.start()
    }
    for _ in 0..<count { start.signal() }
    group.wait()
}
