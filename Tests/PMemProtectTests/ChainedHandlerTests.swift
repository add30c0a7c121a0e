import Foundation
import PMemProtect
import XCTest

/// A fault outside every range goes to the SIGSEGV handler ours replaced;
/// when that handler passes it back to ours (it kept ours when it displaced
/// it, and a new range put ours back over it), the process ends by SIGSEGV
/// instead of the two passing it to each other until the stack overflows.
/// Each scenario runs in a forked child, so the foreign handler never
/// outlives it.
final class ChainedHandlerTests: XCTestCase {
    /// A page no range covers, inaccessible: a store to it faults.
    private var stray: Pages!
    /// How often the foreign handler ran, shared with the child.
    private var calls: UnsafeMutablePointer<Int>!

    override func setUpWithError() throws {
        try ProtectGate.require(.mprotect)
        // Ours is installed in this process before the fork.
        let first = Pages(1)
        let earlier = try PageProtector.shared().protect(
            first.base, length: first.length, access: .read, onFault: .count, label: "earlier",
            mechanism: .mprotect, owner: first)
        earlier.unprotect()
        stray = Pages(1)
        mprotect(stray.base, stray.length, PROT_NONE)
        let shared = mmap(nil, Pages.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)!
        calls = shared.bindMemory(to: Int.self, capacity: 1)
        calls.pointee = 0
    }

    override func tearDown() {
        if let calls { munmap(calls, Pages.size) }
    }

    /// Forks; the child installs `handler` over ours, protects a new range
    /// (which puts ours back, keeping `handler` as the one it replaced) and
    /// stores to the stray page. Returns the child's wait status, or nil
    /// when it did not end within 20 s (then it is killed).
    private func runChild(installing handler: @escaping SignalAction) -> Int32? {
        let pid = fork()
        if pid == 0 {
            foreignState = ForeignState(calls: calls, stray: stray.base)
            var foreign = sigaction()
            foreign.__sigaction_handler.sa_sigaction = handler
            foreign.sa_flags = SA_SIGINFO
            sigemptyset(&foreign.sa_mask)
            sigaction(SIGSEGV, &foreign, &foreignState.replaced)
            guard foreignState.replaced.sa_flags & SA_SIGINFO != 0 else { _exit(4) }
            let pages = Pages(1)
            guard
                let range = try? PageProtector.shared().protect(
                    pages.base, length: pages.length, access: .read, onFault: .count, label: "later",
                    mechanism: .mprotect, owner: pages)
            else { _exit(2) }
            stray.base.storeBytes(of: UInt64(7), as: UInt64.self)
            withExtendedLifetime(range) {}
            _exit(stray.base.load(as: UInt64.self) == 7 ? 0 : 1)
        }
        var status: Int32 = 0
        for _ in 0..<2000 {
            if waitpid(pid, &status, WNOHANG) == pid { return status }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return nil
    }

    func testAHandlerThatPassesTheFaultBackEndsTheProcessBySIGSEGV() throws {
        let status = try XCTUnwrap(runChild(installing: passBack), "the child did not end within 20 s")
        let signal = status & 0x7f
        XCTAssertEqual(
            signal, SIGSEGV,
            "exit status \((status >> 8) & 0xff) "
                + "(3: the handlers passed the fault back and forth; 2: protect failed)")
        XCTAssertEqual(
            calls.pointee, 1, "the foreign handler ran once, then the default action ended the child")
    }

    func testAFaultOutsideEveryRangeReachesTheHandlerOursReplaced() throws {
        let status = try XCTUnwrap(runChild(installing: liftStray), "the child did not end within 20 s")
        XCTAssertEqual(status & 0x7f, 0, "the child was ended by signal \(status & 0x7f)")
        XCTAssertEqual((status >> 8) & 0xff, 0, "1: the store did not land; 2: protect failed")
        XCTAssertEqual(calls.pointee, 1)
    }
}

/// An `SA_SIGINFO` signal handler.
private typealias SignalAction =
    @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void

/// What the foreign handlers of a child use.
private struct ForeignState {
    /// How often the handler ran.
    var calls: UnsafeMutablePointer<Int>?
    /// The page the `liftStray` handler owns.
    var stray: UnsafeMutableRawPointer?
    /// The handler it replaced (ours).
    var replaced = sigaction()
}

nonisolated(unsafe) private var foreignState = ForeignState()

/// A foreign handler that takes nothing itself: it passes every fault to the
/// handler it replaced. It stops a loop itself (exit 3) after 100 calls.
private let passBack: SignalAction = { signal, info, context in
    foreignState.calls!.pointee += 1
    if foreignState.calls!.pointee > 100 { _exit(3) }
    foreignState.replaced.__sigaction_handler.sa_sigaction?(signal, info, context)
}

/// A foreign handler that owns the stray page: it makes it writable.
private let liftStray: SignalAction = { _, _, _ in
    foreignState.calls!.pointee += 1
    mprotect(foreignState.stray!, Pages.size, PROT_READ | PROT_WRITE)
}
