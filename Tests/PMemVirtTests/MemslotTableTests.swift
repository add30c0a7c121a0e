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
