import Foundation
import PMemKit

/// The virtual flush hint address of a VM: one guest-physical page, mapped
/// read-only (trap) or read-write (passthrough) as the decision says, whose
/// trapped writes the coalescer propagates to the physical flush targets.
public final class VFHADevice: MMIOHandler, @unchecked Sendable {
    /// How the page is mapped, and why.
    public let decision: VFHADecision
    /// The host regions behind the vPMem.
    public let backingRegions: [BackingRegion]
    /// Propagates trapped writes.
    public let coalescer: FlushCoalescer
    /// The guest-physical page.
    public let range: Range<UInt64>
    /// The host page behind it; guest reads see it, trapped writes never reach it.
    let page: HostMemory

    init(decision: VFHADecision, backingRegions: [BackingRegion], coalescer: FlushCoalescer) throws {
        self.decision = decision
        self.backingRegions = backingRegions
        self.coalescer = coalescer
        range = GuestLayout.vfhaAddress..<(GuestLayout.vfhaAddress + GuestLayout.pageSize)
        page = try HostMemory(size: Int(GuestLayout.pageSize), purpose: "the vFHA page")
    }

    /// What the guest may do to the page: writes exit only when trapping.
    var access: GuestAccess { decision.mode == .trap ? .readOnly : .readWrite }

    /// Trapped writes so far (each one an exit).
    public var exits: Int { coalescer.statistics.writes }

    /// A write: propagate it (with whatever else is waiting), then resume.
    /// A read (which a read-only memslot serves without an exit) reads zero.
    public func handleMMIO(_ access: MMIOAccess, vcpu: VirtualCPU) throws -> ExitAction {
        guard access.isWrite else { return .resumeWithRead(0) }
        try coalescer.flushHintWritten(vcpu: vcpu.index)
        return .resume
    }

    /// The flush targets for `decision`: the given ones, else one WPQ flush
    /// per region with flush hints, else msync for a `file` backing.
    static func targets(
        for decision: VFHADecision, regions: [BackingRegion], vpmem: PMemMapping?,
        given: [any FlushTarget]?
    ) throws -> [any FlushTarget] {
        guard decision.mode == .trap else { return [] }
        if let given { return given }
        var targets: [any FlushTarget] = try regions.filter { $0.deepFlush == .supported }.map {
            try RegionWPQFlush(region: $0.name)
        }
        if let vpmem, vpmem.backing == .file { targets.append(MappingSyncFlush(mapping: vpmem)) }
        return targets
    }
}
