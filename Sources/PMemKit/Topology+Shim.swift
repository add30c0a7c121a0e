internal import CPMemShim

// Conversions from the shim's plain structs to the Codable model. Kept free
// of I/O so tests can build topologies from fixed structs.

extension PersistenceDomain {
    /// The model's value for the shim's enum.
    init(shim: pmk_persistence_domain) {
        switch shim {
        case PMK_PD_NONE: self = .none
        case PMK_PD_MEMORY_CONTROLLER: self = .memoryController
        case PMK_PD_CPU_CACHE: self = .cpuCache
        default: self = .unknown
        }
    }
}

extension DeepFlushCapability {
    /// The model's value for the shim's enum.
    init(shim: pmk_deep_flush) {
        switch shim {
        case PMK_DEEP_FLUSH_SUPPORTED: self = .supported
        case PMK_DEEP_FLUSH_NOT_NEEDED: self = .notNeeded
        default: self = .unavailable
        }
    }
}

extension NamespaceMode {
    /// The model's value for the shim's enum.
    init(shim: pmk_ns_mode) {
        switch shim {
        case PMK_NS_MODE_FSDAX: self = .fsdax
        case PMK_NS_MODE_DEVDAX: self = .devdax
        case PMK_NS_MODE_RAW: self = .raw
        case PMK_NS_MODE_SECTOR: self = .sector
        default: self = .unknown
        }
    }

    /// The shim's value, for provisioning.
    var shim: pmk_ns_mode {
        switch self {
        case .fsdax: return PMK_NS_MODE_FSDAX
        case .devdax: return PMK_NS_MODE_DEVDAX
        case .raw: return PMK_NS_MODE_RAW
        case .sector: return PMK_NS_MODE_SECTOR
        case .unknown: return PMK_NS_MODE_UNKNOWN
        }
    }
}

extension Bus {
    /// A bus from the shim's struct; DIMMs and regions are added by the scanner.
    init(shim info: pmk_bus_info) {
        self.init(name: shimString(info.devname), provider: shimString(info.provider))
    }
}

extension DIMM {
    /// A DIMM from the shim's struct.
    init(shim info: pmk_dimm_info) {
        self.init(
            name: shimString(info.devname), handle: info.handle, physId: info.phys_id,
            vendor: info.vendor, serial: info.serial, enabled: info.enabled, active: info.active,
            labelsSupported: info.labels_supported,
            availableLabels: info.available_labels < 0 ? nil : Int(info.available_labels))
    }
}

extension RegionMapping {
    /// A mapping from the shim's struct.
    init(shim info: pmk_mapping_info) {
        self.init(
            dimm: shimString(info.dimm), offset: info.offset, length: info.length,
            position: Int(info.position))
    }
}

/// The values libndctl uses for "not known".
private let unknownULL = UInt64.max

extension Region {
    /// A region from the shim's struct; mappings and namespaces are added by the scanner.
    init(shim info: pmk_region_info) {
        let fsdax = withUnsafeBytes(of: info.fsdax_aligns) { Array($0.bindMemory(to: UInt.self)) }
        let devdax = withUnsafeBytes(of: info.devdax_aligns) { Array($0.bindMemory(to: UInt.self)) }
        self.init(
            name: shimString(info.devname), type: shimString(info.type), size: info.size,
            availableSize: info.available_size,
            maxAvailableExtent: info.max_available_extent == unknownULL
                ? info.available_size : info.max_available_extent,
            persistenceDomain: PersistenceDomain(shim: info.persistence_domain),
            deepFlush: DeepFlushCapability(shim: info.deep_flush),
            numaNode: info.numa_node < 0 ? nil : Int(info.numa_node),
            interleaveWays: Int(info.interleave_ways),
            align: info.align == UInt.max ? nil : UInt64(info.align),
            resource: info.resource == unknownULL ? nil : info.resource,
            enabled: info.enabled, readonly: info.readonly, labeled: info.labeled,
            fsdaxAlignments: fsdax.prefix(Int(info.n_fsdax_aligns)).map { UInt64($0) },
            devdaxAlignments: devdax.prefix(Int(info.n_devdax_aligns)).map { UInt64($0) })
    }
}

extension Namespace {
    /// A namespace from the shim's struct.
    init(shim info: pmk_namespace_info) {
        self.init(
            name: shimString(info.devname), mode: NamespaceMode(shim: info.mode), size: info.size,
            rawSize: info.raw_size, uuid: nonEmpty(shimString(info.uuid)),
            rawUUID: nonEmpty(shimString(info.raw_uuid)),
            blockdev: nonEmpty(shimString(info.blockdev)),
            chardev: nonEmpty(shimString(info.chardev)), align: info.align == 0 ? nil : UInt64(info.align),
            altName: nonEmpty(shimString(info.name)), enabled: info.enabled)
    }
}

