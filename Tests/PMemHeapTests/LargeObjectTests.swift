import Foundation
@_spi(Primitives) import PMemKit
import XCTest

@testable import PMemHeap

/// Objects larger than a slab: a run of consecutive slabs, the first naming the type.
final class LargeObjectTests: XCTestCase {
    /// 200 KiB with a pointer at its start and one at its end: 13 slabs of 16 KiB.
    private func bigType() throws -> TypeDescription {
        try TypeDescription(
            name: "test.Big", size: 200 << 10, alignment: 8, pointerOffsets: [0, (200 << 10) - 8])
    }

    private func makePool(_ directory: String, recovery: AllocationRecovery = .logged) throws
        -> PersistentHeap
    {
        try PersistentHeap.create(
            path: directory + "/pool", size: 8 << 20,
            options: HeapCreateOptions(slabSize: 16 << 10, recovery: recovery), types: [try bigType()])
    }

    /// Allocates a big object in a transaction, points its last word at a node and
    /// its first at `previous`, fills its middle, and makes it the root's head.
    @discardableResult
    private func linkBig(_ heap: PersistentHeap, id: UInt32, previous: UnsafeMutableRawPointer?, fill: UInt8)
        throws -> UnsafeMutableRawPointer
    {
        let nodes = try heap.register(Node.self)
        return try heap.transaction { tx in
            let big = try tx.allocateZeroed(typeID: id)
            let node = try tx.allocate(nodes, Node(value: Int64(fill), next: .null))
            var first = UInt64(UInt(bitPattern: previous))
            var last = UInt64(UInt(bitPattern: node.rawAddress))
            var middle = [UInt8](repeating: fill, count: 1000)
            try tx.write(bytes: &first, count: 8, to: big)
            try tx.write(bytes: &last, count: 8, to: big + (200 << 10) - 8)
            try tx.write(bytes: &middle, count: 1000, to: big + (100 << 10))
            return big
        }
    }

    private func freeSlabs(_ heap: PersistentHeap) -> Int {
        (0..<heap.geometry.slabCount).filter {
            heap.allocator.slabTypes[$0] == 0 && !heap.allocator.isContinuation($0)
        }.count
    }

    func testALargeObjectSpansARunAndComesBackWhenFreed() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        let id = UInt32(1)
        XCTAssertEqual(heap.allocator.types[1]!.layout.slabsPerObject, 13)
        let before = freeSlabs(heap)
        let big = try linkBig(heap, id: id, previous: nil, fill: 7)
        XCTAssertEqual(freeSlabs(heap), before - 14, "13 for the object, one for its node")
        XCTAssertEqual(big.load(fromByteOffset: 100 << 10, as: UInt8.self), 7)
        try heap.close()
        XCTAssertEqual(try HeapStats.read(path: heap.path).types[0].slabs, 13)
        let check = try HeapChecker.check(path: heap.path)
        XCTAssertTrue(check.healthy, "\(check.problems)")
        XCTAssertEqual(check.objects, 2)

