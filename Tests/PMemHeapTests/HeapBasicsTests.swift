import Foundation
import PMemKit
import XCTest

@testable import PMemHeap

final class HeapBasicsTests: XCTestCase {
    func testCreatedPoolReopensWithItsListAndRoot() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        try buildList(heap, [1, 2, 3])
        try heap.close()
        let reopened = try PersistentHeap.open(path: path, options: .init(placement: .recorded))
        XCTAssertEqual(try listValues(reopened), [1, 2, 3])
        XCTAssertFalse(reopened.openReport.recoveredFromCrash)
        XCTAssertEqual(reopened.openReport.replayedTransactions, 0)
    }

    func testThrowingTransactionLeavesNothingBehind() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        let root = try buildList(heap, [5])
        struct Stop: Error {}
        XCTAssertThrowsError(
            try heap.transaction { tx in
                let node = try tx.allocate(Node.self, Node(value: 9, next: root.pointee.head))
                try tx.write(node, to: root.field(\.head))
                try tx.write(2, to: root.field(\.count))
                throw Stop()
            })
        XCTAssertEqual(try listValues(heap), [5])
        XCTAssertEqual(root.pointee.count, 1)
        try heap.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    func testTransactionReadsItsOwnWrites() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        let root = try buildList(heap, [1])
        try heap.transaction { tx in
            try tx.write(40, to: root.field(\.sum))
            XCTAssertEqual(tx.read(root.field(\.sum)), 40)
            try tx.update(root) { $0.sum += 2 }
            XCTAssertEqual(tx.read(root.field(\.sum)), 42)
            XCTAssertEqual(root.pointee.sum, 1, "writes reach the pool only at commit")
        }
        XCTAssertEqual(root.pointee.sum, 42)
    }

    func testFreedSlotIsReusedAndCheckerSeesNoLeak() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        let root = try buildList(heap, [1, 2])
        let first = root.pointee.head
        try heap.transaction { tx in
            try tx.write(first.pointee.next, to: root.field(\.head))
            try tx.write(1, to: root.field(\.count))
            try tx.free(first)
        }
        XCTAssertEqual(try listValues(heap), [2])
        XCTAssertThrowsError(try heap.free(first), "a second free is refused")
        try heap.close()
        let report = try HeapChecker.check(path: path)
        XCTAssertTrue(report.healthy, "\(report.problems)")
        XCTAssertEqual(report.objects, 2)
        XCTAssertEqual(report.reachable, 2)
    }

    func testStandaloneAllocationIsZeroedAndFreed() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        let nodes = try heap.register(Node.self)
        var seen = Set<UnsafeMutablePointer<Node>>()
        for _ in 0..<20000 {
            let node = try heap.allocate(nodes)
            XCTAssertEqual(node.pointee, Node(value: 0, next: .null))
            seen.insert(node.address!)
            try heap.free(node)
        }
        XCTAssertLessThan(seen.count, 20000, "freed slots come back once the checkpoint passes their free")
        XCTAssertEqual(try HeapStats.read(path: path).objects, 0)
    }

    func testManySmallTransactionsWrapEveryLane() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 4 << 20)
        let root = try buildList(heap, [0])
        let laneBytes = heap.geometry.laneSize
        for i in 1...(laneBytes / 64 * 3) {
            try heap.transaction { try $0.write(Int64(i), to: root.field(\.sum)) }
        }
        XCTAssertEqual(root.pointee.sum, Int64(laneBytes / 64 * 3))
        try heap.close()
        let reopened = try PersistentHeap.open(path: path)
        XCTAssertEqual(try reopened.root(ListRoot.self).pointee.sum, Int64(laneBytes / 64 * 3))
    }

    func testTransactionLargerThanALaneCommitsAcrossLanes() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 4 << 20)
        let nodes = try heap.register(Node.self)
        let root = try buildList(heap, [0])
        let count = heap.geometry.laneSize / 16 * 3
        try heap.transaction { tx in
            var head = root.pointee.head
            for i in 1...count { head = try tx.allocate(nodes, Node(value: Int64(i), next: head)) }
            try tx.write(head, to: root.field(\.head))
            try tx.write(Int64(count + 1), to: root.field(\.count))
        }
        XCTAssertEqual(try listValues(heap).count, count + 1)
        try heap.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
        let reopened = try PersistentHeap.open(path: path)
        XCTAssertEqual(try listValues(reopened).count, count + 1)
    }

    func testTransactionLargerThanTheWholeLogIsRefusedWhole() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 4 << 20)
        let root = try buildList(heap, [0])
        let logBytes = heap.geometry.laneSize * heap.geometry.laneCount
        XCTAssertThrowsError(
            try heap.transaction { tx in
                for i in 0..<(logBytes / 24 + 1) { try tx.write(Int64(i), to: root.field(\.sum)) }
            }
        ) { error in
            XCTAssertTrue("\(error)".contains("whole log"), "\(error)")
        }
        XCTAssertEqual(root.pointee.sum, 0)
        try heap.transaction { try $0.write(Int64(3), to: root.field(\.sum)) }
        XCTAssertEqual(root.pointee.sum, 3, "the heap works on after the refusal")
    }

    func testObserverReceivesTheCommittedRedoEntries() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        let root = try buildList(heap, [1])
        nonisolated(unsafe) var received: [(UInt64, [RedoEntry])] = []
        heap.addObserver { received.append(($0.sequence, $0.entries)) }
        try heap.transaction { try $0.write(Int64(77), to: root.field(\.sum)) }
        XCTAssertEqual(received.count, 1)
        let offset = UnsafeRawPointer(root.field(\.sum)) - UnsafeRawPointer(heap.base)
        var bytes = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: Int64(77)) { bytes = Array($0) }
        XCTAssertEqual(received.first?.1, [.store(offset: offset, bytes: bytes)])
    }

    func testNestedTransactionIsRefused() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        XCTAssertThrowsError(try heap.transaction { _ in try heap.transaction { _ in } })
    }

    func testConcurrentThreadsAllocateDistinctObjects() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 32 << 20)
        let nodes = try heap.register(Node.self)
        let perThread = 5000
        let addresses = UnsafeMutablePointer<UInt>.allocate(capacity: 4 * perThread)
        defer { addresses.deallocate() }
        let sink = UnsafeSendable(addresses)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<perThread {
                let node = try! heap.transaction {
                    try $0.allocate(nodes, Node(value: Int64(i), next: .null))
                }
                sink.value[t * perThread + i] = UInt(bitPattern: node.address)
                if i % 3 == 0 { try! heap.free(node) }
            }
        }
        let all = (0..<(4 * perThread)).map { addresses[$0] }
        let kept = all.enumerated().filter { ($0.offset % perThread) % 3 != 0 }.map(\.element)
        XCTAssertEqual(Set(kept).count, kept.count, "live objects never share a slot")
        try heap.close()
        XCTAssertEqual(try HeapStats.read(path: path).objects, kept.count)
    }
}

/// Hands a pointer to concurrent test code.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
