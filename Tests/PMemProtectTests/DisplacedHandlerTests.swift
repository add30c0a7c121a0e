import Foundation
import PMemProtect
import XCTest

/// A SIGSEGV handler another library installs after ours (libclang's crash
/// recovery did, and re-raised our faults without their address) must not
/// take the faults of ranges protected after it: a new range puts ours back.
final class DisplacedHandlerTests: XCTestCase {
    func testANewRangePutsTheHandlerBackOverAForeignOne() throws {
        try ProtectGate.require(.mprotect)
        let first = Pages(1)
        let earlier = try PageProtector.shared().protect(
            first.base, length: first.length, access: .read, onFault: .count, label: "earlier",
            mechanism: .mprotect, owner: first)
        defer { earlier.unprotect() }
        // In a forked child, so the foreign handler never outlives the test.
        let pid = fork()
        if pid == 0 {
            var foreign = sigaction()
            foreign.__sigaction_handler.sa_handler = { _ in _exit(42) }
            sigemptyset(&foreign.sa_mask)
            sigaction(SIGSEGV, &foreign, nil)
            let pages = Pages(1)
            guard
                let range = try? PageProtector.shared().protect(
                    pages.base, length: pages.length, access: .read, onFault: .count, label: "later",
                    mechanism: .mprotect, owner: pages)
            else { _exit(2) }
            pages.base.storeBytes(of: UInt64(7), as: UInt64.self)
            _exit(range.faults == 1 && pages.base.load(as: UInt64.self) == 7 ? 0 : 1)
        }
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, 0), pid)
        let exited = (status & 0x7f) == 0
        XCTAssertTrue(exited, "the child was ended by signal \(status & 0x7f)")
        XCTAssertEqual(
            (status >> 8) & 0xff, 0,
            "42: the foreign handler took the fault; 1: the fault was not counted; 2: protect failed")
    }
}