        // Reopened elsewhere: both pointers of the big object move, its bytes stay.
        let moved = try PersistentHeap.open(
            path: heap.path, types: [try bigType()],
            options: HeapOpenOptions(placement: .differentFromRecorded))
        let stats = try XCTUnwrap(moved.openReport.relocation)
        XCTAssertEqual(stats.moved, 1, "the last word's pointer (the first is null)")
        let object = try XCTUnwrap(
            (0..<moved.geometry.slabCount).first { moved.allocator.slabTypes[$0] == id }.map {
                moved.base + moved.geometry.slabOffset($0) + moved.allocator.types[1]!.layout.objectsOffset
            })
        XCTAssertEqual(object.load(fromByteOffset: 100 << 10, as: UInt8.self), 7)
        let node = UnsafeRawPointer(
            bitPattern: UInt(object.load(fromByteOffset: (200 << 10) - 8, as: UInt64.self)))!
        XCTAssertEqual(node.load(as: Int64.self), 7)
        let free = freeSlabs(moved)
        try moved.transaction { try $0.freeRaw(object) }
        try moved.close()
        let reopened = try PersistentHeap.open(path: heap.path)
        defer { try? reopened.close() }
        XCTAssertEqual(freeSlabs(reopened), free + 13, "the run went back to the free slabs")
    }

    func testRunsAreFoundAmongUsedSlabsAndTheHeapSaysWhenNoneIsLeft() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory)
        defer { try? heap.close() }
        var objects: [UnsafeMutableRawPointer] = []
        XCTAssertThrowsError(
            try {
                while true { objects.append(try linkBig(heap, id: 1, previous: objects.last, fill: 1)) }
            }()
        ) { error in
            XCTAssertTrue("\(error)".contains("free slabs in a row for a 'test.Big' object"), "\(error)")
        }
        XCTAssertGreaterThan(objects.count, 10)
        // Free every other one: runs of 13 open up between used slabs and are reused.
        try heap.transaction { tx in
            for object in objects.enumerated() where object.offset % 2 == 1 { try tx.freeRaw(object.element) }
        }
        for _ in 0..<(objects.count / 2) { try linkBig(heap, id: 1, previous: nil, fill: 2) }
    }

    /// A reachability pool: a big object nothing links is reclaimed by the
    /// trace after a crash, its continuation words with it.
    func testTheTraceReclaimsAnUnlinkedRun() throws {
        let directory = try scratchDirectory(self)
        let heap = try makePool(directory, recovery: .reachability)
        let roots = try heap.register(ListRoot.self)
        let kept = try linkBig(heap, id: 1, previous: nil, fill: 3)
        _ = try linkBig(heap, id: 1, previous: nil, fill: 4)  // linked from nothing
        try heap.transaction { tx in
            let root = try tx.allocate(roots, ListRoot(head: .null, count: 0, sum: 0))
            // The root's head field is a Node pointer: point it at the kept object's node (its last word).
            let node = kept.load(fromByteOffset: (200 << 10) - 8, as: UInt64.self)
            try tx.write(
                PersistentPointer<Node>(UnsafeMutablePointer(bitPattern: UInt(node))), to: root.field(\.head))
            try tx.setRoot(root)
        }
        try FileManager.default.copyItem(atPath: heap.path, toPath: directory + "/crashed")
        try heap.close()
        let recovered = try PersistentHeap.open(path: directory + "/crashed")
        let trace = try XCTUnwrap(recovered.openReport.trace)
        XCTAssertEqual(trace.objects, 2, "the root and one node")
        XCTAssertEqual(trace.slabsFreed, 2, "both big objects' runs: nothing points at them")
        XCTAssertFalse((0..<recovered.geometry.slabCount).contains { recovered.allocator.isContinuation($0) })
        try recovered.close()
        XCTAssertTrue(try HeapChecker.check(path: directory + "/crashed").healthy)
    }

    /// Killed in every step of large allocation and return: the reopened pool
    /// is consistent and holds the committed object.
    func testKillsDuringLargeAllocation() throws {
        let harness = try CrashHarness(directory: try scratchDirectory(self))
        let pool = harness.directory + "/pool"
        var kills = 0
        for iteration in 0..<(60 * CrashHarness.scale) {
            let label = ["heap.large.", "heap.slab.", "heap.tx."][iteration % 3]
            let run = try harness.run(
                harness.child, ["large", pool, "\(iteration)"],
                environment: ["PMEMKIT_CRASH_AT": "\(label):\(1 + iteration % 7)"])
            XCTAssertTrue(run.killed || run.status == 0, run.stderr)
            kills += run.killed ? 1 : 0
            let verify = try harness.run(harness.child, ["large-verify", pool])
            guard verify.status == 0 else {
                try? FileManager.default.copyItem(atPath: pool, toPath: "/tmp/pmemheap-large-failed.pool")
                return XCTFail("iteration \(iteration) (\(label)): \(verify.stderr)")
            }
        }
        XCTAssertGreaterThan(kills, 30)
    }
}
