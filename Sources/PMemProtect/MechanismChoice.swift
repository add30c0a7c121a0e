import Foundation
import PMemKit

/// The mechanism a process uses by default, chosen once at start: what was
/// asked, what was chosen and why, and what each mechanism offers here
/// (`pmemctl protect info`).
public struct MechanismChoice: Sendable, Codable, Equatable {
    /// `auto`, or the mechanism `PMEMKIT_PROTECT_MECHANISM` named.
    public var requested: String
    /// The mechanism ranges use unless their memory needs another.
    public var mechanism: ProtectionMechanism
    /// One line: why this one.
    public var reason: String
    /// Every mechanism, in the order `auto` prefers them.
    public var mechanisms: [MechanismStatus]

    /// Chooses: the requested mechanism if it is available (else an error
    /// naming what it lacks); with none requested, the first available of
    /// pkeys, userfaultfd, mprotect.
    public static func decide(requested: ProtectionMechanism?, support: MechanismSupport) throws
        -> MechanismChoice
    {
        if let requested {
            let status = try support.requireAvailable(requested, operation: "choose protection mechanism")
            return MechanismChoice(
                requested: requested.rawValue, mechanism: requested,
                reason: "requested (\(ProtectionMechanism.environmentKey) or the caller): \(status.reason)",
                mechanisms: support.all)
        }
        let chosen = support.all.first { $0.available } ?? support.mprotect
        let passedOver = support.all.prefix { $0.mechanism != chosen.mechanism }
            .map { "no \($0.mechanism.rawValue) (\($0.reason))" }
        let reason = (passedOver + [chosen.reason]).joined(separator: "; ")
        return MechanismChoice(
            requested: "auto", mechanism: chosen.mechanism, reason: reason, mechanisms: support.all)
    }

    /// The choice for this process: `PMEMKIT_PROTECT_MECHANISM`, else `auto`.
    public static func current(environment: [String: String]? = nil) throws -> MechanismChoice {
        _ = try UserfaultfdDelivery.requested(environment: environment)
        return try decide(
            requested: try ProtectionMechanism.requested(environment: environment),
            support: .current)
    }
}
