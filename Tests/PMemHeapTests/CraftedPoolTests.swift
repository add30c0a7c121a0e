import CPMemHeap
import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemHeap

/// Pools whose checksums are valid but whose numbers are not (see
/// `CraftedPool`): opening, checking and inspecting them fails with a
/// `corrupt` error naming the field, or ignores what cannot be a record,
/// and never traps on arithmetic.
final class CraftedPoolTests: XCTestCase {
    private func makePool() throws -> String {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        try buildList(heap, [1, 2, 3])
        try heap.close()
        return path
    }

    /// Open, check, info and stats each throw `corrupt` mentioning `text`, and
    /// `pmemctl heap info|check|stats` exit 1 with one line; the pool is not written.
    private func assertCorrupt(_ path: String, mentioning text: String, line: UInt = #line) throws {
        let before = try fileBytes(path)
        let attempts: [(String, () throws -> Void)] = [
            ("open", { _ = try PersistentHeap.open(path: path) }),
            ("check", { _ = try HeapChecker.check(path: path) }),
            ("info", { _ = try HeapInfo.read(path: path) }),
            ("stats", { _ = try HeapStats.read(path: path) }),
        ]
        for (name, attempt) in attempts {
            XCTAssertThrowsError(try attempt(), name, line: line) { error in
                XCTAssertEqual((error as? PMemError)?.kind, .corrupt, "\(name): \(error)", line: line)
                XCTAssertTrue("\(error)".contains(text), "\(name): \(error)", line: line)
            }
        }
        for command in ["info", "check", "stats"] {
            assertFailure(try CLI.run(["heap", command, path]), mentions: text, line: line)
        }
        XCTAssertEqual(try fileBytes(path), before, "the pool is untouched", line: line)
    }

    func testSlabsWhoseTotalSizeOverflowsAreReportedNotTrapped() throws {
        let path = try makePool()
        try CraftedPool(path: path).rewriteGeometry { g in
            // Each number in range on its own; slab count × slab size is 2^80.
            g.slabSize = 1 << 40
            g.slabCount = 1 << 40
            g.logOffset = roundUp(g.slabDirectoryOffset + g.slabCount * 8, 4096)
            g.slabsOffset = roundUp(g.logOffset + g.laneCount * g.laneSize, 1 << 16)
        }
        try assertCorrupt(path, mentioning: "slabs of 1099511627776 bytes")
    }

    func testTypeSizeBeyondAnIntIsReportedNotTrapped() throws {
        let path = try makePool()
        try CraftedPool(path: path).rewriteTypeEntry(0) { $0.size = 1 << 63 }
        try assertCorrupt(path, mentioning: "type table entry 0 has size 9223372036854775808")
    }

    func testRedoRecordWithASequenceNoCheckpointHoldsIsIgnored() throws {
        let path = try makePool()
        try CraftedPool(path: path).writeRedoRecord(lane: 0, seq: .max)
        XCTAssertEqual(try HeapInfo.read(path: path).pendingTransactions, 0)
        let heap = try PersistentHeap.open(path: path)
        XCTAssertEqual(heap.openReport.replayedTransactions, 0)
        // The next sequence number follows the real checkpoint, not the crafted record.
        let root = try heap.root(heap.register(ListRoot.self))
        try heap.transaction { try $0.write(Int64(42), to: root.field(\.sum)) }
        try heap.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
        let reopened = try PersistentHeap.open(path: path)
        XCTAssertEqual(try reopened.root(reopened.register(ListRoot.self)).pointee.sum, 42)
        XCTAssertEqual(try listValues(reopened), [1, 2, 3])
    }

    func testRecordPartWithALengthBeyondAnIntIsIgnored() throws {
        let path = try makePool()
        try CraftedPool(path: path).writeRecordPart(lane: 1, seq: 1 << 20, recordLength: 1 << 63)
        XCTAssertEqual(try HeapInfo.read(path: path).pendingTransactions, 0)
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
        let heap = try PersistentHeap.open(path: path)
        XCTAssertEqual(try listValues(heap), [1, 2, 3])
    }

    func testPointerOffsetNearTheEndOfIntIsRefused() {
        XCTAssertThrowsError(
            try TypeDescription(name: "t", size: 16, alignment: 8, pointerOffsets: [Int.max - 7])
        ) { error in
            XCTAssertTrue("\(error)".contains("pointer offset \(Int.max - 7)"), "\(error)")
        }
        let json = #"{"types":[{"name":"t","size":16,"pointer_offsets":[9223372036854775800]}]}"#
        XCTAssertThrowsError(try TypeDescription.decodeAnalyzerJSON(Data(json.utf8))) { error in
            XCTAssertTrue("\(error)".contains("pointer offset 9223372036854775800"), "\(error)")
        }
    }
}

/// A slab's layout is found in a few steps however large the slab: a
/// crafted geometry may claim slabs of up to 64 TiB.
final class SlabLayoutTests: XCTestCase {
    /// The layout the way it was first computed: counting down one object at a time.
    private func countedDown(stride: Int, alignment: Int, slabSize: Int) -> Int {
        let start = max(64, alignment)
        var n = slabSize / stride
        while n > 0 && roundUp((n + 63) / 64 * 8, start) + n * stride > slabSize { n -= 1 }
        return n
    }

    func testTheCountIsTheLargestThatFitsAsBefore() {
        for slabSize in [4096, 8192, 65536, 1 << 20] {
            for stride in [8, 16, 24, 40, 64, 72, 200, 4096] {
                for alignment in [8, 64, 4096] where alignment <= stride {
                    let expected = countedDown(stride: stride, alignment: alignment, slabSize: slabSize)
                    let layout = SlabLayout(stride: stride, alignment: alignment, slabSize: slabSize)
                    guard expected > 0 else {
                        // None fits: one large object over a run of slabs.
                        let start = max(64, alignment)
                        XCTAssertEqual(layout?.count, 1)
                        XCTAssertEqual(layout?.slabsPerObject, (start + stride + slabSize - 1) / slabSize)
                        continue
                    }
                    XCTAssertEqual(
                        layout?.count ?? 0, expected,
                        "slab \(slabSize), stride \(stride), alignment \(alignment)")
                    XCTAssertEqual(layout?.slabsPerObject, 1)
                }
            }
        }
    }

    func testAHugeSlabOfSmallObjectsIsLaidOutAtOnce() {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var count = 0
        Thread {
            count = SlabLayout(stride: 8, alignment: 8, slabSize: 1 << 46)?.count ?? 0
            done.signal()
        }.start()
        // Before, 2^37 steps: minutes to hours.
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "the layout is computed in well under 10 s")
        XCTAssertGreaterThan(count, 0)
    }
}
