/// CXL type-3 memory as libcxl sees it, with the kernel's own names (as
/// `cxl list` prints them). A CXL pmem region also appears as an nd region
/// on a bus whose provider is `CXL`; `CXLRegion.ndRegion` joins the two.
public struct CXLTopology: Codable, Sendable, Equatable {
    /// Memory devices (`mem0`).
    public var memdevs: [CXLMemdev]
    /// Root, host-bridge/switch and endpoint ports.
    public var ports: [CXLPort]
    /// HDM decoders of every port.
    public var decoders: [CXLDecoder]
    /// Regions under the root decoders.
    public var regions: [CXLRegion]

    /// Creates a CXL topology.
    public init(
        memdevs: [CXLMemdev] = [], ports: [CXLPort] = [], decoders: [CXLDecoder] = [],
        regions: [CXLRegion] = []
    ) {
        self.memdevs = memdevs
        self.ports = ports
        self.decoders = decoders
        self.regions = regions
    }

    /// Whether there is any CXL at all.
    public var isEmpty: Bool { memdevs.isEmpty && ports.isEmpty }

    /// The decoder named `name`.
    public func decoder(named name: String) -> CXLDecoder? { decoders.first { $0.decoder == name } }

    /// The port named `name`.
    public func port(named name: String) -> CXLPort? { ports.first { $0.port == name } }

    /// The region named `name` (CXL's name, e.g. `region0`).
    public func region(named name: String) -> CXLRegion? { regions.first { $0.region == name } }

    /// The CXL region behind an nd region, if that nd region is CXL memory.
    public func region(backingNDRegion name: String) -> CXLRegion? { regions.first { $0.ndRegion == name } }

    /// The decoders, root first, that route a region to one memdev: root
    /// decoder → host bridge / switch decoders → endpoint decoder.
    public func decoderChain(region: CXLRegion, memdev: String) -> [String] {
        guard let endpoint = decoders.first(where: { $0.memdev == memdev && $0.region == region.region })
        else {
            return [region.decoder]
        }
        // Walk up the ports from the endpoint, picking each port's decoder for this region.
        var chain = [endpoint.decoder]
        var port = self.port(named: endpoint.port)?.parent
        while let name = port, let p = self.port(named: name) {
            if p.kind == .root { break }
            if let d = decoders.first(where: { $0.port == name && $0.region == region.region }) {
                chain.insert(d.decoder, at: 0)
            }
            port = p.parent
        }
        return [region.decoder] + chain
    }
}

/// A CXL memory device.
public struct CXLMemdev: Codable, Sendable, Equatable {
    /// `mem0`.
    public var memdev: String
    /// Serial number (QEMU: the `sn=` property).
    public var serial: UInt64
    /// Persistent capacity, bytes.
    public var pmemSize: UInt64
    /// Volatile capacity, bytes.
    public var ramSize: UInt64
    /// The PCI device that hosts it.
    public var host: String
    /// Its endpoint port (`endpoint2`).
    public var endpoint: String?
    /// Label storage area, bytes.
    public var labelSize: UInt64
    /// NUMA node, when known.
    public var numaNode: Int?
    /// Whether a driver is bound.
    public var enabled: Bool
    /// Its Get Health Info answer; only with `Topology.scan(health: true)`.
    public var health: CXLMemdevHealth?

    /// Creates a memdev description.
    public init(
        memdev: String, serial: UInt64, pmemSize: UInt64, ramSize: UInt64 = 0, host: String = "",
        endpoint: String? = nil, labelSize: UInt64 = 0, numaNode: Int? = nil, enabled: Bool = true
    ) {
        self.memdev = memdev
        self.serial = serial
        self.pmemSize = pmemSize
        self.ramSize = ramSize
        self.host = host
        self.endpoint = endpoint
        self.labelSize = labelSize
        self.numaNode = numaNode
        self.enabled = enabled
    }

    enum CodingKeys: String, CodingKey {
        case memdev, serial, host, endpoint, enabled, health
        case pmemSize = "pmem_size"
        case ramSize = "ram_size"
        case labelSize = "label_storage_size"
        case numaNode = "numa_node"
    }
}

/// A CXL port.
public struct CXLPort: Codable, Sendable, Equatable {
    /// Where a port sits.
    public enum Kind: String, Codable, Sendable {
        /// The platform's CXL root (ACPI CEDT).
        case root
        /// A host bridge or switch.
        case `switch`
        /// A memdev's endpoint.
        case endpoint
    }

