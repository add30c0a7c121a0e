/// The persistent memory a machine has, as libndctl and libdaxctl see it.
///
/// Encodes to the `pmemctl list --json` contract: field names are the
/// kernel's own words (`persistence_domain`, `deep_flush`, `available_size`).
public struct Topology: Codable, Sendable, Equatable {
    /// NVDIMM buses (ACPI.NFIT, CXL, virtio-pmem, e820 ...), each with its DIMMs and regions.
    public var buses: [Bus]
    /// Device-DAX character devices, whichever bus they came from.
    public var daxDevices: [DaxDevice]
    /// CXL memdevs, ports, decoders and regions (empty without CXL).
    public var cxl: CXLTopology

    /// Creates a topology.
    public init(buses: [Bus] = [], daxDevices: [DaxDevice] = [], cxl: CXLTopology = CXLTopology()) {
        self.buses = buses
        self.daxDevices = daxDevices
        self.cxl = cxl
    }

    enum CodingKeys: String, CodingKey {
        case buses, cxl
        case daxDevices = "dax_devices"
    }

    /// Every region on every bus.
    public var regions: [Region] { buses.flatMap(\.regions) }

    /// Every namespace of every region.
    public var namespaces: [Namespace] { regions.flatMap(\.namespaces) }

    /// The region named `name` (`region0`), if any.
    public func region(named name: String) -> Region? {
        regions.first { $0.name == name }
    }

    /// The namespace named `name` (`namespace0.0`), if any.
    public func namespace(named name: String) -> Namespace? {
        namespaces.first { $0.name == name }
    }

    /// The region that holds the namespace named `name`, if any.
    public func region(holdingNamespace name: String) -> Region? {
        regions.first { $0.namespaces.contains { $0.name == name } }
    }
}

/// An NVDIMM bus: one per platform firmware interface that provides PMem.
public struct Bus: Codable, Sendable, Equatable {
    /// Kernel device name, `ndbus0`.
    public var name: String
    /// Who provides it: `ACPI.NFIT`, `CXL`, `virtio_pmem`, `e820` ...
    public var provider: String
    /// The DIMMs (nmem devices) on this bus.
    public var dimms: [DIMM]
    /// The regions (interleave sets) on this bus.
    public var regions: [Region]

    /// Creates a bus.
    public init(name: String, provider: String, dimms: [DIMM] = [], regions: [Region] = []) {
        self.name = name
        self.provider = provider
        self.dimms = dimms
        self.regions = regions
    }

    enum CodingKeys: String, CodingKey {
        case name, dev, provider, dimms, regions
    }

    /// Decodes the contract's keys.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            provider: try c.decode(String.self, forKey: .provider),
            dimms: try c.decode([DIMM].self, forKey: .dimms),
            regions: try c.decode([Region].self, forKey: .regions))
    }

    /// Encodes the contract's keys; `dev` (ndctl's word) repeats `name`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(name, forKey: .dev)
        try c.encode(provider, forKey: .provider)
        try c.encode(dimms, forKey: .dimms)
        try c.encode(regions, forKey: .regions)
    }
}

/// One NVDIMM (an `nmem` device).
public struct DIMM: Codable, Sendable, Equatable {
    /// Kernel device name, `nmem0`.
    public var name: String
    /// Firmware handle (socket, controller, channel, slot).
    public var handle: UInt32
    /// SMBIOS physical id.
    public var physId: UInt16
    /// Vendor id.
    public var vendor: UInt16
    /// Serial number.
    public var serial: UInt32
    /// Whether the driver is bound.
    public var enabled: Bool
    /// Whether an enabled region uses it.
    public var active: Bool
    /// Whether it has a namespace label area that libndctl can read and write.
    public var labelsSupported: Bool
    /// Free label slots, when known.
    public var availableLabels: Int?
    /// The DIMM's unique id (vendor, manufacturing location and date, serial), when it has one.
    public var id: String?
    /// The kernel's count of unsafe shutdowns (its `dirty_shutdown` attribute), when it has one.
    public var dirtyShutdown: Int?
    /// The flags the platform set on it (a failed save, arm, restore, flush or map; a SMART event).
    public var flags: Set<DIMMFlag> = []
    /// Its SMART health; only with `Topology.scan(health: true)`.
    public var health: DIMMHealth?

