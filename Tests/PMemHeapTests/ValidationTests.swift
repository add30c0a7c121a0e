import CPMemHeap
import Foundation
import PMemKit
import XCTest

@testable import PMemHeap

/// Node as an older build declared it: one more field, so a different layout under the same name.
private struct ChangedNode: PersistentType {
    var value: Int64
    var extra: Int64
    var next: PersistentPointer<ChangedNode>
    static var persistentName: String { "test.Node" }
    static var persistentPointers: [PartialKeyPath<ChangedNode>] { [\.next] }
}

final class ValidationTests: XCTestCase {
    private func makePool() throws -> String {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        try buildList(heap, [1, 2, 3])
        try heap.close()
        return path
    }

    /// Flips one byte at `offset`.
    private func damage(_ path: String, at offset: Int) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data([byte ^ 0x5a]))
    }

    private func assertOpenFailsWritingNothing(
        _ path: String, mentioning text: String, types: [TypeDescription] = [],
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let before = try fileBytes(path)
        XCTAssertThrowsError(try PersistentHeap.open(path: path, types: types), file: file, line: line) {
            error in
            XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
        }
        XCTAssertEqual(try fileBytes(path), before, "the pool is untouched", file: file, line: line)
    }

    func testChangedSwiftTypeIsNamedAndThePoolIsUntouched() throws {
        let path = try makePool()
        try assertOpenFailsWritingNothing(
            path, mentioning: "type 'test.Node' changed", types: [ChangedNode.typeDescription()])
    }

    func testChangedTypeRegisteredLaterIsRefused() throws {
        let path = try makePool()
        let heap = try PersistentHeap.open(path: path)
        XCTAssertThrowsError(try heap.register(ChangedNode.self)) { error in
            XCTAssertTrue("\(error)".contains("'test.Node' changed"), "\(error)")
        }
    }

    func testDamagedIdentityBlockIsReported() throws {
        let path = try makePool()
        try damage(path, at: 40)
        try assertOpenFailsWritingNothing(path, mentioning: "header checksum mismatch")
    }

    func testAWholeStateSlotWithAnImpossibleGenerationIsDamage() throws {
        // Found by fuzz-heap-pool: a state slot whose checksum matches but whose
        // generation is 2^64 - 1 made open's `state.generation += 1` trap.
        let path = try makePool()
        let mapping = try PMemMapping(path: path)
        let identity = try PoolIdentity.read(from: mapping.base, fileSize: mapping.size, path: path)
        let pool = PoolMemory(mapping: mapping, salt: identity.salt)
        let (state, slot) = try PoolState.read(from: mapping.base, salt: identity.salt, path: path)
        var forged = state
        forged.generation = .max
        forged.write(into: pool, replacing: slot)
        let heap = try PersistentHeap.open(path: path)
        XCTAssertEqual(try listValues(heap), [1, 2, 3], "the other slot, still whole, is the state")
        try heap.close()
        // With both slots holding it, the pool is damaged.
        let (current, currentSlot) = try PoolState.read(from: mapping.base, salt: identity.salt, path: path)
        var both = current
        both.generation = .max
        both.write(into: pool, replacing: currentSlot)
        both.write(into: pool, replacing: 1 - currentSlot)
        try assertOpenFailsWritingNothing(path, mentioning: "state slots")
    }

    func testAWholeTypeEntryWithAnImpossibleSizeIsReported() throws {
        // Found by fuzz-heap-pool: a type entry whose checksum matches but whose
        // size is above Int.max made `Int(entry.size)` trap.
        let path = try makePool()
        let mapping = try PMemMapping(path: path)
        let identity = try PoolIdentity.read(from: mapping.base, fileSize: mapping.size, path: path)
        let p = mapping.base + identity.geometry.typeTableOffset
        var entry = p.load(as: pmh_type_entry.self)
        entry.size = 1 << 63
        entry.checksum = checksum(
            of: entry, upTo: MemoryLayout<pmh_type_entry>.offset(of: \.checksum)!,
            seed: TypeTable.seed(salt: identity.salt, index: 0))
        p.storeBytes(of: entry, as: pmh_type_entry.self)
        try assertOpenFailsWritingNothing(
            path, mentioning: "type table entry 0 has size 9223372036854775808, out of range")
        XCTAssertThrowsError(try HeapChecker.check(path: path))
    }

    func testAGeometryWhoseSlabsOverflowIsRefusedNotATrap() throws {
        // Found reviewing PoolGeometry.validate for fuzz-heap-pool: each value
        // below 2^46 passed, then slabsOffset + slabCount * slabSize overflowed.
        let geometry = PoolGeometry(
            poolSize: 1 << 40, slabSize: 1 << 44, typeTableOffset: HeapFormat.headerSize, typeCapacity: 128,
            slabDirectoryOffset: HeapFormat.headerSize + 128 * HeapFormat.typeEntrySize, slabCount: 1 << 20,
            logOffset: 1 << 24, laneCount: 16, laneSize: 4096, slabsOffset: (1 << 24) + (16 << 12))
        XCTAssertThrowsError(try geometry.validate()) {
            XCTAssertTrue("\($0)".contains("do not fit"), "\($0)")
        }
    }

    func testBadMagicIsReported() throws {
        let path = try makePool()
        try damage(path, at: 0)
        try assertOpenFailsWritingNothing(path, mentioning: "not a PMemHeap pool")
    }

    func testDamagedStateSlotsAreReported() throws {
        let path = try makePool()
        try damage(path, at: HeapFormat.stateSlotOffsets[0] + 16)
        try damage(path, at: HeapFormat.stateSlotOffsets[1] + 16)
        try assertOpenFailsWritingNothing(path, mentioning: "state slots")
    }

    func testDamagedTypeTableEntryIsReported() throws {
        let path = try makePool()
        try damage(path, at: HeapFormat.headerSize + 3)
        try assertOpenFailsWritingNothing(path, mentioning: "type table entry 0")
    }

    func testDamagedSlabDirectoryIsReported() throws {
        let path = try makePool()
        let info = try HeapInfo.read(path: path)
        let directory = HeapFormat.headerSize + HeapFormat.defaultTypeCapacity * HeapFormat.typeEntrySize
        XCTAssertGreaterThan(info.slabCount, 0)
        try damage(path, at: directory + 5)
        try assertOpenFailsWritingNothing(path, mentioning: "slab directory entry 0")
    }

    func testBitmapBitsPastTheLastSlotAreReported() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        try buildList(heap, [1])
        let layout = heap.allocator.types[1]!.layout
        let slab = (0..<heap.geometry.slabCount).first { heap.allocator.slabTypes[$0] == 1 }!
        let bitmapEnd = heap.geometry.slabOffset(slab) + (layout.bitmapWords - 1) * 8
        try heap.close()
        XCTAssertNotEqual(
            layout.invalidBits(word: layout.bitmapWords - 1), 0, "the test needs a partial last word")
        try damage(path, at: bitmapEnd + 7)
        try assertOpenFailsWritingNothing(path, mentioning: "past its last slot")
        XCTAssertThrowsError(try HeapChecker.check(path: path))
    }

    func testTruncatedPoolIsReported() throws {
        let path = try makePool()
        XCTAssertEqual(truncate(path, off_t(1 << 20)), 0)
        try assertOpenFailsWritingNothing(path, mentioning: "only")
    }

    func testCheckerReportsAPointerOutsideThePool() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        let root = try buildList(heap, [1, 2])
        // A store that bypasses transactions, as a bug in an application would.
        root.pointee.head.pointee.next = PersistentPointer(UnsafeMutablePointer(bitPattern: 0xdead_0000))
        heap.pool.persist(root.pointee.head.address!, 16)
        try heap.close()
        let report = try HeapChecker.check(path: path)
        XCTAssertFalse(report.healthy)
        XCTAssertTrue(
            report.problems.contains { $0.contains("0xdead0000 is outside the pool") }, "\(report.problems)")
    }

    func testCheckerReportsADanglingPointerAndALeak() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        let root = try buildList(heap, [1, 2, 3])
        let second = root.pointee.head.pointee.next
        // Free the second node without unlinking it: the first now dangles, the third is unreachable.
        try heap.free(second)
        try heap.close()
        let report = try HeapChecker.check(path: path)
        XCTAssertTrue(report.problems.contains { $0.contains("dangling") }, "\(report.problems)")
        XCTAssertTrue(
            report.problems.contains { $0.contains("unreachable from the root") }, "\(report.problems)")
    }

    func testAnalyzerJSONDescribesCTypes() throws {
        let json = Data(
            """
            {"types":[{"name":"struct entry","kind":"struct","size":24,"alignment":8,"pointer_offsets":[8,16],
              "evidence":[{"file":"a.c","line":3,"site":"write"}]},
             {"name":"struct blob","size":12,"pointer_offsets":[]}]}
            """.utf8)
        let types = try TypeDescription.decodeAnalyzerJSON(json)
        XCTAssertEqual(types.map(\.name), ["struct entry", "struct blob"])
        XCTAssertEqual(types[0].pointerOffsets, [8, 16])
        XCTAssertEqual(types[1].alignment, 4, "a missing alignment comes from the size")
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20, types: types)
        let id = try heap.register(types[0])
        let object = try heap.transaction { try $0.allocateZeroed(typeID: id) }
        XCTAssertEqual(object.load(fromByteOffset: 8, as: UInt64.self), 0)
        XCTAssertEqual(heap.types.map(\.name), ["struct entry", "struct blob"])
    }

    func testAnalyzerJSONWithABadOffsetNamesTheType() {
        let json = Data(
            #"{"types":[{"name":"struct bad","size":16,"alignment":8,"pointer_offsets":[12]}]}"#.utf8)
        XCTAssertThrowsError(try TypeDescription.decodeAnalyzerJSON(json)) { error in
            XCTAssertTrue("\(error)".contains("struct bad"), "\(error)")
        }
    }

    func testKeyPathsGiveTheFieldOffsets() throws {
        let description = try TreeNode.typeDescription()
        XCTAssertEqual(description.pointerOffsets, [8, 24])
        XCTAssertEqual(description.size, MemoryLayout<TreeNode>.size)
        XCTAssertEqual(description.name, "test.TreeNode")
    }

    func testSecondOpenOfAnOpenPoolIsRefused() throws {
        let path = try makePool()
        let heap = try PersistentHeap.open(path: path)
        XCTAssertThrowsError(try PersistentHeap.open(path: path)) { error in
            XCTAssertTrue("\(error)".contains("open in another process"), "\(error)")
        }
        try heap.close()
    }
}
