import CPMemHeap
import Foundation
@_spi(Primitives) import PMemKit
import XCTest

@testable import PMemHeap

/// Pools that grow and shrink, slabs that return to the free slabs.
final class PoolResizeTests: XCTestCase {
    private func fileSize(_ path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
    }

    /// Fills `count` tree nodes under the root (one transaction per 500).
    private func fill(_ heap: PersistentHeap, count: Int) throws {
        let roots = try heap.register(ListRoot.self)
        let nodes = try heap.register(Node.self)
        if try heap.root(roots).isNull {
            try heap.transaction { tx in
                try tx.setRoot(try tx.allocate(roots, ListRoot(head: .null, count: 0, sum: 0)))
            }
        }
        let root = try heap.root(roots)
        for start in stride(from: 0, to: count, by: 500) {
            try heap.transaction { tx in
                var head = tx.read(root.field(\.head))
                for i in start..<min(start + 500, count) {
                    head = try tx.allocate(nodes, Node(value: Int64(i), next: head))
                }
                try tx.write(head, to: root.field(\.head))
                try tx.write(
                    tx.read(root.field(\.count)) + Int64(min(500, count - start)), to: root.field(\.count))
            }
        }
    }

    func testGrowAddsSlabsAndKeepsEverything() throws {
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        let heap = try PersistentHeap.create(
            path: path, size: 2 << 20, options: HeapCreateOptions(slabSize: 16 << 10))
        try buildList(heap, [4, 5, 6])
        let slabs = heap.geometry.slabCount
        try heap.close()
        let report = try PersistentHeap.grow(path: path, to: 8 << 20)
        XCTAssertEqual(report.oldSlabs, slabs)
        XCTAssertGreaterThan(report.newSlabs, slabs * 3)
        XCTAssertEqual(try fileSize(path), 8 << 20)
        let grown = try PersistentHeap.open(path: path)
        XCTAssertEqual(grown.geometry.slabCount, report.newSlabs)
        XCTAssertEqual(try listValues(grown), [4, 5, 6])
        // More than the old pool held: the new slabs are used.
        try fill(grown, count: 200_000)
        XCTAssertGreaterThan(try HeapStats.read(path: path).slabsUsed, slabs)
        try grown.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    func testAnEmptyPoolShrinksToOneSlabAndNoFurther() throws {
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        try PersistentHeap.create(path: path, size: 4 << 20).close()
        XCTAssertThrowsError(try PersistentHeap.shrink(path: path, to: 4096)) { error in
            XCTAssertTrue("\(error)".contains("4096 bytes leaves no room for a slab"), "\(error)")
        }
        let report = try PersistentHeap.shrink(path: path)
        XCTAssertEqual(report.newSlabs, 1)
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    func testGrowRefusalsChangeNothing() throws {
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        try PersistentHeap.create(
            path: path, size: 2 << 20, options: HeapCreateOptions(slabSize: 16 << 10, maxSize: 4 << 20)
        ).close()
        let before = try fileBytes(path)
        for (size, words) in [
            (1 << 20, "not larger"), (2 << 20, "not larger"), ((2 << 20) + 100, "adds no whole slab"),
            (64 << 20, "slab directory has room for"),
        ] {
            XCTAssertThrowsError(try PersistentHeap.grow(path: path, to: size)) { error in
                XCTAssertTrue("\(error)".contains(words), "\(size): \(error)")
                XCTAssertTrue("\(error)".contains("nothing was changed"), "\(error)")
            }
        }
        // Only the open-and-close that recovers first wrote anything: the geometry is as it was.
        XCTAssertEqual(try fileSize(path), before.count)
        XCTAssertEqual(try HeapInfo.read(path: path).size, 2 << 20)
    }

    /// Freed objects' slabs go back to the free slabs (at the latest at close),
    /// and a shrink drops the free tail; it refuses to cut a slab in use.
    func testShrinkDropsTheFreeTail() throws {
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        let heap = try PersistentHeap.create(
            path: path, size: 16 << 20, options: HeapCreateOptions(slabSize: 16 << 10))
        try fill(heap, count: 60_000)
        let used = try HeapStats.read(path: path).slabsUsed
        XCTAssertGreaterThan(used, 50)
        // Free every node but the last pushed 500.
        let root = try heap.root(ListRoot.self)
        var previous = root.pointee.head
        for _ in 0..<499 { previous = previous.pointee.next }
        var cut = previous.pointee.next
        try heap.transaction { tx in
            try tx.write(PersistentPointer<Node>.null, to: previous.field(\.next))
            try tx.write(Int64(500), to: root.field(\.count))
        }
        while !cut.isNull {
            try heap.transaction { tx in
                for _ in 0..<2000 where !cut.isNull {
                    let next = cut.pointee.next
                    try tx.free(cut)
                    cut = next
                }
            }
        }
        try heap.close()
        let after = try HeapStats.read(path: path).slabsUsed
        XCTAssertLessThan(after, used / 10, "the emptied slabs went back at close")

        XCTAssertThrowsError(try PersistentHeap.shrink(path: path, to: 1 << 20)) { error in
            XCTAssertTrue("\(error)".contains("which holds 'test."), "\(error)")
            XCTAssertTrue("\(error)".contains("the smallest size is"), "\(error)")
        }

        let report = try PersistentHeap.shrink(path: path)
        XCTAssertLessThan(report.newSize, report.oldSize / 2)
        XCTAssertEqual(try fileSize(path), report.newSize)
        let shrunk = try PersistentHeap.open(path: path)
        XCTAssertEqual(try listValues(shrunk).count, 500)
        try shrunk.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
        // And it grows again.
        XCTAssertEqual(try PersistentHeap.grow(path: path, to: 16 << 20).newSize, 16 << 20)
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    /// A slab whose last object is freed while the heap is open goes back to
    /// the free slabs, and another type takes it.
    func testEmptiedSlabReturnsWhileOpen() throws {
        let directory = try scratchDirectory(self)
        let heap = try PersistentHeap.create(
            path: directory + "/pool", size: 4 << 20, options: HeapCreateOptions(slabSize: 4096))
        defer { try? heap.close() }
        let nodes = try heap.register(Node.self)
        let trees = try heap.register(TreeNode.self)
        var objects: [PersistentPointer<Node>] = []
        try heap.transaction { tx in
            for i in 0..<2000 { objects.append(try tx.allocate(nodes, Node(value: Int64(i), next: .null))) }
        }
        // Another thread owns nothing; this thread's cache owns one slab (kept). Free from a second thread.
        let done = DispatchSemaphore(value: 0)
        let box = UnsafeTransfer(objects)
        Thread {
            for object in box.value { try? heap.free(object) }
            done.signal()
        }.start()
        done.wait()
        XCTAssertGreaterThan(heap.allocator.returnedSlabs, 5)
        let free = (0..<heap.geometry.slabCount).filter { heap.allocator.slabTypes[$0] == 0 }.count
        _ = try heap.transaction { tx in
            for _ in 0..<3000 {
                _ = try tx.allocate(trees, TreeNode(key: 1, left: .null, flags: 0, right: .null))
            }
        }
        let freeAfter = (0..<heap.geometry.slabCount).filter { heap.allocator.slabTypes[$0] == 0 }.count
        XCTAssertLessThan(freeAfter, free)
    }

    /// Killed at every step of a grow and of a shrink: the next open finds
    /// either pool, whole, and finishes the resize.
    func testResizeKilledAtEveryStep() throws {
        let harness = try CrashHarness(directory: try scratchDirectory(self))
        let pool = harness.directory + "/pool"
        let populate = try harness.run(harness.child, ["populate", pool, "3000"])
        XCTAssertEqual(populate.status, 0, populate.stderr)
        let first = try harness.run(harness.child, ["verify", pool, "-", "-"])
        guard let committed = CrashHarness.committed(first.stdout) else { return XCTFail(first.stderr) }
        var kills = 0
        var size = 32 << 20
        for point in 1...4 {
            for operation in ["grow", "shrink"] {
                if operation == "grow" {
                    size += 16 << 20
                } else {
                    // Something to shrink: a grow that is not killed first.
                    size += 16 << 20
                    let grow = try harness.run(harness.child, ["resize", pool, "grow", "\(size)"])
                    XCTAssertEqual(grow.status, 0, grow.stderr)
                }
                let run = try harness.run(
                    harness.child, ["resize", pool, operation, operation == "grow" ? "\(size)" : "-"],
                    environment: ["PMEMKIT_CRASH_AT": "heap.resize.:\(point)"])
                XCTAssertTrue(run.killed || run.status == 0, "\(operation) \(point): \(run.stderr)")
                kills += run.killed ? 1 : 0
                let verify = try harness.run(
                    harness.child, ["verify", pool, "\(committed[0])", "\(committed[1])"])
                XCTAssertEqual(verify.status, 0, "after \(operation) killed at \(point): \(verify.stderr)")
                let info = try HeapInfo.read(path: pool)
                XCTAssertLessThanOrEqual(info.size, try fileSize(pool))
                XCTAssertTrue(
                    try fileBytes(pool)[1536..<1792].allSatisfy { $0 == 0 }, "the open finished the resize")
                size = info.size
            }
        }
        XCTAssertGreaterThanOrEqual(kills, 6)
    }

    /// A torn identity block with a valid resize slot: the open rolls the slot forward.
    func testTornIdentityRollsForwardFromTheResizeSlot() throws {
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        let heap = try PersistentHeap.create(
            path: path, size: 2 << 20, options: HeapCreateOptions(slabSize: 16 << 10))
        try buildList(heap, [1, 2])
        try heap.close()
        // What a grow to 4 MiB leaves when killed while overwriting the identity block.
        let mapping = try PMemMapping(path: path, options: .init(size: 4 << 20))
        let snapshot = try PoolSnapshot.load(base: mapping.base, fileSize: 2 << 20, path: path)
        var grown = snapshot.identity
        grown.geometry.poolSize = 4 << 20
        grown.geometry.slabCount =
            (grown.geometry.poolSize - grown.geometry.slabsOffset) / grown.geometry.slabSize
        grown.write(to: mapping.base + PoolIdentity.resizeSlotOffset)
        mapping.base.storeBytes(of: UInt64(0xdead), toByteOffset: 40, as: UInt64.self)  // torn geometry
        mapping.persist(mapping.base, 4096)
        XCTAssertEqual(try HeapInfo.read(path: path).size, 4 << 20, "readers take the slot")
        let reopened = try PersistentHeap.open(path: path)
        XCTAssertEqual(reopened.geometry.poolSize, 4 << 20)
        XCTAssertEqual(try listValues(reopened), [1, 2])
        try reopened.close()
        let header = try fileBytes(path)
        XCTAssertTrue(header[1536..<1792].allSatisfy { $0 == 0 }, "the slot is cleared")
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }
}

/// Hands a value to another thread in a test that waits for it.
private struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// More than 128 types: the type table's size is chosen at create.
final class TypeCapacityTests: XCTestCase {
    func testAPoolHoldsAsManyTypesAsItWasMadeFor() throws {
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        let types = try (0..<300).map {
            try TypeDescription(name: "t\($0)", size: 8 * ($0 % 7 + 1), alignment: 8, pointerOffsets: [0])
        }
        let heap = try PersistentHeap.create(
            path: path, size: 16 << 20, options: HeapCreateOptions(typeCapacity: 300), types: types)
        XCTAssertThrowsError(
            try heap.register(TypeDescription(name: "one more", size: 8, alignment: 8, pointerOffsets: []))
        ) { error in
            XCTAssertTrue("\(error)".contains("type table is full (300 types)"), "\(error)")
        }
        try heap.transaction { tx in
            let last = try tx.allocateZeroed(typeID: 300)
            _ = last
        }
        try heap.close()
        let reopened = try PersistentHeap.open(path: path, types: types)
        XCTAssertEqual(reopened.types.count, 300)
        try reopened.close()
        XCTAssertEqual(try HeapInfo.read(path: path).typeCapacity, 300)
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    func testTheDefaultCapacityGrowsWithThePool() throws {
        XCTAssertEqual(
            try PoolGeometry.plan(poolSize: 16 << 20, slabSize: nil, logSize: nil).typeCapacity, 128)
        XCTAssertEqual(
            try PoolGeometry.plan(poolSize: 1 << 30, slabSize: nil, logSize: nil).typeCapacity, 1024)
        XCTAssertEqual(
            try PoolGeometry.plan(poolSize: 64 << 30, slabSize: nil, logSize: nil).typeCapacity, 4096)
        XCTAssertThrowsError(
            try PoolGeometry.plan(poolSize: 16 << 20, slabSize: nil, logSize: nil, typeCapacity: 5000))
    }
}

/// A damaged pool whose resize slot holds garbage is reported with nothing written.
final class ResizeSlotDamageTests: XCTestCase {
    func testGarbageInTheSlotOfADamagedPoolIsLeftAlone() throws {
        let directory = try scratchDirectory(self)
        let path = directory + "/pool"
        try PersistentHeap.create(path: path, size: 2 << 20).close()
        var data = try fileBytes(path)
        data[40] ^= 0xff  // the identity block's geometry
        data[1536] = 0x5a  // the resize slot in use, and not valid
        try data.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try PersistentHeap.open(path: path)) { error in
            XCTAssertTrue("\(error)".contains("identity block is damaged"), "\(error)")
        }
        XCTAssertEqual(try fileBytes(path), data, "nothing was written")
        // With the identity block intact, a torn slot is dropped and the pool opens.
        data[40] ^= 0xff
        try data.write(to: URL(fileURLWithPath: path))
        try PersistentHeap.open(path: path).close()
        XCTAssertEqual(try fileBytes(path)[1536], 0)
    }
}
