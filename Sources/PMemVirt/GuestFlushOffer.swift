import Foundation
import PMemKit

/// The cache-flush instruction guests are offered in CPUID, and why.
///
/// Best first, like the persist path on the host: `clwb`, else
/// `clflushopt`, else `clflush`, limited to what KVM can present and to
/// what actually runs under this KVM (a nested or paravirtual KVM may fail
/// to emulate `clwb`; a probe guest finds out once per process).
/// `PMEMKIT_GUEST_FLUSH=clwb|clflushopt|clflush` caps the choice, so every
/// guest path is testable on one machine.
public struct GuestFlushOffer: Sendable, Equatable {
    /// The instruction guests will find as their best in CPUID.
    public var instruction: FlushInstruction
    /// Why, in one line.
    public var reason: String

    /// An offer of `instruction` (tests and benchmarks force one this way).
    public init(instruction: FlushInstruction, reason: String) {
        self.instruction = instruction
        self.reason = reason
    }

    /// The environment variable that caps the offer.
    public static let environmentKey = "PMEMKIT_GUEST_FLUSH"

    /// Decides the offer for VMs on `kvm`.
    public static func decide(
        kvm: KVM, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> GuestFlushOffer {
        let supported = GuestCPUID.bestFlush(in: try kvm.supportedCPUID())
        if let text = environment[environmentKey] {
            guard let wanted = FlushInstruction(rawValue: text), wanted != .none else {
                throw PMemError(
                    .invalidArgument, operation: "guest CPUID",
                    detail: "\(environmentKey)=\(text): use clwb, clflushopt or clflush")
            }
            let chosen = rank(wanted) <= rank(supported) ? wanted : supported
            return GuestFlushOffer(
                instruction: chosen, reason: "\(environmentKey)=\(text) (KVM offers up to \(supported.rawValue))")
        }
        guard supported == .clwb else {
            return GuestFlushOffer(
                instruction: supported, reason: "the best flush instruction KVM can present")
        }
        switch ClwbProbe.outcome(kvm: kvm) {
        case .runs:
            return GuestFlushOffer(instruction: .clwb, reason: "clwb runs under this KVM (probe guest)")
        case .fails(let why):
            return GuestFlushOffer(
                instruction: .clflushopt, reason: "clwb fails under this KVM, so guests get clflushopt (probe: \(why))")
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

/// Runs the `clwb` guest once per process to learn whether guest `clwb`
/// works under this KVM.
enum ClwbProbe {
    /// What the probe saw.
    enum Outcome: Sendable, Equatable {
        /// The guest executed `clwb` and ended normally.
        case runs
        /// The guest could not run `clwb`: the VM's error, one line.
        case fails(String)
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cached: Outcome?

    /// The outcome, probing on the first call only.
    static func outcome(kvm: KVM) -> Outcome {
        lock.withLock {
            if let cached { return cached }
            let outcome = probe(kvm: kvm)
            cached = outcome
            return outcome
        }
    }

    private static func probe(kvm: KVM) -> Outcome {
        var configuration = VMConfiguration()
        configuration.guestFlush = GuestFlushOffer(instruction: .clwb, reason: "probe")
        configuration.vfha.policy = .passthrough
        configuration.timeout = 10
        do {
            let vm = try VirtualMachine(configuration: configuration, kvm: kvm)
            _ = try vm.run(.clwb)
            return .runs
        } catch {
            return .fails("\(error)")
        }
    }
}
