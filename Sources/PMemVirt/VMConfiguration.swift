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
