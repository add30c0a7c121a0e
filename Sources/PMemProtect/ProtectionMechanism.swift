internal import CFaultShim
import Foundation
import PMemKit

/// How a range's access is enforced in a process.
public enum ProtectionMechanism: String, Sendable, Codable, CaseIterable {
    /// Memory protection keys: one `pkey_mprotect` per range, then access is
    /// switched with WRPKRU, no system call. Access is per thread.
    case pkeys
    /// userfaultfd write-protect for read ⇄ read-write (anonymous and shmem
    /// memory); faults are messages served on the handler thread. `none`
    /// falls back to mprotect for that range.
    case userfaultfd
    /// `mprotect` + SIGSEGV: any memory, one system call per switch.
    case mprotect

    /// The environment variable that overrides the automatic choice.
    public static let environmentKey = OverrideVariable.protectMechanism.name

    /// The mechanism `PMEMKIT_PROTECT_MECHANISM` asks for: `nil` for `auto`
    /// or unset. `environment` (the process's when `nil`) is checked by
    /// `Overrides`, so a bad value is an error naming the accepted ones.
    public static func requested(environment: [String: String]? = nil) throws -> ProtectionMechanism? {
        let overrides = try environment.map(Overrides.init(environment:)) ?? Overrides.current()
        guard let value = overrides.choice(.protectMechanism), value != "auto" else { return nil }
        return ProtectionMechanism(rawValue: value)
    }

    var shim: UInt32 {
        switch self {
        case .pkeys: return PMK_MECHANISM_PKEYS.rawValue
        case .userfaultfd: return PMK_MECHANISM_USERFAULTFD.rawValue
        case .mprotect: return PMK_MECHANISM_MPROTECT.rawValue
        }
    }

    init?(shim value: UInt32) {
        guard let found = Self.allCases.first(where: { $0.shim == value }) else { return nil }
        self = found
    }
}

/// How userfaultfd hands a write-protect fault over.
public enum UserfaultfdDelivery: String, Sendable, Codable, CaseIterable {
    /// SIGBUS in the faulting thread (`UFFD_FEATURE_SIGBUS`): built-in
    /// actions run there, as with SIGSEGV, and lift a page with one ioctl.
    case signal
    /// A message read by the handler thread while the faulting thread sleeps
    /// in the kernel: one thread hand-off per fault, built-in actions included.
    case message

    /// The environment variable that overrides the default (`signal` where the kernel has it).
    public static let environmentKey = OverrideVariable.uffdDelivery.name

    /// The delivery `PMEMKIT_UFFD_DELIVERY` asks for: `nil` for unset or
    /// `auto`; `environment` (the process's when `nil`) is checked by `Overrides`.
    public static func requested(environment: [String: String]? = nil) throws -> UserfaultfdDelivery? {
        let overrides = try environment.map(Overrides.init(environment:)) ?? Overrides.current()
        guard let value = overrides.choice(.uffdDelivery), value != "auto" else { return nil }
        return UserfaultfdDelivery(rawValue: value)
    }

    var shim: pmk_uffd_delivery {
        self == .signal ? PMK_UFFD_DELIVERY_SIGNAL : PMK_UFFD_DELIVERY_MESSAGE
    }
}
