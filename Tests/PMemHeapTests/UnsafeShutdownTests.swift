import Foundation
import PMemKit
import XCTest

@testable import PMemHeap

/// An unsafe shutdown of a device under a pool while the pool is open: the
/// counts recorded at open and close, compared at the next open, with the
/// devices' counts from a test counter instead of the machine's NVDIMMs.
final class UnsafeShutdownTests: XCTestCase {
    /// A counter reporting one DIMM (or none) with a count the test moves.
    final class Counter: @unchecked Sendable {
        var count: UInt64 = 42
        var id = "nvdimm:cdab-0a-07e0-feffffff"
        var present = true
        var reads = 0

        func read(_ path: String) -> [ShutdownCount] {
            reads += 1
            return present ? [ShutdownCount(id: id, device: "nmem1", count: count, source: .smart)] : []
        }
    }

    private func options(_ counter: Counter, _ policy: UnsafeShutdownPolicy = .check) -> HeapOpenOptions {
        var options = HeapOpenOptions()
        options.unsafeShutdown = policy
        options.shutdownCounter = { counter.read($0) }
        return options
    }

    /// A pool with a list of three, left open (a copy taken while a heap had it open,
    /// as a power cut leaves it) with `counter`'s count recorded; returns the copy's path.
    private func poolLeftOpen(_ counter: Counter) throws -> String {
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        let created = try PersistentHeap.create(path: path, size: 8 << 20)
        _ = try buildList(created, [1, 2, 3])
        try created.close()
        // One open and close first, so that both record slots hold a record.
        try PersistentHeap.open(path: path, options: options(counter)).close()
        let heap = try PersistentHeap.open(path: path, options: options(counter))
        let copy = directory + "/left-open"
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        try heap.close()
        return copy
    }

    func testARiseWhileOpenIsReportedAndThePoolCheckedBeforeUse() throws {
        let counter = Counter()
        let path = try poolLeftOpen(counter)
        counter.count = 43
        let heap = try PersistentHeap.open(path: path, options: options(counter))
        let found = try XCTUnwrap(heap.openReport.unsafeShutdown)
        XCTAssertEqual(
            found.changes, [.init(id: counter.id, device: "nmem1", before: 42, after: 43)])
        XCTAssertEqual(found.checkProblems, 0)
        XCTAssertEqual(found.checkedObjects, 4, "the root and three nodes were walked")
        XCTAssertEqual(found.summary, "nmem1 counted 42 -> 43")
        XCTAssertEqual(try listValues(heap), [1, 2, 3])
        try heap.close()
        // Recorded again: the next open finds nothing new.
        let again = try PersistentHeap.open(path: path, options: options(counter))
        XCTAssertNil(again.openReport.unsafeShutdown)
        XCTAssertEqual(again.openReport.shutdownCounts.map(\.count), [43])
        try again.close()
    }

    func testRefusePolicyChangesNothing() throws {
        let counter = Counter()
        let path = try poolLeftOpen(counter)
        counter.count = 44
        let before = try fileBytes(path)
        XCTAssertThrowsError(try PersistentHeap.open(path: path, options: options(counter, .refuse))) {
            error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("was open during an unsafe shutdown (nmem1 counted 42 -> 44)"), text)
            XCTAssertTrue(text.contains("nothing was changed"), text)
            XCTAssertFalse(text.contains("\n"), "one line")
        }
        XCTAssertEqual(try fileBytes(path), before, "a refused open writes nothing")
        let info = try HeapInfo.read(path: path, counter: { counter.read($0) })
        XCTAssertEqual(
            info.unsafeShutdown?.summary, "nmem1 counted 42 -> 44", "heap info shows what is pending")
        XCTAssertEqual(info.shutdownCounts, [.init(id: counter.id, count: 42)])
    }

    func testACheckThatFindsDamageRefusesTheOpen() throws {
        let counter = Counter()
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        let created = try PersistentHeap.create(path: path, size: 8 << 20)
        _ = try buildList(created, [1, 2, 3])
        try created.close()
        let heap = try PersistentHeap.open(path: path, options: options(counter))
        // What a lost store looks like: the list's head no longer points at a node.
        let head = try heap.root(ListRoot.self).pointee.head
        head.pointee.next = PersistentPointer(UnsafeMutablePointer(bitPattern: 0xdead_0000))
        heap.pool.persist(head.address!, 16)
        let copy = directory + "/left-open"
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        try heap.close()
        counter.count = 43
        let before = try fileBytes(copy)
        XCTAssertThrowsError(try PersistentHeap.open(path: copy, options: options(counter))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("its check found 2 problems"), text)
            XCTAssertTrue(text.contains("0xdead0000 is outside the pool"), text)
        }
        XCTAssertEqual(try fileBytes(copy), before)
        // The caller may still look, knowingly.
        let ignored = try PersistentHeap.open(path: copy, options: options(counter, .ignore))
        XCTAssertEqual(ignored.openReport.unsafeShutdown?.checkProblems, nil)
        XCTAssertEqual(ignored.openReport.unsafeShutdown?.changes.count, 1)
        try ignored.close()
    }

    func testAProcessCrashWithoutARiseIsNoUnsafeShutdown() throws {
        let counter = Counter()
        let path = try poolLeftOpen(counter)
        let heap = try PersistentHeap.open(path: path, options: options(counter))
        XCTAssertTrue(heap.openReport.recoveredFromCrash)
        XCTAssertNil(heap.openReport.unsafeShutdown, "the count did not move: the platform saved everything")
        try heap.close()
    }

    func testARiseAfterACleanCloseIsNoUnsafeShutdown() throws {
        let counter = Counter()
        let path = try scratchDirectory(self) + "/pool"
        try PersistentHeap.create(path: path, size: 8 << 20).close()
        try PersistentHeap.open(path: path, options: options(counter)).close()
        counter.count = 50
        let heap = try PersistentHeap.open(path: path, options: options(counter))
        XCTAssertNil(heap.openReport.unsafeShutdown, "closed cleanly before the power was lost")
        try heap.close()
    }

    func testOtherDevicesOrNoneTellNothing() throws {
        let counter = Counter()
        let moved = try poolLeftOpen(counter)
        counter.id = "nvdimm:another-dimm"
        counter.count = 99
        let heap = try PersistentHeap.open(path: moved, options: options(counter))
        XCTAssertNil(heap.openReport.unsafeShutdown, "a pool copied to other devices cannot compare counts")
        try heap.close()
        let counter2 = Counter()
        let uncounted = try poolLeftOpen(counter2)
        counter2.present = false
        let plain = try PersistentHeap.open(path: uncounted, options: options(counter2))
        XCTAssertNil(plain.openReport.unsafeShutdown)
        XCTAssertEqual(plain.openReport.shutdownCounts, [])
        try plain.close()
    }

    func testATornRecordFallsBackToTheOtherSlot() throws {
        let counter = Counter()
        let path = try poolLeftOpen(counter)
        for slot in 0..<2 {
            let copy = path + ".slot\(slot)"
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: copy))
            try handle.seek(toOffset: UInt64(HeapFormat.shutdownSlotOffsets[slot] + 24))
            handle.write(Data([0xFF, 0xEE]))
            try handle.close()
            counter.count = 43
            // Both slots recorded 42 (the open and close before, then the open left open).
            let heap = try PersistentHeap.open(path: copy, options: options(counter, .ignore))
            XCTAssertEqual(heap.openReport.unsafeShutdown?.changes.first?.before, 42, "slot \(slot) damaged")
            try heap.close()
            counter.count = 42
        }
    }
}
