import Foundation
import PMemHeap
import PMemProtect
import TestSupport
import XCTest

/// Guarded mode: the slabs are read-only outside transactions; a stray
/// write is reported with the object it hit and never reaches the pool.
final class GuardedHeapTests: XCTestCase {
    func testTransactionsWriteThroughTheGuardAndTheSlabsStayReadOnlyOutsideThem() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20, options: .init(guarded: true))
        try buildList(heap, [1, 2, 3])
        let root = try heap.root(ListRoot.self)
        try heap.transaction { tx in try tx.update(root) { $0.count += 10 } }
        let range = try XCTUnwrap(heap.pageGuard?.range)
        XCTAssertEqual(range.access, .read)
        XCTAssertEqual(range.faults, 0, "no write inside a transaction faulted")
        XCTAssertEqual(try listValues(heap), [1, 2, 3])
        XCTAssertEqual(root.pointee.count, 13)
        try heap.close()

        let reopened = try PersistentHeap.open(path: path, options: .init(guarded: true))
        XCTAssertEqual(try listValues(reopened), [1, 2, 3])
        XCTAssertNotNil(reopened.pageGuard)
        try reopened.close()
        XCTAssertNil(reopened.pageGuard, "closing lifts the guard")
    }

    func testAStrayWriteIsReportedWithTheObjectItHitAndNothingReachesThePool() throws {
        let path = try scratchDirectory(self) + "/pool"
        let r = try CLI.run(
            executable: "PMemKitPackageTests.xctest", ["PMemHeapTests.GuardedHeapChild/testStrayWrite"],
            environment: [GuardedHeapChild.poolKey: path, "SWIFT_BACKTRACE": "enable=no"])

        XCTAssertEqual(r.status, SIGSEGV, "the child did not end by SIGSEGV: \(r.stderr)")
        let stray = r.stderr.split(separator: "\n").first { $0.hasPrefix("pmemkit: stray write at 0x") }
        XCTAssertTrue(stray?.contains("in 'heap \(path)', hitting test.Node #") == true, r.stderr)
        XCTAssertTrue(stray?.contains(" +0 (slab ") == true, r.stderr)
        XCTAssertFalse(r.stderr.contains("the stray write went through"), r.stderr)

        let heap = try PersistentHeap.open(path: path)
        XCTAssertTrue(heap.openReport.recoveredFromCrash)
        XCTAssertEqual(try listValues(heap), [1, 2, 3], "the stray value never reached the pool")
        try heap.close()
    }
}

/// What `GuardedHeapTests` runs in a child process, which ends by SIGSEGV.
/// Run directly (without `PMEMKIT_GUARDED_HEAP_CHILD`), it is skipped.
final class GuardedHeapChild: XCTestCase {
    static let poolKey = "PMEMKIT_GUARDED_HEAP_CHILD"

    func testStrayWrite() throws {
        guard let path = ProcessInfo.processInfo.environment[Self.poolKey] else {
            throw XCTSkip("runs only as the child process of GuardedHeapTests")
        }
        let heap = try PersistentHeap.create(path: path, size: 8 << 20, options: .init(guarded: true))
        try buildList(heap, [1, 2, 3])
        let head = try heap.root(ListRoot.self).pointee.head
        // A store that bypasses the transaction: the guard stops it.
        head.field(\.value).pointee = 999
        FileHandle.standardError.write(Data("the stray write went through\n".utf8))
        XCTFail("the stray write went through")
    }
}