    /// Creates a DIMM description.
    public init(
        name: String, handle: UInt32 = 0, physId: UInt16 = 0, vendor: UInt16 = 0, serial: UInt32 = 0,
        enabled: Bool = true, active: Bool = false, labelsSupported: Bool = false, availableLabels: Int? = nil
    ) {
        self.name = name
        self.handle = handle
        self.physId = physId
        self.vendor = vendor
        self.serial = serial
        self.enabled = enabled
        self.active = active
        self.labelsSupported = labelsSupported
        self.availableLabels = availableLabels
    }

    enum CodingKeys: String, CodingKey {
        case name, dev, handle, vendor, serial, enabled, active, id, health
        case physId = "phys_id"
        case labelsSupported = "labels_supported"
        case availableLabels = "available_labels"
        case dirtyShutdown = "dirty_shutdown"
    }

    /// ndctl's keys for the flags: `flag_failed_save: true`, present only when set.
    struct FlagKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        init(_ flag: DIMMFlag) { stringValue = "flag_" + flag.rawValue }
    }

    /// Decodes the contract's keys (flags from their `flag_*` keys).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            handle: try c.decode(UInt32.self, forKey: .handle),
            physId: try c.decode(UInt16.self, forKey: .physId),
            vendor: try c.decode(UInt16.self, forKey: .vendor),
            serial: try c.decode(UInt32.self, forKey: .serial),
            enabled: try c.decode(Bool.self, forKey: .enabled),
            active: try c.decode(Bool.self, forKey: .active),
            labelsSupported: try c.decode(Bool.self, forKey: .labelsSupported),
            availableLabels: try c.decodeIfPresent(Int.self, forKey: .availableLabels))
        id = try c.decodeIfPresent(String.self, forKey: .id)
        dirtyShutdown = try c.decodeIfPresent(Int.self, forKey: .dirtyShutdown)
        health = try c.decodeIfPresent(DIMMHealth.self, forKey: .health)
        let f = try decoder.container(keyedBy: FlagKey.self)
        flags = Set(DIMMFlag.allCases.filter { (try? f.decode(Bool.self, forKey: FlagKey($0))) == true })
    }

    /// Encodes the contract's keys; `id`, `dirty_shutdown`, `health` and the flags only when present.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(name, forKey: .dev)
        try c.encode(handle, forKey: .handle)
        try c.encode(physId, forKey: .physId)
        try c.encode(vendor, forKey: .vendor)
        try c.encode(serial, forKey: .serial)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(active, forKey: .active)
        try c.encode(labelsSupported, forKey: .labelsSupported)
        try c.encodeIfPresent(availableLabels, forKey: .availableLabels)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(dirtyShutdown, forKey: .dirtyShutdown)
        var f = encoder.container(keyedBy: FlagKey.self)
        for flag in flags.sorted() { try f.encode(true, forKey: FlagKey(flag)) }
        try c.encodeIfPresent(health, forKey: .health)
    }
}

/// Where stores become persistent for a region (the kernel's `persistence_domain`).
public enum PersistenceDomain: String, Codable, Sendable, CaseIterable {
    /// eADR: CPU caches are flushed on power loss; a fence is enough.
    case cpuCache = "cpu_cache"
    /// ADR: the memory controller's write pending queue is flushed on power loss.
    case memoryController = "memory_controller"
    /// Nothing is flushed on power loss.
    case none
    /// The platform does not say.
    case unknown
}

/// What a region's WPQ ("deep") flush does, from its `deep_flush` attribute.
///
/// Three answers kept apart, as the kernel's `nvdimm_has_flush()` does.
public enum DeepFlushCapability: String, Codable, Sendable, CaseIterable {
    /// Flush hint addresses exist: a deep flush does real work.
    case supported
    /// No flush hints: the platform drains the WPQ on power loss by itself.
    case notNeeded = "not_needed"
    /// The region has no `deep_flush` attribute (no DIMMs, or no PMem API).
    case unavailable
}

/// Namespace modes.
public enum NamespaceMode: String, Codable, Sendable, CaseIterable {
    /// A block device that supports `mount -o dax` and MAP_SYNC.
    case fsdax
    /// A character device (`/dev/daxX.Y`) mapped directly.
    case devdax
    /// A plain block device, no DAX.
    case raw
    /// A block device behind a block translation table (atomic sectors).
    case sector
    /// A mode libndctl could not tell.
    case unknown
}

