import Foundation
import PMemHeap
import XCTest

/// Transactions whose records need more lanes than one: two that each need
/// every lane hold one each while they wait for the rest, so one must lend
/// its lane to the other instead of both waiting for ever.
final class LargeTransactionTests: XCTestCase {
    func testTwoTransactionsThatEachNeedEveryLaneBothCommit() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 4 << 20)
        let root = try buildList(heap, [0])
        let g = heap.geometry
        // Writes of 8 bytes take 24 each: enough to fill more than every lane but one.
        let perLane = g.laneSize - 64
        let writes = ((g.laneCount - 1) * perLane) / 24 + 64
        XCTAssertLessThanOrEqual(32 + writes * 24, g.laneCount * perLane, "the record fits the whole log")
        let bothInside = DispatchGroup()
        bothInside.enter()
        bothInside.enter()
        let finished = DispatchGroup()
        let failures = FailureLog()
        for value in [Int64(1), Int64(2)] {
            finished.enter()
            Thread {
                do {
                    try heap.transaction { tx in
                        for _ in 0..<writes { try tx.write(value, to: root.field(\.sum)) }
                        // Both hold their own lane before either commits.
                        bothInside.leave()
                        bothInside.wait()
                    }
                } catch {
                    failures.add("\(error)")
                }
                finished.leave()
            }.start()
        }
        // Before the fix each waited for the other's lane, for ever.
        guard finished.wait(timeout: .now() + 60) == .success else {
            return XCTFail("both transactions still wait for lanes after 60 s")
        }
        XCTAssertEqual(failures.all, [])
        XCTAssertTrue([1, 2].contains(root.pointee.sum))
        try heap.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
        let reopened = try PersistentHeap.open(path: path)
        XCTAssertTrue(try [1, 2].contains(reopened.root(reopened.register(ListRoot.self)).pointee.sum))
    }
}

/// Errors recorded from other threads.
private final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func add(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}
