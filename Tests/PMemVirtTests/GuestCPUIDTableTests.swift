import CKVMShim
import PMemKit
import XCTest

@testable import PMemVirt

/// The CPUID table the VMM gives guests, without KVM.
final class GuestCPUIDTableTests: XCTestCase {
    private func supported() -> [kvm_cpuid_entry2] {
        var leaf1 = kvm_cpuid_entry2()
        leaf1.function = 1
        leaf1.edx = 1 << 19
        var leaf7 = kvm_cpuid_entry2()
        leaf7.function = 7
        leaf7.ebx = 1 << 23 | 1 << 24
        return [leaf1, leaf7]
    }

    func testOfferingClflushoptHidesClwbInLeaf7AndInThePMemVirtLeaf() {
        let table = GuestCPUID(supported: supported(), offer: .clflushopt)
        XCTAssertEqual(GuestCPUID.bestFlush(in: table.entries), .clflushopt)
        let leaf = table.entries.first { $0.function == PMK_CPUID_LEAF }
        XCTAssertEqual(leaf?.eax, PMK_CPUID_FLUSH_CLFLUSHOPT | PMK_CPUID_FLUSH_CLFLUSH)
        XCTAssertEqual(leaf?.ebx, PMK_CPUID_SIGNATURE_EBX)
    }

    func testOfferingClflushLeavesOnlyClflush() {
        let table = GuestCPUID(supported: supported(), offer: .clflush)
        XCTAssertEqual(GuestCPUID.bestFlush(in: table.entries), .clflush)
        XCTAssertEqual(table.entries.first { $0.function == PMK_CPUID_LEAF }?.eax, PMK_CPUID_FLUSH_CLFLUSH)
    }

    func testOfferingClwbKeepsEverything() {
        let table = GuestCPUID(supported: supported(), offer: .clwb)
        XCTAssertEqual(GuestCPUID.bestFlush(in: table.entries), .clwb)
        XCTAssertEqual(table.entries.filter { $0.function == PMK_CPUID_LEAF }.count, 1)
    }

    func testFlushInstructionsAreNamedInErrors() {
        XCTAssertEqual(InstructionNames.name(of: [0x66, 0x0f, 0xae, 0x30]), "clwb")
        XCTAssertEqual(InstructionNames.name(of: [0x66, 0x41, 0x0f, 0xae, 0x3f]), "clflushopt")
        XCTAssertEqual(InstructionNames.name(of: [0x0f, 0xae, 0x38]), "clflush")
        XCTAssertNil(InstructionNames.name(of: [0x0f, 0xae, 0xf8]))  // sfence
        XCTAssertNil(InstructionNames.name(of: [0x90]))
    }
}