    /// `root0`, `port1`, `endpoint2`.
    public var port: String
    /// Its kind.
    public var kind: Kind
    /// The device that hosts it.
    public var host: String
    /// The parent port; `nil` for a root.
    public var parent: String?
    /// Depth from the root (0).
    public var depth: Int
    /// Downstream ports.
    public var nrDports: Int
    /// Whether a driver is bound.
    public var enabled: Bool

    /// Creates a port description.
    public init(
        port: String, kind: Kind, host: String = "", parent: String? = nil, depth: Int = 0, nrDports: Int = 0,
        enabled: Bool = true
    ) {
        self.port = port
        self.kind = kind
        self.host = host
        self.parent = parent
        self.depth = depth
        self.nrDports = nrDports
        self.enabled = enabled
    }

    enum CodingKeys: String, CodingKey {
        case port, kind, host, parent, depth, enabled
        case nrDports = "nr_dports"
    }
}

/// An HDM decoder.
public struct CXLDecoder: Codable, Sendable, Equatable {
    /// `decoder0.0`.
    public var decoder: String
    /// The port it belongs to.
    public var port: String
    /// Host physical address, when programmed.
    public var resource: UInt64?
    /// Bytes of host address space it decodes.
    public var size: UInt64
    /// Endpoint decoders: device physical address, when set.
    public var dpaResource: UInt64?
    /// Endpoint decoders: device capacity it claims.
    public var dpaSize: UInt64
    /// Root decoders: largest free extent for new regions.
    public var maxAvailableExtent: UInt64?
    /// Endpoint decoders: `pmem`, `ram`, `mixed` or `none`.
    public var mode: String?
    /// Interleave ways.
    public var interleaveWays: Int
    /// Interleave granularity, bytes.
    public var interleaveGranularity: Int
    /// Targets it routes to.
    public var nrTargets: Int
    /// The region using it.
    public var region: String?
    /// Endpoint decoders: their memdev.
    public var memdev: String?
    /// Root decoders: may host pmem regions.
    public var pmemCapable: Bool
    /// Root decoders: may host ram regions.
    public var volatileCapable: Bool
    /// Locked by firmware.
    public var locked: Bool

    /// Creates a decoder description.
    public init(
        decoder: String, port: String, resource: UInt64? = nil, size: UInt64 = 0, dpaResource: UInt64? = nil,
        dpaSize: UInt64 = 0, maxAvailableExtent: UInt64? = nil, mode: String? = nil, interleaveWays: Int = 1,
        interleaveGranularity: Int = 256, nrTargets: Int = 0, region: String? = nil, memdev: String? = nil,
        pmemCapable: Bool = false, volatileCapable: Bool = false, locked: Bool = false
    ) {
        self.decoder = decoder
        self.port = port
        self.resource = resource
        self.size = size
        self.dpaResource = dpaResource
        self.dpaSize = dpaSize
        self.maxAvailableExtent = maxAvailableExtent
        self.mode = mode
        self.interleaveWays = interleaveWays
        self.interleaveGranularity = interleaveGranularity
        self.nrTargets = nrTargets
        self.region = region
        self.memdev = memdev
        self.pmemCapable = pmemCapable
        self.volatileCapable = volatileCapable
        self.locked = locked
    }

    enum CodingKeys: String, CodingKey {
        case decoder, port, resource, size, mode, region, memdev, locked
        case dpaResource = "dpa_resource"
        case dpaSize = "dpa_size"
        case maxAvailableExtent = "max_available_extent"
        case interleaveWays = "interleave_ways"
        case interleaveGranularity = "interleave_granularity"
        case nrTargets = "nr_targets"
        case pmemCapable = "pmem_capable"
        case volatileCapable = "volatile_capable"
    }
}

/// A CXL region.
public struct CXLRegion: Codable, Sendable, Equatable {
    /// One interleave position.
    public struct Target: Codable, Sendable, Equatable {
        /// Position in the interleave set.
        public var position: Int
        /// The endpoint decoder.
        public var decoder: String
        /// That decoder's memdev.
        public var memdev: String?

        /// Creates a target.
        public init(position: Int, decoder: String, memdev: String?) {
            self.position = position
            self.decoder = decoder
            self.memdev = memdev
        }
    }

