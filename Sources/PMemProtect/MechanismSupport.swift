internal import CFaultShim
import Foundation
import PMemKit

/// Whether one mechanism works in this process, and why (or why not).
public struct MechanismStatus: Sendable, Codable, Equatable {
    /// The mechanism.
    public var mechanism: ProtectionMechanism
    /// Whether ranges can use it.
    public var available: Bool
    /// One line: what it offers here, or what it lacks.
    public var reason: String

    /// A status.
    public init(mechanism: ProtectionMechanism, available: Bool, reason: String) {
        self.mechanism = mechanism
        self.available = available
        self.reason = reason
    }
}

/// What this process can use: each mechanism probed once (CPUID and
/// `pkey_alloc` for pkeys; opening a userfaultfd and asking its features).
public struct MechanismSupport: Sendable, Equatable {
    /// Protection keys.
    public var pkeys: MechanismStatus
    /// userfaultfd write-protect.
    public var userfaultfd: MechanismStatus
    /// mprotect + SIGSEGV: always available.
    public var mprotect: MechanismStatus

    /// A support table (tests build their own to steer the choice).
    public init(pkeys: MechanismStatus, userfaultfd: MechanismStatus, mprotect: MechanismStatus) {
        self.pkeys = pkeys
        self.userfaultfd = userfaultfd
        self.mprotect = mprotect
    }

    /// Every mechanism, in the order `auto` prefers them.
    public var all: [MechanismStatus] { [pkeys, userfaultfd, mprotect] }

    /// The status of `mechanism`.
    public func status(of mechanism: ProtectionMechanism) -> MechanismStatus {
        switch mechanism {
        case .pkeys: return pkeys
        case .userfaultfd: return userfaultfd
        case .mprotect: return mprotect
        }
    }

    /// The status of `mechanism` when it is available here; otherwise an
    /// error for `operation` naming what it lacks.
    func requireAvailable(_ mechanism: ProtectionMechanism, operation: String) throws -> MechanismStatus {
        let status = status(of: mechanism)
        guard status.available else {
            throw PMemError(
                .unsupported, operation: operation,
                detail: "\(mechanism.rawValue) was requested but is unavailable: \(status.reason)")
        }
        return status
    }

    /// This process, probed once.
    public static let current = MechanismSupport(
        pkeys: probePKeys(), userfaultfd: probeUserfaultfd(),
        mprotect: MechanismStatus(
            mechanism: .mprotect, available: true,
            reason: "mprotect + SIGSEGV: any memory, one system call per switch"))

    private static func probePKeys() -> MechanismStatus {
        var info = pmk_pkeys_info()
        let rc = pmk_pkeys_probe(&info)
        let reason: String
        if rc == 0 {
            reason = "the CPU has pku and the kernel enabled it: WRPKRU switches a thread's access"
        } else if info.cpu_pku == 0 {
            reason = "the CPU lacks pku"
        } else if info.os_pke == 0 {
            reason = "the CPU has pku but the kernel did not enable it (no ospke)"
        } else {
            reason = "pkey_alloc: \(String(cString: strerror(-rc)))"
        }
        return MechanismStatus(mechanism: .pkeys, available: rc == 0, reason: reason)
    }

    /// How userfaultfd faults arrive: `PMEMKIT_UFFD_DELIVERY`, else signals where
    /// the kernel has them; applied before the process's userfaultfd is opened.
    /// `nil` without userfaultfd, or when the environment names an unknown
    /// delivery (the protector then refuses to start, naming it).
    public static let userfaultfdDelivery: UserfaultfdDelivery? = {
        var info = pmk_uffd_info()
        guard pmk_uffd_probe(&info) == 0, let requested = try? UserfaultfdDelivery.requested() ?? .signal
        else { return nil }
        let delivery: UserfaultfdDelivery = requested == .signal && info.sigbus == 0 ? .message : requested
        return pmk_uffd_set_delivery(delivery.shim) == 0 ? delivery : nil
    }()

    private static func probeUserfaultfd() -> MechanismStatus {
        var info = pmk_uffd_info()
        let rc = pmk_uffd_probe(&info)
        guard rc == 0 else {
            let reason =
                rc == -EOPNOTSUPP
                ? "the kernel's userfaultfd has no write-protect"
                : "userfaultfd: \(String(cString: strerror(-rc)))"
            return MechanismStatus(mechanism: .userfaultfd, available: false, reason: reason)
        }
        var kinds = ["anonymous"]
        if info.write_protect_shmem != 0 { kinds.append("shmem (/dev/shm, memfd)") }
        let mode =
            info.user_mode_only != 0
            ? "user-mode faults only (UFFD_USER_MODE_ONLY: unprivileged userfaultfd is restricted)"
            : info.via_device != 0 ? "through /dev/userfaultfd" : "privileged"
        let delivery =
            userfaultfdDelivery == .signal
            ? "faults as SIGBUS in the faulting thread" : "faults as messages to the handler thread"
        return MechanismStatus(
            mechanism: .userfaultfd, available: true,
            reason: "write-protect on \(kinds.joined(separator: " and ")) memory, \(mode), \(delivery)")
    }
}
