internal import CKVMShim
import Foundation
import PMemKit

/// The cache-flush instruction guests use, and why.
///
/// Best first, like the persist path on the host: `clwb`, else
/// `clflushopt`, else `clflush`, limited to what KVM can present and to
/// what actually runs under this KVM at the guest's privilege level (a
/// nested or paravirtual KVM may fail to emulate `clwb`; a probe guest
/// finds out once per process). The VMM tells guests through CPUID. Where
/// this KVM does not show guests the VMM's CPUID (kvm_pvm at CPL 3, where
/// CPUID is not intercepted), guests see the host's CPUID: the offer is
/// then what they will choose from it, and it is marked not enforced.
/// `PMEMKIT_GUEST_FLUSH=clwb|clflushopt|clflush` caps the choice, so every
/// guest path is testable on one machine.
public struct GuestFlushOffer: Sendable, Equatable {
    /// The instruction guests will use.
    public var instruction: FlushInstruction
    /// Whether guests learn it from the VMM's CPUID (otherwise from the host's).
    public var enforced: Bool
    /// Why, in one line.
    public var reason: String

    /// An offer of `instruction` set through CPUID (tests and probes force one this way).
    public init(instruction: FlushInstruction, enforced: Bool = true, reason: String) {
        self.instruction = instruction
        self.enforced = enforced
        self.reason = reason
    }

    /// The environment variable that caps the offer.
    public static let environmentKey = OverrideVariable.guestFlush.name

    /// Decides the offer for guests at `privilege` on `kvm`.
    public static func decide(
        kvm: KVM, privilege: GuestPrivilege = .user,
        environment: [String: String]? = nil
    ) throws -> GuestFlushOffer {
        let overrides = try environment.map(Overrides.init(environment:)) ?? Overrides.current()
        let level = privilege == .user ? "CPL 3" : "CPL 0"
        let view = GuestProbe.cpuid(kvm: kvm, privilege: privilege)
        let wanted = overrides.choice(.guestFlush).flatMap(FlushInstruction.init(rawValue:))
        guard view.seesVMMLeaf else {
            if let wanted {
                throw PMemError(
                    .unsupported, operation: "guest CPUID",
                    detail: "\(environmentKey)=\(wanted.rawValue) cannot be enforced: guests at \(level) see "
                        + "the host's CPUID under this KVM; use kernel privilege")
            }
            var reason =
                "guests at \(level) see the host's CPUID under this KVM and choose \(view.choice.rawValue)"
            if view.choice == .clwb, case .fails(let why) = GuestProbe.clwb(kvm: kvm, privilege: privilege) {
                reason += ", but clwb fails there (\(why)); run them at the other privilege level"
            }
            return GuestFlushOffer(instruction: view.choice, enforced: false, reason: reason)
        }
        let supported = GuestCPUID.bestFlush(in: try kvm.supportedCPUID())
        if let wanted {
            let chosen = rank(wanted) <= rank(supported) ? wanted : supported
            return GuestFlushOffer(
                instruction: chosen,
                reason: "\(environmentKey)=\(wanted.rawValue) (KVM offers up to \(supported.rawValue))")
        }
        guard supported == .clwb else {
            return GuestFlushOffer(
                instruction: supported, reason: "the best flush instruction KVM can present")
        }
        switch GuestProbe.clwb(kvm: kvm, privilege: privilege) {
        case .runs:
            return GuestFlushOffer(
                instruction: .clwb, reason: "clwb runs at \(level) under this KVM (probe guest)")
        case .fails(let why):
            return GuestFlushOffer(
                instruction: .clflushopt,
                reason: "clwb fails at \(level) under this KVM, so guests get clflushopt (probe: \(why))")
        }
    }

    /// Orders instructions from the most capable (clwb) to none.
    private static func rank(_ instruction: FlushInstruction) -> Int {
        switch instruction {
        case .clwb: return 3
        case .clflushopt: return 2
        case .clflush: return 1
        case .none: return 0
        }
    }
}

/// Small guests run once per process and privilege level to learn what
/// this KVM does: whether guest `clwb` runs, and whether guests see the
/// VMM's CPUID.
enum GuestProbe {
    /// Whether `clwb` ran.
    enum ClwbOutcome: Sendable, Equatable {
        /// The guest executed `clwb` and ended normally.
        case runs
        /// The guest could not run `clwb`: the VM's error, one line.
        case fails(String)
    }

    /// What a guest saw in CPUID.
    struct CPUIDView: Sendable, Equatable {
        /// Whether CPUID showed the PMemVirt leaf (the VMM's table reaches the guest).
        var seesVMMLeaf: Bool
        /// The flush instruction the guest chose.
        var choice: FlushInstruction
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var clwbOutcomes: [GuestPrivilege: ClwbOutcome] = [:]
    nonisolated(unsafe) private static var cpuidViews: [GuestPrivilege: CPUIDView] = [:]

    /// Runs the `clwb` guest at `privilege` (once).
    static func clwb(kvm: KVM, privilege: GuestPrivilege) -> ClwbOutcome {
        lock.withLock {
            if let known = clwbOutcomes[privilege] { return known }
            let outcome: ClwbOutcome
            do {
                _ = try probeVM(kvm: kvm, privilege: privilege, offer: .clwb).run(.clwb)
                outcome = .runs
            } catch {
                outcome = .fails("\(error)")
            }
            clwbOutcomes[privilege] = outcome
            return outcome
        }
    }

    /// Runs the `cpuid` guest at `privilege` (once), offering `clflush` only:
    /// a guest that still chooses better sees the host's CPUID.
    static func cpuid(kvm: KVM, privilege: GuestPrivilege) -> CPUIDView {
        lock.withLock {
            if let known = cpuidViews[privilege] { return known }
            var view = CPUIDView(seesVMMLeaf: false, choice: .clflush)
            if let run = try? probeVM(kvm: kvm, privilege: privilege, offer: .clflush).run(.cpuid),
                let vcpu = run.vcpus.first
            {
                view.seesVMMLeaf = vcpu.reports[UInt64(PMK_REPORT_CPUID_LEAF_SEEN.rawValue)] == 1
                view.choice = FlushInstruction(
                    report: vcpu.reports[UInt64(PMK_REPORT_FLUSH_INSN.rawValue)] ?? 0)
            }
            cpuidViews[privilege] = view
            return view
        }
    }

    private static func probeVM(kvm: KVM, privilege: GuestPrivilege, offer: FlushInstruction) throws
        -> VirtualMachine
    {
        var configuration = VMConfiguration()
        configuration.privilege = privilege
        configuration.guestFlush = GuestFlushOffer(instruction: offer, reason: "probe")
        configuration.vfha.policy = .passthrough
        configuration.timeout = 10
        return try VirtualMachine(configuration: configuration, kvm: kvm)
    }
}

extension FlushInstruction {
    /// The instruction a guest reported (`PMK_FLUSH_INSN_*`).
    init(report code: UInt64) {
        switch code {
        case UInt64(PMK_FLUSH_INSN_CLWB.rawValue): self = .clwb
        case UInt64(PMK_FLUSH_INSN_CLFLUSHOPT.rawValue): self = .clflushopt
        case UInt64(PMK_FLUSH_INSN_CLFLUSH.rawValue): self = .clflush
        default: self = .none
        }
    }
}
