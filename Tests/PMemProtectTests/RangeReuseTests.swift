import CFaultShim
import Foundation
import PMemKit
import XCTest

@testable import PMemProtect

/// A range's id is reused as soon as the range is removed: nothing about the
/// removed range may then act on the range that took its id.
final class RangeReuseTests: XCTestCase {
    override func setUpWithError() throws {
        try ProtectGate.require(.mprotect)
    }

    /// Runs `body` on a thread of its own; whether it returned within `seconds`.
    private func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Thread {
            body()
            done.signal()
        }.start()
        return done.wait(timeout: .now() + seconds) == .success
    }

    func testARangeThatTakesARemovedRangesIdKeepsItsHandler() throws {
        let old = Pages(1)
        let new = Pages(1)
        let handled = HandlerLog()
        let removed = try PageProtector.shared().protect(
            old.base, length: old.length, access: .none, onFault: .handled { _, _ in .allow }, label: "old",
            mechanism: .mprotect, owner: old)
        nonisolated(unsafe) var taker: ProtectedRange?
        // Another thread protects new memory right after the old range's id is freed: it gets that id.
        ProtectedRange.afterRemovalForTesting = {
            ProtectedRange.afterRemovalForTesting = nil
            taker = try? PageProtector.shared().protect(
                new.base, length: new.length, access: .read,
                onFault: .handled { fault, _ in
                    handled.record(fault)
                    return .allow
                }, label: "new", mechanism: .mprotect, owner: new)
        }
        defer { ProtectedRange.afterRemovalForTesting = nil }
        let oldID = removed.id
        removed.unprotect()
        let range = try XCTUnwrap(taker)
        XCTAssertEqual(range.id, oldID, "the new range reuses the id")
        let page = UncheckedPointer(new.base)
        // Before the fix the removed range's unregister dropped the new range's handler,
        // and the write retried for ever.
        let wrote = finishes(within: 10) { page.pointer.storeBytes(of: UInt64(7), as: UInt64.self) }
        if !wrote { range.unprotect() }  // lets the stuck write through, so the test can end
        XCTAssertTrue(wrote, "the write went through its handler")
        XCTAssertEqual(handled.faults.count, 1)
        range.unprotect()
    }
}

/// A raw pointer handed to another thread by a test.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
}
