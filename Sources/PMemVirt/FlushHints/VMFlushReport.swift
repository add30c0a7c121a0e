internal import CKVMShim
import PMemKit

/// What a guest run did to the vFHA: the `pmemctl vm run --json` contract
/// (`policy`, `vcpus`, `guest_flushes`, `fha_exits`, `propagations`,
/// `ns_per_flush`, `backing_regions`) and the context that explains it.
public struct VMFlushReport: Codable, Sendable, Equatable {
    /// The guest program.
    public var guest: String
    /// How the vFHA was mapped: `trap` or `passthrough`.
    public var policy: VFHAMode
    /// What was asked for: `auto`, `trap` or `passthrough`.
    public var requestedPolicy: VFHAPolicy
    /// Why the mapping was chosen.
    public var policyReason: String
    /// vCPUs.
    public var vcpus: Int
    /// The privilege level the guest ran at.
    public var privilege: GuestPrivilege
    /// Flush sequences the guest reported completing, all vCPUs together.
    public var guestFlushes: UInt64
    /// Flush-hint writes that exited to the VMM.
    public var fhaExits: Int
    /// Physical flushes made: propagations × flush targets (one per backing region with hints).
    public var propagations: Int
    /// Coalesced propagations, each flushing every target once.
    public var propagationRounds: Int
    /// Host nanoseconds per guest flush sequence, averaged over vCPUs (each vCPU's
    /// measured phase divided by its flushes); `nil` when the guest reported none.
    public var nsPerFlush: Double?
    /// The host regions behind the vPMem and what a deep flush does there.
    public var backingRegions: [BackingRegion]
    /// Where trapped writes were propagated (`region0`, `fsync:PATH`).
    public var flushTargets: [String]
    /// The flush instruction the guest chose from its CPUID.
    public var flushInstruction: String?
    /// Why the guest's CPUID offers that instruction.
    public var flushOffer: String
    /// Whether the host mapping held the guest's last writes after the run (flush workload only).
    public var dataVerified: Bool?
    /// Host nanoseconds the whole run took, VM start and end included.
    public var wallNs: UInt64

    enum CodingKeys: String, CodingKey {
        case guest, policy, vcpus, propagations, privilege
        case requestedPolicy = "requested_policy"
        case policyReason = "policy_reason"
        case guestFlushes = "guest_flushes"
        case fhaExits = "fha_exits"
        case propagationRounds = "propagation_rounds"
        case nsPerFlush = "ns_per_flush"
        case backingRegions = "backing_regions"
        case flushTargets = "flush_targets"
        case flushInstruction = "flush_instruction"
        case flushOffer = "flush_offer"
        case dataVerified = "data_verified"
        case wallNs = "wall_ns"
    }

    /// Encodes every key, with `null` where a value is absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(guest, forKey: .guest)
        try c.encode(policy, forKey: .policy)
        try c.encode(requestedPolicy, forKey: .requestedPolicy)
        try c.encode(policyReason, forKey: .policyReason)
        try c.encode(vcpus, forKey: .vcpus)
        try c.encode(privilege, forKey: .privilege)
        try c.encode(guestFlushes, forKey: .guestFlushes)
        try c.encode(fhaExits, forKey: .fhaExits)
        try c.encode(propagations, forKey: .propagations)
        try c.encode(propagationRounds, forKey: .propagationRounds)
        try c.encode(nsPerFlush, forKey: .nsPerFlush)
        try c.encode(backingRegions, forKey: .backingRegions)
        try c.encode(flushTargets, forKey: .flushTargets)
        try c.encode(flushInstruction, forKey: .flushInstruction)
        try c.encode(flushOffer, forKey: .flushOffer)
        try c.encode(dataVerified, forKey: .dataVerified)
        try c.encode(wallNs, forKey: .wallNs)
    }

    /// The report of `run` on `vm`; throws when a vCPU's program ended with a non-zero status.
    public init(vm: VirtualMachine, guest: String, run: VMRunReport) throws {
        if let failed = run.vcpus.first(where: { ($0.exitStatus ?? 0) != 0 }) {
            throw VMError.guestFailed(vcpu: failed.index, status: failed.exitStatus ?? 0, log: failed.log)
        }
        let stats = vm.vfha.coalescer.statistics
        self.guest = guest
        policy = vm.vfha.decision.mode
        requestedPolicy = vm.vfha.decision.requested
        policyReason = vm.vfha.decision.reason
        vcpus = run.vcpus.count
        privilege = vm.configuration.privilege
        guestFlushes = run.total(UInt64(PMK_REPORT_FLUSHES.rawValue))
        fhaExits = stats.writes
        propagations = stats.targetFlushes
        propagationRounds = stats.propagations
        let perVCPU = run.vcpus.compactMap { vcpu -> Double? in
            guard let ns = vcpu.phaseNanoseconds,
                let flushes = vcpu.reports[UInt64(PMK_REPORT_FLUSHES.rawValue)],
                flushes > 0
            else { return nil }
            return Double(ns) / Double(flushes)
        }
        nsPerFlush = perVCPU.isEmpty ? nil : perVCPU.reduce(0, +) / Double(perVCPU.count)
        backingRegions = vm.vfha.backingRegions
        flushTargets = vm.vfha.coalescer.targets.map(\.name)
        flushInstruction = run.vcpus.first?.reports[UInt64(PMK_REPORT_FLUSH_INSN.rawValue)].map {
            FlushInstruction(report: $0).rawValue
        }
        flushOffer = "\(vm.flushOffer.instruction.rawValue): \(vm.flushOffer.reason)"
        wallNs = run.wallNanoseconds
    }
}
