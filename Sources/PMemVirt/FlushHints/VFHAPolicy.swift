import Foundation
import PMemKit

/// How the virtual flush hint page is mapped, as asked for.
public enum VFHAPolicy: String, Sendable, Codable, CaseIterable {
    /// Trap when a backing region has flush hints (`deep_flush: supported`), else passthrough.
    case auto
    /// Always trap: a read-only memslot, every guest write exits and is propagated.
    case trap
    /// Never trap: an ordinary page, guest writes cost nothing and do nothing.
    case passthrough

    /// The environment variable that overrides the default (`auto`).
    public static let environmentKey = OverrideVariable.fhaPolicy.name

    /// The policy in force: `explicit` when given, else `PMEMKIT_FHA_POLICY`, else `auto`.
    ///
    /// `environment` (the process's when `nil`) is checked by `Overrides`:
    /// a value that names no policy is an error naming the accepted ones.
    public static func requested(explicit: VFHAPolicy?, environment: [String: String]? = nil) throws
        -> VFHAPolicy
    {
        let overrides = try environment.map(Overrides.init(environment:)) ?? Overrides.current()
        if let explicit { return explicit }
        return overrides.choice(.fhaPolicy).flatMap(VFHAPolicy.init(rawValue:)) ?? .auto
    }
}

/// How the vFHA page is actually mapped.
public enum VFHAMode: String, Sendable, Codable {
    /// Read-only memslot: each write exits, the VMM deep-flushes the backing regions.
    case trap
    /// Ordinary page: no exits.
    case passthrough
}

/// A host region behind the vPMem, with what a deep flush does there.
public struct BackingRegion: Sendable, Equatable, Codable {
    /// `region0`.
    public var name: String
    /// Whether the region has flush hints (`supported`), needs none (`not_needed`), or cannot say.
    public var deepFlush: DeepFlushCapability

    /// A region description (tests inject these to steer `auto`).
    public init(name: String, deepFlush: DeepFlushCapability) {
        self.name = name
        self.deepFlush = deepFlush
    }

    enum CodingKeys: String, CodingKey {
        case name
        case deepFlush = "deep_flush"
    }

    /// The regions behind `mapping`, from its nd location (none off PMem).
    public static func behind(_ mapping: PMemMapping) -> [BackingRegion] {
        guard let region = mapping.location?.region else { return [] }
        return [BackingRegion(name: region, deepFlush: mapping.deepFlushCapability)]
    }
}

/// The vFHA mapping chosen for a VM, and why.
public struct VFHADecision: Sendable, Equatable, Codable {
    /// What was asked for.
    public var requested: VFHAPolicy
    /// What was done.
    public var mode: VFHAMode
    /// Why, in one line.
    public var reason: String

    /// Decides the mapping.
    ///
    /// `auto` traps when any backing region reports `deep_flush: supported`
    /// (its WPQ must be flushed for stores to be durable, which a guest
    /// cannot do), and when the vPMem is a `file` backing (only msync makes
    /// it durable); otherwise CPU flushes already reach the persistence
    /// domain and the page is passed through.
    public static func decide(
        requested: VFHAPolicy, regions: [BackingRegion], backing: PMemMapping.Backing?
    ) -> VFHADecision {
        switch requested {
        case .trap:
            return VFHADecision(requested: requested, mode: .trap, reason: "trap requested")
        case .passthrough:
            return VFHADecision(requested: requested, mode: .passthrough, reason: "passthrough requested")
        case .auto:
            let hinted = regions.filter { $0.deepFlush == .supported }.map(\.name)
            if !hinted.isEmpty {
                return VFHADecision(
                    requested: requested, mode: .trap,
                    reason: "\(hinted.joined(separator: ", ")) has flush hints (deep_flush: supported)")
            }
            if backing == .file {
                return VFHADecision(
                    requested: requested, mode: .trap,
                    reason: "file backing: a flush hint must msync the file")
            }
            let described =
                regions.isEmpty
                ? "no NVDIMM region behind the vPMem"
                : regions.map { "\($0.name): deep_flush \($0.deepFlush.rawValue)" }.joined(separator: ", ")
            return VFHADecision(
                requested: requested, mode: .passthrough, reason: "\(described); CPU flushes suffice")
        }
    }
}