/// A range of a DIMM that makes up part of a region.
public struct RegionMapping: Codable, Sendable, Equatable {
    /// The DIMM, `nmem0`.
    public var dimm: String
    /// Offset into the DIMM, bytes.
    public var offset: UInt64
    /// Length, bytes.
    public var length: UInt64
    /// Position in the interleave set.
    public var position: Int

    /// Creates a mapping.
    public init(dimm: String, offset: UInt64, length: UInt64, position: Int = 0) {
        self.dimm = dimm
        self.offset = offset
        self.length = length
        self.position = position
    }
}

/// A region: an interleave set of DIMM ranges from which namespaces are carved.
public struct Region: Codable, Sendable, Equatable {
    /// Kernel device name, `region0`.
    public var name: String
    /// `pmem` (or `blk` on old platforms).
    public var type: String
    /// Capacity, bytes.
    public var size: UInt64
    /// Capacity not yet given to a namespace, bytes.
    public var availableSize: UInt64
    /// Largest contiguous free extent, bytes.
    public var maxAvailableExtent: UInt64
    /// Where stores become persistent.
    public var persistenceDomain: PersistenceDomain
    /// What a deep flush does here.
    public var deepFlush: DeepFlushCapability
    /// NUMA node of the memory, when known.
    public var numaNode: Int?
    /// Interleave ways.
    public var interleaveWays: Int
    /// Region alignment, bytes, when known.
    public var align: UInt64?
    /// Physical start address, when known.
    public var resource: UInt64?
    /// Whether the region is enabled.
    public var enabled: Bool
    /// Whether it is read-only.
    public var readonly: Bool
    /// Whether namespaces are described by labels (otherwise one label-less namespace).
    public var labeled: Bool
    /// Alignments an fsdax namespace may use here.
    public var fsdaxAlignments: [UInt64]
    /// Alignments a devdax namespace may use here.
    public var devdaxAlignments: [UInt64]
    /// The DIMM ranges behind it.
    public var mappings: [RegionMapping]
    /// Its namespaces (idle seeds excluded).
    public var namespaces: [Namespace]
    /// Bad sectors the kernel knows here (512 bytes each); only with `Topology.scan(health: true)`.
    public var badblockCount: Int?
    /// Their ranges, from the region's start; only with `Topology.scan(health: true)`.
    public var badblocks: [BadBlock]?

    /// Creates a region.
    public init(
        name: String, type: String = "pmem", size: UInt64, availableSize: UInt64 = 0,
        maxAvailableExtent: UInt64 = 0, persistenceDomain: PersistenceDomain = .unknown,
        deepFlush: DeepFlushCapability = .unavailable, numaNode: Int? = nil, interleaveWays: Int = 1,
        align: UInt64? = nil, resource: UInt64? = nil, enabled: Bool = true, readonly: Bool = false,
        labeled: Bool = true,
        fsdaxAlignments: [UInt64] = [], devdaxAlignments: [UInt64] = [], mappings: [RegionMapping] = [],
        namespaces: [Namespace] = []
    ) {
        self.name = name
        self.type = type
        self.size = size
        self.availableSize = availableSize
        self.maxAvailableExtent = maxAvailableExtent
        self.persistenceDomain = persistenceDomain
        self.deepFlush = deepFlush
        self.numaNode = numaNode
        self.interleaveWays = interleaveWays
        self.align = align
        self.resource = resource
        self.enabled = enabled
        self.readonly = readonly
        self.labeled = labeled
        self.fsdaxAlignments = fsdaxAlignments
        self.devdaxAlignments = devdaxAlignments
        self.mappings = mappings
        self.namespaces = namespaces
    }

    enum CodingKeys: String, CodingKey {
        case name, dev, type, size, align, resource, enabled, readonly, labeled, mappings, namespaces
        case availableSize = "available_size"
        case maxAvailableExtent = "max_available_extent"
        case persistenceDomain = "persistence_domain"
        case deepFlush = "deep_flush"
        case numaNode = "numa_node"
        case interleaveWays = "interleave_ways"
        case fsdaxAlignments = "fsdax_alignments"
        case devdaxAlignments = "devdax_alignments"
        case badblockCount = "badblock_count"
        case badblocks
    }

