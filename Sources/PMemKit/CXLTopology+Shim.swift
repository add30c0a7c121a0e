internal import CPMemShim

// Conversions from the shim's CXL structs, free of I/O so tests can use fixed structs.

private let unknownULL = UInt64.max

extension CXLMemdev {
    /// A memdev from the shim's struct.
    init(shim info: pmk_cxl_memdev_info) {
        self.init(
            memdev: shimString(info.devname), serial: info.serial, pmemSize: info.pmem_size,
            ramSize: info.ram_size, host: shimString(info.host),
            endpoint: nonEmpty(shimString(info.endpoint)),
            labelSize: info.label_size, numaNode: info.numa_node < 0 ? nil : Int(info.numa_node),
            enabled: info.enabled)
    }
}

extension CXLMemdevHealth {
    /// The answer, or nil when the device did not answer Get Health Info.
    init?(shim h: pmk_cxl_memdev_health) {
        guard h.answered else { return nil }
        self.init()
        maintenanceNeeded = h.maintenance_needed
        performanceDegraded = h.performance_degraded
        hwReplacementNeeded = h.hw_replacement_needed
        mediaNormal = h.media_normal
        mediaNotReady = h.media_not_ready
        mediaPersistenceLost = h.media_persistence_lost
        mediaDataLost = h.media_data_lost
        mediaPowerlossPersistenceLoss = h.media_powerloss_persistence_loss
        mediaShutdownPersistenceLoss = h.media_shutdown_persistence_loss
        mediaPersistenceLossImminent = h.media_persistence_loss_imminent
        mediaPowerlossDataLoss = h.media_powerloss_data_loss
        mediaShutdownDataLoss = h.media_shutdown_data_loss
        mediaDataLossImminent = h.media_data_loss_imminent
        lifeUsedPercent = h.life_used_percent < 0 ? nil : Int(h.life_used_percent)
        temperature = h.temperature == Int32.min ? nil : Int(h.temperature)
        dirtyShutdowns = Int(h.dirty_shutdowns)
        volatileErrors = Int(h.volatile_errors)
        pmemErrors = Int(h.pmem_errors)
    }
}

extension CXLPort {
    /// A port from the shim's struct.
    init(shim info: pmk_cxl_port_info) {
        let kind: Kind
        switch info.kind {
        case PMK_CXL_PORT_ROOT: kind = .root
        case PMK_CXL_PORT_ENDPOINT: kind = .endpoint
        default: kind = .switch
        }
        self.init(
            port: shimString(info.devname), kind: kind, host: shimString(info.host),
            parent: nonEmpty(shimString(info.parent)), depth: Int(info.depth), nrDports: Int(info.nr_dports),
            enabled: info.enabled)
    }
}

extension CXLDecoder {
    /// A decoder from the shim's struct.
    init(shim info: pmk_cxl_decoder_info, isRoot: Bool, isEndpoint: Bool) {
        let mode: String?
        switch info.mode {
        case PMK_CXL_MODE_PMEM: mode = "pmem"
        case PMK_CXL_MODE_RAM: mode = "ram"
        case PMK_CXL_MODE_MIXED: mode = "mixed"
        default: mode = isEndpoint ? "none" : nil
        }
        self.init(
            decoder: shimString(info.devname), port: shimString(info.port),
            resource: info.resource == unknownULL ? nil : info.resource, size: info.size,
            dpaResource: info.dpa_resource == unknownULL ? nil : info.dpa_resource, dpaSize: info.dpa_size,
            maxAvailableExtent: isRoot && info.max_available_extent != unknownULL
                ? info.max_available_extent : nil,
            mode: mode, interleaveWays: Int(info.interleave_ways),
            interleaveGranularity: Int(info.interleave_granularity), nrTargets: Int(info.nr_targets),
            region: nonEmpty(shimString(info.region)), memdev: nonEmpty(shimString(info.memdev)),
            pmemCapable: info.pmem_capable, volatileCapable: info.volatile_capable, locked: info.locked)
    }
}

extension CXLRegion {
    /// A region from the shim's struct; target memdevs come from the endpoint decoders.
    init(shim info: pmk_cxl_region_info, decoders: [CXLDecoder]) {
        let names: [String] = withUnsafeBytes(of: info.targets) { raw in
            let stride = raw.count / Int(PMK_CXL_MAX_TARGETS)
            return (0..<Int(info.n_targets)).map { i in
                let slice = raw[(i * stride)..<((i + 1) * stride)]
                return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        let targets = names.enumerated().map { position, decoder in
            Target(
                position: position, decoder: decoder, memdev: decoders.first { $0.decoder == decoder }?.memdev
            )
        }
        self.init(
            region: shimString(info.devname), decoder: shimString(info.decoder),
            uuid: nonEmpty(shimString(info.uuid)),
            resource: info.resource == unknownULL ? nil : info.resource,
            size: info.size, interleaveWays: Int(info.interleave_ways),
            interleaveGranularity: Int(info.interleave_granularity),
            decodeState: info.committed ? "commit" : "reset",
            enabled: info.enabled, targets: targets)
    }
}
