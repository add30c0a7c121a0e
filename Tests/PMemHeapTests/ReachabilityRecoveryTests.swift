import CPMemHeap
import Foundation
@_spi(Primitives) import PMemKit
import XCTest

@testable import PMemHeap

/// A pool created with `AllocationRecovery.reachability`: allocation and free
/// outside transactions persist nothing, and an open after a crash traces
/// from the root. A crash here is a copy of the pool file taken while the
/// heap has it open (the page cache holds every store, flushed or not: what a
/// killed process leaves); the kill-point campaign is
/// `CrashTests.testKillsWithReachabilityRecovery`.
final class ReachabilityRecoveryTests: XCTestCase {
    private func makePool(_ directory: String, size: Int = 8 << 20) throws -> PersistentHeap {
        try PersistentHeap.create(
            path: directory + "/pool", size: size,
            options: HeapCreateOptions(slabSize: 16 << 10, recovery: .reachability))
    }

    /// The crash image: the pool as a process killed now would leave it.
    private func crashCopy(_ heap: PersistentHeap, to path: String) throws {
        try FileManager.default.copyItem(atPath: heap.path, toPath: path)
    }

    /// Links `count` nodes allocated outside transactions into a list under a new root.
    private func linkList(_ heap: PersistentHeap, values: [Int64]) throws {
        let nodes = try heap.register(Node.self)
        let roots = try heap.register(ListRoot.self)
        var head = PersistentPointer<Node>.null
        for value in values.reversed() {
            let node = try heap.allocate(nodes)
            node.address!.pointee = Node(value: value, next: head)
            heap.persist(node)
            head = node
        }
        try heap.transaction { tx in
            let root = try tx.allocate(
                roots, ListRoot(head: head, count: Int64(values.count), sum: values.reduce(0, +)))
            try tx.setRoot(root)
        }
    }

