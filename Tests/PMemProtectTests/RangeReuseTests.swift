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

/// What the lookup hook of `StaleFaultTests` works with: a C function
/// pointer captures nothing. The descriptions live on the heap: in a Swift
/// global of this imported struct, AddressSanitizer's bounds are 108 bytes,
/// C's `sizeof` is 112, and it reported assigning one as an overflow.
private enum Replacement {
    nonisolated(unsafe) static let first = UnsafeMutablePointer<pmk_fault_range_desc>.allocate(capacity: 1)
    nonisolated(unsafe) static let second = UnsafeMutablePointer<pmk_fault_range_desc>.allocate(capacity: 1)
    nonisolated(unsafe) static var ids: [Int32] = []
}

/// A fault races with the removal of its range: the fault path found the
/// range, then (before it acted) the range was removed and others put over
/// the same memory, the first with the same id. The fault must act on what
/// is there now, not on its copy of the removed range.
final class StaleFaultTests: XCTestCase {
    override func setUpWithError() throws {
        try ProtectGate.require(.mprotect)
    }

    private func description(_ base: UnsafeMutableRawPointer, pages: Int, _ action: pmk_fault_action)
        -> pmk_fault_range_desc
    {
        var d = pmk_fault_range_desc()
        d.base = base
        d.length = pages * Pages.size
        d.mechanism = PMK_MECHANISM_MPROTECT.rawValue
        d.access = PMK_ACCESS_NONE.rawValue
        d.action = action.rawValue
        return d
    }

    func testAFaultWhoseRangeIsReplacedMeanwhileLeavesTheNewRangesProtected() throws {
        let pages = Pages(2)
        var removed = description(pages.base, pages: 2, PMK_ACTION_ALLOW)
        let removedID = pmk_fault_range_add(&removed)
        XCTAssertGreaterThanOrEqual(removedID, 0)
        // Page 0 alone, allowing on a fault (it takes the removed range's id); page 1
        // alone, counting each fault.
        Replacement.first.initialize(to: description(pages.page(0), pages: 1, PMK_ACTION_ALLOW))
        Replacement.second.initialize(to: description(pages.page(1), pages: 1, PMK_ACTION_COUNT))
        pmk_fault_set_lookup_hook { id in
            pmk_fault_set_lookup_hook(nil)
            pmk_fault_range_remove(id)
            Replacement.ids = [
                pmk_fault_range_add(Replacement.first), pmk_fault_range_add(Replacement.second),
            ]
        }
        defer { pmk_fault_set_lookup_hook(nil) }
        pages.page(0).storeBytes(of: UInt64(1), as: UInt64.self)
        let ids = Replacement.ids
        defer { for id in ids { pmk_fault_range_remove(id) } }
        XCTAssertEqual(ids.first, removedID, "the first new range took the removed one's id")
        XCTAssertEqual(
            pmk_fault_range_get_faults(ids[0]), 1, "the retried write faulted in the first new range")
        // Before the fix the fault allowed its copy of the removed range: both pages
        // became read-write, and the second new range no longer protected its page.
        pages.page(1).storeBytes(of: UInt64(2), as: UInt64.self)
        XCTAssertEqual(pmk_fault_range_get_faults(ids[1]), 1, "the second new range still protected its page")
    }
}
