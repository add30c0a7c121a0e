internal import CKVMShim
import PMemKit

/// The CPUID a guest sees: what KVM can present, with the cache-flush
/// instructions limited to the one the VMM decided to offer, the PMemVirt
/// leaf (`PMK_CPUID_LEAF`) saying the same, and each vCPU's APIC ID in leaf 1.
///
/// Guests choose their flush instruction from CPUID, best first, as the
/// Linux nvdimm driver does; hiding `clwb` here is how the VMM keeps guests
/// off an instruction that this KVM cannot run. Both places are needed:
/// a paravirtual nested KVM (kvm_pvm) presents the host's leaves 1 and 7
/// whatever the table says, but serves the hypervisor range from it.
struct GuestCPUID {
    private(set) var entries: [kvm_cpuid_entry2]

    private static let clflushBit: UInt32 = 1 << 19  // leaf 1, EDX
    private static let clflushoptBit: UInt32 = 1 << 23  // leaf 7.0, EBX
    private static let clwbBit: UInt32 = 1 << 24  // leaf 7.0, EBX

    /// KVM's table with flush instructions better than `offer` removed.
    init(supported: [kvm_cpuid_entry2], offer: FlushInstruction) {
        entries = supported
        for i in entries.indices {
            switch (entries[i].function, entries[i].index) {
            case (7, 0):
                if offer != .clwb { entries[i].ebx &= ~Self.clwbBit }
                if offer == .clflush || offer == .none { entries[i].ebx &= ~Self.clflushoptBit }
            case (1, _):
                if offer == .none { entries[i].edx &= ~Self.clflushBit }
            default:
                break
            }
        }
        entries.removeAll { $0.function == PMK_CPUID_LEAF }
        var leaf = kvm_cpuid_entry2()
        leaf.function = PMK_CPUID_LEAF
        leaf.eax = Self.allowedMask(offer)
        leaf.ebx = PMK_CPUID_SIGNATURE_EBX
        leaf.ecx = PMK_CPUID_SIGNATURE_ECX
        leaf.edx = PMK_CPUID_SIGNATURE_EDX
        entries.append(leaf)
    }

    /// The PMemVirt leaf's mask: `offer` and every weaker flush instruction.
    static func allowedMask(_ offer: FlushInstruction) -> UInt32 {
        switch offer {
        case .clwb: return PMK_CPUID_FLUSH_CLWB | PMK_CPUID_FLUSH_CLFLUSHOPT | PMK_CPUID_FLUSH_CLFLUSH
        case .clflushopt: return PMK_CPUID_FLUSH_CLFLUSHOPT | PMK_CPUID_FLUSH_CLFLUSH
        case .clflush: return PMK_CPUID_FLUSH_CLFLUSH
        case .none: return 0
        }
    }

    /// The best flush instruction in `entries`, as a guest would choose it.
    static func bestFlush(in entries: [kvm_cpuid_entry2]) -> FlushInstruction {
        let leaf7 = entries.first { $0.function == 7 && $0.index == 0 }
        let leaf1 = entries.first { $0.function == 1 }
        if let leaf7, leaf7.ebx & clwbBit != 0 { return .clwb }
        if let leaf7, leaf7.ebx & clflushoptBit != 0 { return .clflushopt }
        if let leaf1, leaf1.edx & clflushBit != 0 { return .clflush }
        return .none
    }

    /// Sets the table on vCPU `index` (`KVM_SET_CPUID2`), with its APIC ID in leaf 1.
    func apply(toVCPU fd: Int32, index: Int) throws {
        var own = entries
        for i in own.indices where own[i].function == 1 {
            own[i].ebx = (own[i].ebx & 0x00ff_ffff) | (UInt32(truncatingIfNeeded: index) << 24)
        }
        let bytes = pmk_kvm_cpuid_size(UInt32(own.count))
        let buffer = UnsafeMutableRawPointer.allocate(
            byteCount: bytes, alignment: MemoryLayout<kvm_cpuid_entry2>.alignment)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        let table = buffer.bindMemory(to: kvm_cpuid2.self, capacity: 1)
        table.pointee.nent = UInt32(own.count)
        let slots = pmk_kvm_cpuid_entries(table)!
        for (i, entry) in own.enumerated() { slots[i] = entry }
        let rc = pmk_kvm_vcpu_set_cpuid(fd, table)
        guard rc == 0 else { throw PMemError.system("KVM_SET_CPUID2", errno: -rc, detail: "vCPU \(index)") }
    }
}