extension DaxDevice {
    /// A DAX device from the shim's struct.
    init(shim info: pmk_dax_info) {
        self.init(
            name: shimString(info.devname), region: shimString(info.region), size: info.size,
            align: UInt64(info.align), enabled: info.enabled)
    }
}

extension DIMM {
    /// Adds what the shim's health struct says: id, dirty-shutdown count, flags, and
    /// the SMART values when the command answered (`smart`).
    mutating func apply(health h: pmk_dimm_health, smart: Bool) {
        id = nonEmpty(shimString(h.id))
        dirtyShutdown = h.dirty_shutdown < 0 ? nil : Int(h.dirty_shutdown)
        let set: [(Bool, DIMMFlag)] = [
            (h.failed_save, .failedSave), (h.failed_arm, .failedArm), (h.failed_restore, .failedRestore),
            (h.failed_flush, .failedFlush), (h.failed_map, .failedMap), (h.smart_event, .smartEvent),
        ]
        flags = Set(set.filter(\.0).map(\.1))
        // ndctl's rule: no health object for a DIMM that has no SMART command.
        guard smart, h.smart_supported else { return }
        health = DIMMHealth(shim: h)
    }
}

extension DIMMHealth {
    /// The SMART values the shim says are valid; `unknown` state when the command failed.
    init(shim h: pmk_dimm_health) {
        guard h.smart_answered else {
            self.init(healthState: "unknown")
            return
        }
        self.init()
        if h.has_health {
            switch h.health {
            case PMK_HEALTH_FATAL: healthState = "fatal"
            case PMK_HEALTH_CRITICAL: healthState = "critical"
            case PMK_HEALTH_NON_CRITICAL: healthState = "non-critical"
            default: healthState = "ok"
            }
        }
        if h.has_temperature { temperatureCelsius = h.temperature }
        if h.has_ctrl_temperature { controllerTemperatureCelsius = h.ctrl_temperature }
        if h.has_spares { sparesPercentage = Int(h.spares) }
        if h.has_alarms {
            alarmTemperature = h.alarm_temperature
            alarmControllerTemperature = h.alarm_ctrl_temperature
            alarmSpares = h.alarm_spares
        }
        if h.thresholds_answered {
            alarmEnabledMediaTemperature = h.temperature_alarm_enabled
            if h.temperature_alarm_enabled { temperatureThreshold = h.temperature_threshold }
            alarmEnabledCtrlTemperature = h.ctrl_temperature_alarm_enabled
            if h.ctrl_temperature_alarm_enabled {
                controllerTemperatureThreshold = h.ctrl_temperature_threshold
            }
            alarmEnabledSpares = h.spares_alarm_enabled
            if h.spares_alarm_enabled { sparesThreshold = Int(h.spares_threshold) }
        }
        if h.has_life_used { lifeUsedPercentage = Int(h.life_used) }
        if h.has_shutdown_state { shutdownState = h.shutdown_dirty ? "dirty" : "clean" }
        if h.has_shutdown_count { shutdownCount = Int(h.shutdown_count) }
    }
}

extension BadBlock {
    /// A bad-sector list from `read` (one of the shim's badblocks calls): the
    /// call's status (0 or -errno), the bad sectors it counts and their ranges,
    /// asked again with room for all when the first buffer was short.
    static func shimList(
        _ read: (
            UnsafeMutablePointer<pmk_badblock>, Int32, UnsafeMutablePointer<Int32>,
            UnsafeMutablePointer<UInt64>
        ) -> Int32
    ) -> (rc: Int32, sectors: Int, ranges: [BadBlock]) {
        var capacity = 64
        while true {
            var ranges: Int32 = 0
            var sectors: UInt64 = 0
            var buffer = [pmk_badblock](repeating: pmk_badblock(), count: capacity)
            let rc = buffer.withUnsafeMutableBufferPointer {
                read($0.baseAddress!, Int32(capacity), &ranges, &sectors)
            }
            guard rc == 0 else { return (rc, 0, []) }
            if Int(ranges) > capacity {
                capacity = Int(ranges)
                continue
            }
            let list = buffer.prefix(Int(ranges)).map { bb in
                var copy = bb
                let dimms = withUnsafeBytes(of: &copy.dimms) { raw in
                    (0..<Int(bb.n_dimms)).map { i in
                        String(
                            cString: raw.baseAddress!.advanced(by: i * 16).assumingMemoryBound(to: CChar.self)
                        )
                    }
                }
                return BadBlock(offset: bb.offset, length: Int(bb.length), dimms: dimms.isEmpty ? nil : dimms)
            }
            return (0, Int(sectors), list)
        }
    }
}