    /// Decodes the contract's keys.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), type: try c.decode(String.self, forKey: .type),
            size: try c.decode(UInt64.self, forKey: .size),
            availableSize: try c.decode(UInt64.self, forKey: .availableSize),
            maxAvailableExtent: try c.decode(UInt64.self, forKey: .maxAvailableExtent),
            persistenceDomain: try c.decode(PersistenceDomain.self, forKey: .persistenceDomain),
            deepFlush: try c.decode(DeepFlushCapability.self, forKey: .deepFlush),
            numaNode: try c.decodeIfPresent(Int.self, forKey: .numaNode),
            interleaveWays: try c.decode(Int.self, forKey: .interleaveWays),
            align: try c.decodeIfPresent(UInt64.self, forKey: .align),
            resource: try c.decodeIfPresent(UInt64.self, forKey: .resource),
            enabled: try c.decode(Bool.self, forKey: .enabled),
            readonly: try c.decode(Bool.self, forKey: .readonly),
            labeled: try c.decode(Bool.self, forKey: .labeled),
            fsdaxAlignments: try c.decode([UInt64].self, forKey: .fsdaxAlignments),
            devdaxAlignments: try c.decode([UInt64].self, forKey: .devdaxAlignments),
            mappings: try c.decode([RegionMapping].self, forKey: .mappings),
            namespaces: try c.decode([Namespace].self, forKey: .namespaces))
        badblockCount = try c.decodeIfPresent(Int.self, forKey: .badblockCount)
        badblocks = try c.decodeIfPresent([BadBlock].self, forKey: .badblocks)
    }

    /// Encodes every contract key, with `null` where a value is unknown; `dev`
    /// (ndctl's word) repeats `name`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(name, forKey: .dev)
        try c.encode(type, forKey: .type)
        try c.encode(size, forKey: .size)
        try c.encode(availableSize, forKey: .availableSize)
        try c.encode(maxAvailableExtent, forKey: .maxAvailableExtent)
        try c.encode(persistenceDomain, forKey: .persistenceDomain)
        try c.encode(deepFlush, forKey: .deepFlush)
        try c.encode(numaNode, forKey: .numaNode)
        try c.encode(interleaveWays, forKey: .interleaveWays)
        try c.encode(align, forKey: .align)
        try c.encode(resource, forKey: .resource)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(readonly, forKey: .readonly)
        try c.encode(labeled, forKey: .labeled)
        try c.encode(fsdaxAlignments, forKey: .fsdaxAlignments)
        try c.encode(devdaxAlignments, forKey: .devdaxAlignments)
        try c.encode(mappings, forKey: .mappings)
        try c.encode(namespaces, forKey: .namespaces)
        try c.encodeIfPresent(badblockCount, forKey: .badblockCount)
        try c.encodeIfPresent(badblocks, forKey: .badblocks)
    }
}

/// A namespace: a slice of a region exposed as a block or character device.
public struct Namespace: Codable, Sendable, Equatable {
    /// Kernel device name, `namespace0.0`.
    public var name: String
    /// How it is exposed.
    public var mode: NamespaceMode
    /// Usable size in this mode, bytes (the pfn/dax metadata excluded).
    public var size: UInt64
    /// The namespace's own capacity, metadata included, bytes.
    public var rawSize: UInt64
    /// ndctl's `uuid`: for fsdax, devdax and sector namespaces the info block's
    /// (what those modes identify the namespace by), for a labelled raw one its
    /// label's; `nil` for label-less namespaces.
    public var uuid: String?
    /// The label's uuid where `uuid` is the info block's (ndctl's `raw_uuid`).
    public var rawUUID: String?
    /// Bad sectors the kernel knows here (512 bytes each), counted as ndctl counts
    /// them; only with `Topology.scan(health: true)`.
    public var badblockCount: Int?
    /// Their ranges, from the start of the namespace's data (fsdax, devdax) or of
    /// its region (raw), as ndctl places them; only with `Topology.scan(health: true)`.
    public var badblocks: [BadBlock]?
    /// Block device name (`pmem0`) for fsdax, raw and sector modes.
    public var blockdev: String?
    /// Character device name (`dax0.0`) for devdax mode.
    public var chardev: String?
    /// Mapping alignment, bytes, for fsdax and devdax.
    public var align: UInt64?
    /// Alternate name given at creation, if any.
    public var altName: String?
    /// Whether the namespace is enabled.
    public var enabled: Bool