    /// CXL's name, `region0` (a different namespace from nd region names).
    public var region: String
    /// Its root decoder.
    public var decoder: String
    /// Region UUID (pmem regions).
    public var uuid: String?
    /// Host physical address.
    public var resource: UInt64?
    /// Bytes.
    public var size: UInt64
    /// Interleave ways.
    public var interleaveWays: Int
    /// Interleave granularity, bytes.
    public var interleaveGranularity: Int
    /// `commit` when the decoders are programmed, else `reset`.
    public var decodeState: String
    /// Whether the region driver is bound.
    public var enabled: Bool
    /// Its interleave positions.
    public var targets: [Target]
    /// The nd region libnvdimm made of it (same physical address), if any.
    public var ndRegion: String?

    /// Creates a region description.
    public init(
        region: String, decoder: String, uuid: String? = nil, resource: UInt64? = nil, size: UInt64,
        interleaveWays: Int = 1, interleaveGranularity: Int = 256, decodeState: String = "commit",
        enabled: Bool = true, targets: [Target] = [], ndRegion: String? = nil
    ) {
        self.region = region
        self.decoder = decoder
        self.uuid = uuid
        self.resource = resource
        self.size = size
        self.interleaveWays = interleaveWays
        self.interleaveGranularity = interleaveGranularity
        self.decodeState = decodeState
        self.enabled = enabled
        self.targets = targets
        self.ndRegion = ndRegion
    }

    enum CodingKeys: String, CodingKey {
        case region, decoder, uuid, resource, size, enabled, targets
        case interleaveWays = "interleave_ways"
        case interleaveGranularity = "interleave_granularity"
        case decodeState = "decode_state"
        case ndRegion = "nd_region"
    }
}

/// A CXL memdev's health (its Get Health Info mailbox answer), in cxl-cli's
/// words (`cxl list --health` uses the same keys for the same values).
public struct CXLMemdevHealth: Codable, Sendable, Equatable {
    /// The device asks for maintenance.
    public var maintenanceNeeded = false
    /// It runs below its rated performance.
    public var performanceDegraded = false
    /// It should be replaced.
    public var hwReplacementNeeded = false
    /// Its media work normally.
    public var mediaNormal = false
    /// Its media are not ready yet.
    public var mediaNotReady = false
    /// The device lost persistence (its contents may not be what was written).
    public var mediaPersistenceLost = false
    /// It lost data.
    public var mediaDataLost = false
    /// Persistence was lost at a power loss.
    public var mediaPowerlossPersistenceLoss = false
    /// Persistence was lost at the last shutdown.
    public var mediaShutdownPersistenceLoss = false
    /// It expects to lose persistence.
    public var mediaPersistenceLossImminent = false
    /// Data was lost at a power loss.
    public var mediaPowerlossDataLoss = false
    /// Data was lost at the last shutdown.
    public var mediaShutdownDataLoss = false
    /// It expects to lose data.
    public var mediaDataLossImminent = false
    /// Life used, percent, when the device says.
    public var lifeUsedPercent: Int?
    /// Device temperature, °C, when the device says.
    public var temperature: Int?
    /// Shutdowns the device counted as dirty (it could not save its state).
    public var dirtyShutdowns = 0
    /// Corrected errors in its volatile memory.
    public var volatileErrors = 0
    /// Corrected errors in its persistent memory.
    public var pmemErrors = 0

    /// A health report with every status false and every count 0.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case temperature
        case maintenanceNeeded = "maintenance_needed"
        case performanceDegraded = "performance_degraded"
        case hwReplacementNeeded = "hw_replacement_needed"
        case mediaNormal = "media_normal"
        case mediaNotReady = "media_not_ready"
        case mediaPersistenceLost = "media_persistence_lost"
        case mediaDataLost = "media_data_lost"
        case mediaPowerlossPersistenceLoss = "media_powerloss_persistence_loss"
        case mediaShutdownPersistenceLoss = "media_shutdown_persistence_loss"
        case mediaPersistenceLossImminent = "media_persistence_loss_imminent"
        case mediaPowerlossDataLoss = "media_powerloss_data_loss"
        case mediaShutdownDataLoss = "media_shutdown_data_loss"
        case mediaDataLossImminent = "media_data_loss_imminent"
        case lifeUsedPercent = "life_used_percent"
        case dirtyShutdowns = "dirty_shutdowns"
        case volatileErrors = "volatile_errors"
        case pmemErrors = "pmem_errors"
    }
}
