import PMemKit

/// What a VM is made of.
public struct VMConfiguration: Sendable {
    /// vCPUs, each a host thread.
    public var vcpus: Int = 1
    /// Guest RAM bytes (whole pages; room for the image and every vCPU's stack).
    public var ramSize: UInt64 = 16 << 20
    /// The host mapping presented as vPMem at 4 GiB, if any.
    public var vpmem: PMemMapping?
    /// The guest program's parameters (`boot->args`, at most 8).
    public var bootArguments: [UInt64] = []
    /// The flush instruction guests find in CPUID; `nil` decides it (`GuestFlushOffer.decide`).
    public var guestFlush: GuestFlushOffer?
    /// The virtual flush hint address.
    public var vfha = VFHAConfiguration()
    /// Seconds before every vCPU is stopped and the run fails; `nil` waits for ever.
    public var timeout: Double? = 60
    /// The privilege level guest programs run at.
    public var privilege: GuestPrivilege = .user
    /// The host-side handler of faults in guest ranges with no guest
    /// handler; `nil` makes such a fault end the run (`VMError.accessFault`).
    public var faultHandler: (any GuestFaultHandler)?

    /// A configuration with the defaults: one vCPU, 16 MiB of RAM, no vPMem.
    public init() {}
}

/// How the vFHA is chosen and where its writes go.
public struct VFHAConfiguration: Sendable {
    /// The policy; `nil` takes `PMEMKIT_FHA_POLICY`, else `auto`.
    public var policy: VFHAPolicy?
    /// The host regions behind the vPMem; `nil` reads them from the vPMem mapping.
    /// Tests inject regions here to steer `auto`.
    public var backingRegions: [BackingRegion]?
    /// Where trapped writes are propagated; `nil` derives them from the regions.
    public var targets: [any FlushTarget]?
    /// Sees each trapped write arrive and complete.
    public var observer: (any VFHAObserver)?
    /// Whether writes arriving during a propagation share the next one (off: one propagation per write).
    public var combining = true

    /// The defaults: policy from the environment or `auto`, everything else from the vPMem.
    public init(
        policy: VFHAPolicy? = nil, backingRegions: [BackingRegion]? = nil, targets: [any FlushTarget]? = nil,
        observer: (any VFHAObserver)? = nil
    ) {
        self.policy = policy
        self.backingRegions = backingRegions
        self.targets = targets
        self.observer = observer
    }
}

/// The privilege level a guest program runs at.
///
/// Guest programs need no privileged instruction (they end with the exit
/// hypercall, and IOPL 3 lets them use the hypercall port), so user mode is
/// the default: a paravirtual KVM (kvm_pvm) runs CPL-3 code natively but
/// CPL-0 code about ten times slower, and under it `clwb` runs at CPL 3
/// and fails to emulate at CPL 0. Under VMX/SVM both levels run natively.
public enum GuestPrivilege: String, Sendable, Codable, CaseIterable {
    /// CPL 3 with IOPL 3; `hlt` and other privileged instructions fault (a triple fault: no IDT).
    case user
    /// CPL 0.
    case kernel

    var cpl: UInt8 { self == .user ? 3 : 0 }
    var codeSelector: UInt16 { self == .user ? 0x18 | 3 : 0x08 }
    var dataSelector: UInt16 { self == .user ? 0x20 | 3 : 0x10 }
}
