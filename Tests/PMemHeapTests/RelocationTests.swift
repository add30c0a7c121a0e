import Foundation
import PMemKit
import XCTest

@testable import PMemHeap

final class RelocationTests: XCTestCase {
    func testOpenAtADifferentBaseRelocatesEveryPointer() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 16 << 20)
        try buildList(heap, Array(0..<5000))
        let oldBase = heap.base
        try heap.close()
        let moved = try PersistentHeap.open(path: path, options: .init(placement: .differentFromRecorded))
        XCTAssertNotEqual(moved.base, oldBase)
        XCTAssertTrue(moved.openReport.relocated)
        XCTAssertEqual(
            moved.openReport.relocation?.moved, 5000 + 1,
            "every next pointer but the last, the head, and the root")
        XCTAssertEqual(moved.openReport.relocation?.outside, 0)
        XCTAssertEqual(try listValues(moved), Array(0..<5000))
        try moved.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    func testRelocationRunTwiceMovesNothingTheSecondTime() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 16 << 20)
        try buildList(heap, Array(0..<1000))
        let oldBase = heap.baseAddress
        try heap.close()
        let moved = try PersistentHeap.open(path: path, options: .init(placement: .differentFromRecorded))
        // Again, as after a crash before the state was settled: already-moved pointers stay put.
        let snapshot = try PoolSnapshot.load(base: moved.base, fileSize: moved.geometry.poolSize, path: path)
        let runtimes = snapshot.types.map {
            TypeRuntime(
                id: $0.id, description: $0.description,
                layout: SlabLayout(
                    stride: $0.stride, alignment: $0.description.alignment, slabSize: moved.geometry.slabSize)!
            )
        }
        let again = Relocator.run(
            pool: moved.pool, geometry: moved.geometry, slabTypes: snapshot.slabTypes, types: runtimes,
            from: [oldBase],
            threads: 2, progress: nil)
        XCTAssertEqual(again.moved, 0)
        XCTAssertEqual(again.pointers, 999 + 1)
        XCTAssertEqual(try listValues(moved), Array(0..<1000))
    }

    func testHalfRelocatedPoolReopenedElsewhereIsWhole() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 16 << 20, options: .init(slabSize: 4096))
        try buildList(heap, Array(0..<3000))
        let firstBase = heap.baseAddress
        try heap.close()
        // Relocate by hand to a second base, stopping after half the slabs, as a crash would. The
        // second base is where the kernel maps the pool while the first range is held (a fixed address
        // could fall where a sanitizer's runtime reserves memory).
        // (Still mapped by the closed heap: EEXIST; else held here.)
        let hold = mmap(
            UnsafeMutableRawPointer(bitPattern: UInt(firstBase)), 16 << 20, PROT_NONE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
        let held = hold != MAP_FAILED
        XCTAssertTrue(held || errno == EEXIST, "errno \(errno)")
        defer { if held { munmap(hold, 16 << 20) } }
        let second = try PMemMapping(path: path, options: .init(size: 16 << 20))
        XCTAssertNotEqual(UInt64(UInt(bitPattern: second.base)), firstBase)
        let snapshot = try PoolSnapshot.load(base: second.base, fileSize: second.size, path: path)
        let pool = PoolMemory(mapping: second, salt: snapshot.identity.salt)
        var state = snapshot.state
        state.generation += 1
        state.bases = [pool.baseAddress, firstBase]
        state.write(into: pool, replacing: snapshot.stateSlot)
        let typed = snapshot.slabTypes.enumerated().filter { $0.element != 0 }.map(\.offset)
        var partial = snapshot.slabTypes
        for slab in typed.suffix(typed.count / 2) { partial[slab] = 0 }
        let runtimes = snapshot.types.map {
            TypeRuntime(
                id: $0.id, description: $0.description,
                layout: SlabLayout(stride: $0.stride, alignment: $0.description.alignment, slabSize: 4096)!)
        }
        let half = Relocator.run(
            pool: pool, geometry: snapshot.geometry, slabTypes: partial, types: runtimes, from: [firstBase],
            threads: 1,
            progress: nil)
        XCTAssertGreaterThan(half.moved, 0)
        let secondBase = UInt64(UInt(bitPattern: second.base))
        withExtendedLifetime(second) {}
        let info = try HeapInfo.read(path: path)
        XCTAssertTrue(info.relocationPending)
        XCTAssertTrue(try HeapChecker.check(path: path).healthy, "mixed pointers still resolve")
        // Reopen at a third base: the relocation finishes from both earlier bases.
        let third = try PersistentHeap.open(path: path, options: .init(placement: .differentFromRecorded))
        XCTAssertNotEqual(third.baseAddress, firstBase)
        XCTAssertNotEqual(third.baseAddress, secondBase)
        XCTAssertEqual(try listValues(third), Array(0..<3000))
        try third.close()
        XCTAssertFalse(try HeapInfo.read(path: path).relocationPending)
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    func testProgressIsReportedAndEndsComplete() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 16 << 20)
        try buildList(heap, Array(0..<2000))
        try heap.close()
        let last = UnsafeSendable(UnsafeMutablePointer<Int>.allocate(capacity: 2))
        defer { last.value.deallocate() }
        let options = HeapOpenOptions(placement: .differentFromRecorded) { progress in
            last.value[0] = progress.slabsDone
            last.value[1] = progress.slabsTotal
        }
        _ = try PersistentHeap.open(path: path, options: options)
        XCTAssertGreaterThan(last.value[1], 0)
        XCTAssertEqual(last.value[0], last.value[1])
    }

    func testPlacementComesFromTheEnvironment() throws {
        XCTAssertEqual(HeapPlacement.requested(by: try Overrides(environment: [:])), .recorded)
        XCTAssertEqual(
            HeapPlacement.requested(by: try Overrides(environment: ["PMEMKIT_HEAP_RELOCATE": "1"])),
            .differentFromRecorded)
        XCTAssertEqual(
            HeapPlacement.requested(by: try Overrides(environment: ["PMEMKIT_HEAP_BASE": "0x300000000000"])),
            .exactly(0x3000_0000_0000)
        )
    }

    func testEnvironmentForcesADifferentBase() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        try buildList(heap, [4, 5])
        let oldBase = heap.baseAddress
        try heap.close()
        // The process's environment is parsed once (Overrides); the crash
        // tests set PMEMKIT_HEAP_RELOCATE=1 on child processes for real.
        let overrides = try Overrides(environment: ["PMEMKIT_HEAP_RELOCATE": "1"])
        let moved = try PersistentHeap.open(
            path: path, options: HeapOpenOptions(placement: .requested(by: overrides)))
        XCTAssertNotEqual(moved.baseAddress, oldBase)
        XCTAssertEqual(try listValues(moved), [4, 5])
    }

    func testTreeWithTwoPointerFieldsSurvivesRelocation() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 16 << 20)
        let trees = try heap.register(TreeNode.self)
        var keys = Array(0..<2000).map { Int64($0) }
        var generator = SystemRandomNumberGenerator()
        keys.shuffle(using: &generator)
        try heap.transaction { tx in
            var root = PersistentPointer<TreeNode>.null
            for key in keys {
                let node = try tx.allocate(trees, TreeNode(key: key, left: .null, flags: 0, right: .null))
                if root.isNull {
                    root = node
                    try tx.setRoot(root)
                    continue
                }
                var at = root
                while true {
                    let goLeft = key < at.pointee.key
                    // Links written earlier in this transaction are pending: read through the transaction.
                    let link = goLeft ? at.field(\.left) : at.field(\.right)
                    let child = tx.read(link)
                    if child.isNull {
                        try tx.write(node, to: link)
                        break
                    }
                    at = child
                }
            }
        }
        try heap.close()
        let moved = try PersistentHeap.open(path: path, options: .init(placement: .differentFromRecorded))
        func inorder(_ node: PersistentPointer<TreeNode>, _ out: inout [Int64]) {
            guard !node.isNull else { return }
            inorder(node.pointee.left, &out)
            out.append(node.pointee.key)
            inorder(node.pointee.right, &out)
        }
        var out: [Int64] = []
        inorder(try moved.root(trees), &out)
        XCTAssertEqual(out, Array(0..<2000))
    }
}

extension PersistentHeap {
    var baseAddress: UInt64 { UInt64(UInt(bitPattern: base)) }
}