    /// Creates a namespace description.
    public init(
        name: String, mode: NamespaceMode, size: UInt64, rawSize: UInt64? = nil, uuid: String? = nil,
        rawUUID: String? = nil, blockdev: String? = nil,
        chardev: String? = nil, align: UInt64? = nil, altName: String? = nil, enabled: Bool = true
    ) {
        self.name = name
        self.mode = mode
        self.size = size
        self.rawSize = rawSize ?? size
        self.uuid = uuid
        self.rawUUID = rawUUID
        self.blockdev = blockdev
        self.chardev = chardev
        self.align = align
        self.altName = altName
        self.enabled = enabled
    }

    enum CodingKeys: String, CodingKey {
        case dev, name, mode, size, uuid, blockdev, chardev, align, enabled, badblocks
        case rawSize = "raw_size"
        case altName = "alt_name"
        case rawUUID = "raw_uuid"
        case badblockCount = "badblock_count"
    }

    /// Decodes the contract's keys (`dev` is the device name, `name` ndctl's alternate name).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .dev),
            mode: try c.decode(NamespaceMode.self, forKey: .mode),
            size: try c.decode(UInt64.self, forKey: .size),
            rawSize: try c.decode(UInt64.self, forKey: .rawSize),
            uuid: try c.decodeIfPresent(String.self, forKey: .uuid),
            rawUUID: try c.decodeIfPresent(String.self, forKey: .rawUUID),
            blockdev: try c.decodeIfPresent(String.self, forKey: .blockdev),
            chardev: try c.decodeIfPresent(String.self, forKey: .chardev),
            align: try c.decodeIfPresent(UInt64.self, forKey: .align),
            altName: try c.decodeIfPresent(String.self, forKey: .name),
            enabled: try c.decode(Bool.self, forKey: .enabled))
        badblockCount = try c.decodeIfPresent(Int.self, forKey: .badblockCount)
        badblocks = try c.decodeIfPresent([BadBlock].self, forKey: .badblocks)
    }

    /// Encodes every contract key, with `null` where a value is absent. As in ndctl,
    /// `dev` is the device (`namespace0.0`) and `name` the alternate name given at
    /// creation; `alt_name` repeats it for scripts written before `dev` existed.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .dev)
        try c.encode(altName, forKey: .name)
        try c.encode(mode, forKey: .mode)
        try c.encode(size, forKey: .size)
        try c.encode(rawSize, forKey: .rawSize)
        try c.encode(uuid, forKey: .uuid)
        try c.encode(blockdev, forKey: .blockdev)
        try c.encode(chardev, forKey: .chardev)
        try c.encode(align, forKey: .align)
        try c.encode(altName, forKey: .altName)
        try c.encode(enabled, forKey: .enabled)
        try c.encodeIfPresent(rawUUID, forKey: .rawUUID)
        try c.encodeIfPresent(badblockCount, forKey: .badblockCount)
        try c.encodeIfPresent(badblocks, forKey: .badblocks)
    }

    /// The device path: `/dev/dax0.0` or `/dev/pmem0`, when it has one.
    public var devicePath: String? {
        if let chardev { return "/dev/\(chardev)" }
        if let blockdev { return "/dev/\(blockdev)" }
        return nil
    }
}

/// A device-DAX character device.
public struct DaxDevice: Codable, Sendable, Equatable {
    /// Device name, `dax0.0`.
    public var name: String
    /// The device owning its DAX region (`region0` for PMem, `hmem0` for soft-reserved memory).
    public var region: String
    /// Size, bytes.
    public var size: UInt64
    /// Mapping alignment, bytes.
    public var align: UInt64
    /// Whether a driver is bound.
    public var enabled: Bool

    /// Creates a DAX device description.
    public init(name: String, region: String, size: UInt64, align: UInt64, enabled: Bool = true) {
        self.name = name
        self.region = region
        self.size = size
        self.align = align
        self.enabled = enabled
    }
}
