import Foundation

/// What backs a path and how PMemKit will make stores to it durable:
/// the `pmemctl info PATH` report.
public struct MappingReport: Codable, Sendable, Equatable {
    /// The path asked about.
    public var path: String
    /// devdax, fsdax, file or block.
    public var kind: PMemMapping.DeviceKind
    /// pmem, emulated or file.
    public var backing: PMemMapping.Backing
    /// Whether stores reach real (or hypervisor-emulated) persistent memory directly.
    public var isPMem: Bool
    /// Whether the mapping used MAP_SYNC (fsdax).
    public var mapSync: Bool
    /// Mapped bytes.
    public var size: Int
    /// The nd bus, region and namespace under it, if on PMem.
    public var location: DeviceLocation?
    /// The bus provider (`ACPI.NFIT`, `CXL`), if on PMem.
    public var provider: String?
    /// The region's persistence domain.
    public var persistenceDomain: PersistenceDomain
    /// What a deep flush does there.
    public var deepFlush: DeepFlushCapability
    /// `clwb + sfence`, `sfence only (eADR)` or `msync`.
    public var flushMethod: String
    /// The flush instruction, or `msync`.
    public var flushInstruction: String
    /// The copy instructions for large copies, or `msync`.
    public var copyMethod: String
    /// Copies at least this long stream whole lines with non-temporal stores; `nil` when they never do.
    public var movntThreshold: Int?
    /// Why copies stream from that size (the CPU's vendor, or an override).
    public var movntReason: String?
    /// Why that path was chosen.
    public var reason: String
    /// The durability promise in one sentence.
    public var durability: String
    /// Where the region sits in CXL, when it is CXL memory.
    public var cxl: CXLPlacement?
    /// The `PMEMKIT_*` overrides in force in this process.
    public var overrides: [Overrides.Setting]

    /// A namespace on a CXL region: the CXL region, its memdevs and the
    /// decoders that route it, root first.
    public struct CXLPlacement: Codable, Sendable, Equatable {
        /// The CXL region (CXL's name).
        public var region: String
        /// Its memdevs in interleave order.
        public var memdevs: [String]
        /// For each memdev, the decoders from the root decoder to its endpoint decoder.
        public var decoderChains: [String: [String]]

        enum CodingKeys: String, CodingKey {
            case region, memdevs
            case decoderChains = "decoder_chains"
        }
    }

    enum CodingKeys: String, CodingKey {
        case path, kind, backing, size, location, provider, reason, durability, cxl, overrides
        case isPMem = "is_pmem"
        case mapSync = "map_sync"
        case persistenceDomain = "persistence_domain"
        case deepFlush = "deep_flush"
        case flushMethod = "flush_method"
        case flushInstruction = "flush_instruction"
        case copyMethod = "copy_method"
        case movntThreshold = "movnt_threshold"
        case movntReason = "movnt_reason"
    }

    /// Describes an open mapping.
    public init(mapping m: PMemMapping, provider: String? = nil, cxl: CXLPlacement? = nil) {
        self.cxl = cxl
        overrides = Overrides.currentOrDefaults.inForce
        path = m.path
        kind = m.kind
        backing = m.backing
        isPMem = m.backing == .pmem
        mapSync = m.kind == .fsdax
        size = m.size
        location = m.location
        self.provider = provider
        persistenceDomain = m.persistenceDomain
        deepFlush = m.deepFlushCapability
        flushMethod = m.flushMethod
        flushInstruction = m.persistPath?.flush.rawValue ?? "msync"
        copyMethod = m.persistPath?.copy.rawValue ?? "msync"
        movntThreshold = m.persistPath.flatMap { $0.movntThreshold == Int.max ? nil : $0.movntThreshold }
        movntReason = m.persistPath?.movntReason
        reason = m.persistPath?.reason ?? "file backing: durability through msync"
        switch m.backing {
        case .pmem:
            durability = "persistent memory: flushed stores survive power loss"
        case .emulated:
            durability =
                "emulated PMem: flushed stores survive a process crash, not a power loss or kernel crash"
        case .file:
            durability = "file: stores survive power loss after msync"
        }
    }

    /// Maps `path` read-only and describes it. Nothing is written.
    public static func describe(path: String) throws -> MappingReport {
        let mapping = try PMemMapping(path: path, options: .init(readOnly: true))
        guard let location = mapping.location, let topology = try? Topology.scan() else {
            return MappingReport(mapping: mapping)
        }
        let provider = topology.buses.first { $0.name == location.bus }?.provider
        var placement: CXLPlacement?
        if let region = topology.cxl.region(backingNDRegion: location.region) {
            let memdevs = region.targets.compactMap(\.memdev)
            placement = CXLPlacement(
                region: region.region, memdevs: memdevs,
                decoderChains: Dictionary(
                    uniqueKeysWithValues: memdevs.map {
                        ($0, topology.cxl.decoderChain(region: region, memdev: $0))
                    }))
        }
        return MappingReport(mapping: mapping, provider: provider, cxl: placement)
    }
}
