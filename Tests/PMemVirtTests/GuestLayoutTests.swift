import CKVMShim
import PMemKit
import XCTest

@testable import PMemVirt

/// The guest-physical layout and the boot structures written into RAM.
final class GuestLayoutTests: XCTestCase {
    func testPageTablesIdentityMapRAMTheVFHAAndVPMem() throws {
        let layout = try GuestLayout(ramSize: 16 << 20, vcpus: 2, vpmemSize: 1 << 30)
        let ram = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { ram.deallocate() }
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 20)
        layout.writeBootStructures(into: ram)

        for gpa in [UInt64(0x10_0000), GuestLayout.vfhaAddress, GuestLayout.vpmemAddress + (1 << 30) - 1] {
            XCTAssertEqual(translate(gpa, ram), gpa & ~((2 << 20) - 1), "0x\(String(gpa, radix: 16))")
        }
        XCTAssertEqual(layout.stackTop(vcpu: 0), 16 << 20)
        XCTAssertEqual(layout.stackTop(vcpu: 1), (16 << 20) - GuestLayout.stackSize)
    }

    func testBootInfoTellsTheGuestWhereEverythingIs() throws {
        let layout = try GuestLayout(ramSize: 16 << 20, vcpus: 3, vpmemSize: 1 << 21)
        let ram = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { ram.deallocate() }
        layout.writeBootInfo(into: ram, arguments: [7, 9])
        let info = (ram + Int(GuestLayout.bootInfoAddress)).load(as: pmk_boot_info.self)
        XCTAssertEqual(info.magic, PMK_BOOT_MAGIC)
        XCTAssertEqual(info.vcpus, 3)
        XCTAssertEqual(info.vpmem_gpa, GuestLayout.vpmemAddress)
        XCTAssertEqual(info.vpmem_size, 1 << 21)
        XCTAssertEqual(info.vfha_gpa, GuestLayout.vfhaAddress)
        XCTAssertEqual(info.args.0, 7)
        XCTAssertEqual(info.args.1, 9)
    }

    func testLayoutsThatCannotHoldTheGuestAreRefused() {
        XCTAssertThrowsError(try GuestLayout(ramSize: 1 << 20, vcpus: 1, vpmemSize: 0))
        XCTAssertThrowsError(try GuestLayout(ramSize: 16 << 20, vcpus: 1, vpmemSize: 100))
        XCTAssertThrowsError(try GuestLayout(ramSize: 16 << 20, vcpus: 1, vpmemSize: 200 << 30))
    }

    /// Walks PML4 → PDPT → PD (2 MiB pages) in `ram` as the CPU would.
    private func translate(_ gpa: UInt64, _ ram: UnsafeMutableRawPointer) -> UInt64? {
        func entry(_ table: UInt64, _ index: UInt64) -> UInt64? {
            let e = ram.load(fromByteOffset: Int(table + index * 8), as: UInt64.self)
            return e & 1 == 1 ? e : nil
        }
        guard let pml4e = entry(GuestLayout.pml4Address, (gpa >> 39) & 511),
            let pdpte = entry(pml4e & ~0xfff, (gpa >> 30) & 511),
            let pde = entry(pdpte & ~0xfff, (gpa >> 21) & 511), pde & 0x80 != 0
        else { return nil }
        return pde & ~0xfff
    }
}