    func testFormatVersionTwoAndInfo() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        XCTAssertEqual(heap.recovery, .reachability)
        try heap.close()
        let info = try HeapInfo.read(path: directory + "/pool")
        XCTAssertEqual(info.version, 2)
        XCTAssertEqual(info.recovery, "reachability")
        let logged = try PersistentHeap.create(path: directory + "/logged", size: 4 << 20)
        XCTAssertEqual(logged.recovery, .logged)
        try logged.close()
        XCTAssertEqual(try HeapInfo.read(path: directory + "/logged").version, 1)
    }

    /// Outside a transaction nothing reaches the log: no sequence number is drawn.
    func testAllocateAndFreeWriteNoRecord() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        let nodes = try heap.register(Node.self)
        try buildList(heap, [1, 2, 3])
        let before = heap.log.lastSequence
        var kept: [PersistentPointer<Node>] = []
        for i in 0..<1000 {
            let node = try heap.allocate(nodes)
            XCTAssertEqual(node.pointee, Node(value: 0, next: .null), "a new object reads as zeros")
            node.address!.pointee.value = Int64(i)
            if i % 2 == 0 { try heap.free(node) } else { kept.append(node) }
        }
        for node in kept { try heap.free(node) }
        XCTAssertEqual(heap.log.lastSequence, before, "no record was committed")
        XCTAssertThrowsError(try heap.free(kept[0])) { error in
            XCTAssertTrue("\(error)".contains("double free"), "\(error)")
        }
        try heap.close()
        let reopened = try PersistentHeap.open(path: directory + "/pool")
        defer { try? reopened.close() }
        XCTAssertNil(reopened.openReport.trace, "a clean close needs no trace")
        XCTAssertEqual(try listValues(reopened), [1, 2, 3])
        let check = try HeapChecker.check(path: directory + "/pool")
        XCTAssertTrue(check.healthy, "\(check.problems)")
        XCTAssertEqual(check.objects, 4)
    }

    /// Objects allocated and never linked are reclaimed by the open after a
    /// crash; those a committed transaction linked are kept, with the bytes
    /// written into them before `persist`.
    func testCrashReclaimsWhatNothingReaches() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        try linkList(heap, values: (0..<300).map(Int64.init))
        let nodes = try heap.register(Node.self)
        for _ in 0..<200 { _ = try heap.allocate(nodes) }  // never linked
        try crashCopy(heap, to: directory + "/crashed")
        try heap.close()

        let before = try HeapChecker.check(path: directory + "/crashed")
        XCTAssertTrue(before.healthy, "the check traces as the open will: \(before.problems)")
        XCTAssertTrue(
            before.notes.contains { $0.contains("traced it as the next open will") }, "\(before.notes)")
        XCTAssertEqual(before.objects, 301)

        let recovered = try PersistentHeap.open(path: directory + "/crashed")
        let trace = try XCTUnwrap(recovered.openReport.trace)
        XCTAssertEqual(trace.objects, 301, "the root and 300 nodes")
        XCTAssertEqual(trace.invalid, 0)
        XCTAssertEqual(trace.outside, 0)
        XCTAssertEqual(try listValues(recovered), (0..<300).map(Int64.init))
        // The reclaimed slots are allocatable again: 200 more fit in the slabs already used.
        try recovered.register(Node.self)
        try recovered.close()
        let after = try HeapChecker.check(path: directory + "/crashed")
        XCTAssertTrue(after.healthy, "\(after.problems)")
        XCTAssertEqual(after.objects, 301)
        XCTAssertEqual(after.reachable, 301)
    }

    /// The bitmaps on media held objects freed since: the trace counts them reclaimed.
    func testTraceCountsStoredObjectsItReclaims() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        try linkList(heap, values: [7, 8, 9])
        let nodes = try heap.register(Node.self)
        let loose = try (0..<50).map { _ in try heap.allocate(nodes) }
        try heap.close()  // the 50 are allocated in the stored bitmaps now
        let reopened = try PersistentHeap.open(path: directory + "/pool")
        try crashCopy(reopened, to: directory + "/crashed")
        try reopened.close()
        _ = loose
        let recovered = try PersistentHeap.open(path: directory + "/crashed")
        defer { try? recovered.close() }
        let trace = try XCTUnwrap(recovered.openReport.trace)
        XCTAssertEqual(trace.objects, 4)
        XCTAssertEqual(trace.reclaimed, 50)
        XCTAssertEqual(try listValues(recovered), [7, 8, 9])
    }

    /// A slab whose objects nothing reaches goes back to the free slabs.
    func testTraceFreesEmptySlabs() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        try linkList(heap, values: [1])
        let trees = try heap.register(TreeNode.self)
        for _ in 0..<2000 { _ = try heap.allocate(trees) }  // several 16 KiB slabs of nothing linked
        let usedBefore = try HeapStats.read(path: heap.path).slabsUsed
        try crashCopy(heap, to: directory + "/crashed")
        try heap.close()
        let recovered = try PersistentHeap.open(path: directory + "/crashed")
        let trace = try XCTUnwrap(recovered.openReport.trace)
        XCTAssertGreaterThanOrEqual(trace.slabsFreed, 3)
        try recovered.close()
        let stats = try HeapStats.read(path: directory + "/crashed")
        XCTAssertLessThanOrEqual(stats.slabsUsed, usedBefore - 3)
        XCTAssertTrue(try HeapChecker.check(path: directory + "/crashed").healthy)
    }

    /// After a crash at another base, the trace moves every pointer it reads
    /// (one walk), and the relocation is recorded as done.
    func testTraceRelocatesInTheSameWalk() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        try linkList(heap, values: (0..<500).map(Int64.init))
        try crashCopy(heap, to: directory + "/crashed")
        try heap.close()
        let recovered = try PersistentHeap.open(
            path: directory + "/crashed", options: HeapOpenOptions(placement: .differentFromRecorded))
        let trace = try XCTUnwrap(recovered.openReport.trace)
        XCTAssertTrue(recovered.openReport.relocated)
        XCTAssertNil(recovered.openReport.relocation, "no separate relocation walk")
        XCTAssertEqual(trace.moved, 501, "the root pointer, the root's head and 499 next pointers")
        XCTAssertEqual(try listValues(recovered), (0..<500).map(Int64.init))
        try recovered.close()
        let info = try HeapInfo.read(path: directory + "/crashed")
        XCTAssertEqual(info.bases.count, 1)
        XCTAssertTrue(try HeapChecker.check(path: directory + "/crashed").healthy)
    }

    /// A pointer that leads to no object could hide live objects from the
    /// trace: the open refuses with nothing rebuilt unless told to reclaim.
    func testUnresolvedPointersStopTheRebuild() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        try linkList(heap, values: [1, 2, 3, 4])
        // Damage: the second node's next pointer into the type table.
        let second = try heap.root(ListRoot.self).pointee.head.pointee.next
        second.address!.pointee.next = PersistentPointer(
            (heap.base + heap.geometry.typeTableOffset).assumingMemoryBound(to: Node.self))
        try crashCopy(heap, to: directory + "/crashed")
        try heap.close()
        for _ in 0..<2 {  // refused again: the first refusal rebuilt nothing
            XCTAssertThrowsError(try PersistentHeap.open(path: directory + "/crashed")) { error in
                XCTAssertTrue("\(error)".contains("1 pointer that lead to no object"), "\(error)")
            }
        }
        var options = HeapOpenOptions()
        options.unresolvedPointers = .reclaimUnreached
        let accepted = try PersistentHeap.open(path: directory + "/crashed", options: options)
        XCTAssertEqual(accepted.openReport.trace?.objects, 3, "the root and the first two nodes")
        XCTAssertEqual(accepted.openReport.trace?.reclaimed, 2)
        try accepted.close()
    }

    /// A root pointer that leads to no object is refused: the trace would reclaim everything.
    func testADamagedRootIsRefused() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        try linkList(heap, values: [1])
        try heap.close()
        // Open again, so no record is pending: replay would otherwise write the root line back.
        let reopened = try PersistentHeap.open(path: directory + "/pool")
        try crashCopy(reopened, to: directory + "/crashed")
        try reopened.close()
        var data = try fileBytes(directory + "/crashed")
        data.withUnsafeMutableBytes {
            $0.storeBytes(of: UInt64(0x10), toByteOffset: HeapFormat.rootPointerOffset, as: UInt64.self)
        }
        try data.write(to: URL(fileURLWithPath: directory + "/crashed"))
        XCTAssertThrowsError(try PersistentHeap.open(path: directory + "/crashed")) { error in
            XCTAssertTrue("\(error)".contains("leads to no object"), "\(error)")
        }
        XCTAssertThrowsError(try PersistentHeap.open(path: directory + "/crashed"), "still refused")
    }

    /// A replicator's observers must see every change as a record: then
    /// `allocate` is a transaction again.
    func testObservedHeapAllocatesInTransactions() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        defer { try? heap.close() }
        let nodes = try heap.register(Node.self)
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        seen.initialize(to: 0)
        defer { seen.deallocate() }
        let counter = UnsafeSendableBox(seen)
        heap.addObserver { _ in counter.value.pointee += 1 }
        let node = try heap.allocate(nodes)
        try heap.free(node)
        XCTAssertEqual(seen.pointee, 2, "allocate and free each committed a record")
    }

    /// A version 2 pool naming a feature this build does not know is refused
    /// with one line, and so is a version 1 identity that names features.
    func testUnknownFeaturesAreRefused() throws {
        let directory = try scratchDirectory(self)
        try makePool(directory).close()
        let path = directory + "/pool"
        let original = try fileBytes(path)
        try rewriteIdentity(path) { $0.features |= 0x80 }
        XCTAssertThrowsError(try PersistentHeap.open(path: path)) { error in
            XCTAssertTrue("\(error)".contains("features this build does not know (0x80)"), "\(error)")
        }
        try original.write(to: URL(fileURLWithPath: path))
        try rewriteIdentity(path) { $0.version = 1 }
        XCTAssertThrowsError(try PersistentHeap.open(path: path)) { error in
            XCTAssertTrue("\(error)".contains("inconsistent"), "\(error)")
        }
    }

    /// Rewrites the identity block (with a valid checksum) as `change` says.
    private func rewriteIdentity(_ path: String, _ change: (inout pmh_pool_identity) -> Void) throws {
        var data = try fileBytes(path)
        data.withUnsafeMutableBytes { raw in
            var identity = raw.load(as: pmh_pool_identity.self)
            change(&identity)
            raw.storeBytes(of: identity, as: pmh_pool_identity.self)
            let checked = MemoryLayout<pmh_pool_identity>.offset(of: \.checksum)!
            identity.checksum = Checksum.of(
                raw.baseAddress!, checked, seed: HeapFormat.Seed.identity.rawValue)
            raw.storeBytes(of: identity, as: pmh_pool_identity.self)
        }
        try data.write(to: URL(fileURLWithPath: path))
    }
}

/// A pointer a test hands to a closure the heap calls on the committing thread.
private struct UnsafeSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
