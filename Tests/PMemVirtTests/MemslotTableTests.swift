import PMemKit
import XCTest

@testable import PMemVirt

/// The memslot bookkeeping, without KVM.
final class MemslotTableTests: XCTestCase {
    private let page: UInt64 = 4096

    func testSlotsGetTheLowestFreeNumberAndAreFoundByAddress() throws {
        var table = MemslotTable()
        let ram = try table.insert(label: "ram", gpa: 0, size: 16 * page, host: 0x10_0000, access: .readWrite)
        let fha = try table.insert(
            label: "vfha", gpa: 0xF000_0000, size: page, host: 0x20_0000, access: .readOnly)
        XCTAssertEqual([ram.slot, fha.slot], [0, 1])
        XCTAssertEqual(table.slot(containing: 0xF000_0008)?.label, "vfha")
        XCTAssertNil(table.slot(containing: 16 * page))

        _ = table.remove(slot: 0)
        let again = try table.insert(label: "ram2", gpa: 0, size: page, host: 0x30_0000, access: .readWrite)
        XCTAssertEqual(again.slot, 0)
    }

    func testOverlapsAndPartialPagesAreRefused() throws {
        var table = MemslotTable()
        _ = try table.insert(label: "ram", gpa: 0, size: 4 * page, host: 0x10_0000, access: .readWrite)
        XCTAssertThrowsError(
            try table.insert(
                label: "late", gpa: 3 * page, size: 2 * page, host: 0x40_0000, access: .readWrite))
        XCTAssertThrowsError(
            try table.insert(label: "odd", gpa: 8 * page, size: 100, host: 0x40_0000, access: .readWrite))
        XCTAssertThrowsError(
            try table.insert(
                label: "misaligned", gpa: 8 * page + 8, size: page, host: 0x40_0000, access: .readWrite))
    }

    func testHostTranslationStaysInsideOneSlot() throws {
        var table = MemslotTable()
        _ = try table.insert(label: "ram", gpa: 0, size: 2 * page, host: 0x10_0000, access: .readWrite)
        XCTAssertEqual(table.host(gpa: 0x1000, length: 8), UnsafeMutableRawPointer(bitPattern: 0x10_1000))
        XCTAssertNil(table.host(gpa: 2 * page - 4, length: 8))
        XCTAssertNil(table.host(gpa: 3 * page, length: 1))
    }
}

/// Access changes split, protect, remove and merge memslots, and say what to change in KVM.
final class MemslotAccessTests: XCTestCase {
    private let page: UInt64 = 4096

    private func table() throws -> MemslotTable {
        var table = MemslotTable()
        _ = try table.insert(label: "ram", gpa: 0, size: 16 * page, host: 0x10_0000, access: .readWrite)
        _ = try table.insert(label: "vfha", gpa: 0xF000_0000, size: page, host: 0x90_0000, access: .readOnly)
        return table
    }

    func testProtectingTheMiddleSplitsTheSlotInThree() throws {
        var table = try table()
        let change = try table.setAccess(gpa: 4 * page, length: 2 * page, access: .readOnly)
        XCTAssertEqual(change.removed.map(\.slot), [0])
        let ram = table.slots.filter { $0.label == "ram" }
        XCTAssertEqual(ram.map(\.gpa), [0, 4 * page, 6 * page])
        XCTAssertEqual(ram.map(\.size), [4 * page, 2 * page, 10 * page])
        XCTAssertEqual(ram.map(\.access), [.readWrite, .readOnly, .readWrite])
        XCTAssertEqual(ram.map(\.host), [0x10_0000, 0x10_0000 + UInt(4 * page), 0x10_0000 + UInt(6 * page)])
        XCTAssertEqual(change.added.count, 3)
        // Numbers are unique among installed slots; the vFHA keeps its own.
        let numbers = table.slots.compactMap(\.slot)
        XCTAssertEqual(Set(numbers).count, numbers.count)
        XCTAssertEqual(table.slots.first { $0.label == "vfha" }?.slot, 1)
    }

    func testNoneRemovesThePiecesMemslotButKeepsItsHostMemory() throws {
        var table = try table()
        let change = try table.setAccess(gpa: 0, length: page, access: .none)
        XCTAssertEqual(change.added.map(\.gpa), [page])
        let removed = table.slot(containing: 8)
        XCTAssertEqual(removed?.access, GuestAccess.none)
        XCTAssertNil(removed?.slot)
        XCTAssertEqual(table.host(gpa: 8, length: 8), UnsafeMutableRawPointer(bitPattern: 0x10_0008))
        XCTAssertEqual(table.installedCount, 2)
    }

    func testGivingAccessBackMergesThePiecesIntoOneSlot() throws {
        var table = try table()
        _ = try table.setAccess(gpa: 4 * page, length: 2 * page, access: .readOnly)
        _ = try table.setAccess(gpa: 10 * page, length: page, access: .none)
        let change = try table.setAccess(gpa: 4 * page, length: 7 * page, access: .readWrite)
        let ram = table.slots.filter { $0.label == "ram" }
        XCTAssertEqual(ram.count, 1)
        XCTAssertEqual(ram.first?.size, 16 * page)
        XCTAssertEqual(change.added.count, 1)
        XCTAssertEqual(change.removed.count, 4)  // the none piece had no memslot to delete
    }

    func testAnUnchangedAccessChangesNothing() throws {
        var table = try table()
        let change = try table.setAccess(gpa: 2 * page, length: page, access: .readWrite)
        XCTAssertEqual(change, MemslotChange())
        XCTAssertEqual(table.slots.filter { $0.label == "ram" }.map(\.slot), [0])
    }

    func testRangesOutsideOneKindOfGuestMemoryOrOfPartialPagesAreRefused() throws {
        var table = try table()
        XCTAssertThrowsError(try table.setAccess(gpa: 15 * page, length: 2 * page, access: .readOnly))
        XCTAssertThrowsError(try table.setAccess(gpa: 100, length: page, access: .readOnly))
        XCTAssertThrowsError(try table.setAccess(gpa: 0, length: 100, access: .readOnly))
        XCTAssertThrowsError(try table.setAccess(gpa: 0, length: 0, access: .readOnly))
        XCTAssertEqual(table.slots.count, 2)
    }
}
