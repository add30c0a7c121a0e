import PMemKit

/// The tables `pmemctl list --health` adds: each DIMM's and CXL memdev's health,
/// and the bad sectors of regions and namespaces (ndctl's and cxl-cli's values,
/// in short columns; `--json` has every field under their keys).
enum HealthTables {
    /// The sections asked for (`pmemctl list`'s selection flags; all without one).
    static func print(_ t: Topology, dimms showDIMMs: Bool, regions: Bool, namespaces: Bool, cxl: Bool) {
        var sections: [[[String]]] = []
        let dimms = t.buses.flatMap(\.dimms)
        if showDIMMs {
            sections.append(
                [
                    [
                        "DIMM", "ID", "HEALTH", "TEMP", "SPARES", "LIFE_USED", "SHUTDOWN", "SHUTDOWNS",
                        "DIRTY_SHUTDOWN", "FLAGS",
                    ]
                ]
                    + dimms.map { d in
                        let h = d.health
                        return [
                            d.name, d.id ?? "-", h?.healthState ?? "-",
                            h?.temperatureCelsius.map { "\(Int($0.rounded()))C" } ?? "-",
                            h?.sparesPercentage.map { "\($0)%" } ?? "-",
                            h?.lifeUsedPercentage.map { "\($0)%" } ?? "-", h?.shutdownState ?? "-",
                            h?.shutdownCount.map(String.init) ?? "-", d.dirtyShutdown.map(String.init) ?? "-",
                            d.flags.isEmpty ? "-" : d.flags.sorted().map(\.rawValue).joined(separator: ","),
                        ]
                    })
        }
        if regions {
            sections.append(
                [["REGION", "BADBLOCKS", "RANGES"]]
                    + t.regions.map { r in
                        [r.name, r.badblockCount.map(String.init) ?? "-", ranges(r.badblocks)]
                    })
        }
        if namespaces {
            sections.append(
                [["NAMESPACE", "REGION", "BADBLOCKS", "RANGES"]]
                    + t.regions.flatMap { r in
                        r.namespaces.map { n in
                            [n.name, r.name, n.badblockCount.map(String.init) ?? "-", ranges(n.badblocks)]
                        }
                    })
        }
        if cxl && !t.cxl.memdevs.isEmpty {
            sections.append(
                [["MEMDEV", "MEDIA", "LIFE_USED", "TEMP", "DIRTY_SHUTDOWNS", "PMEM_ERRORS", "ATTENTION"]]
                    + t.cxl.memdevs.map { m in
                        guard let h = m.health else {
                            return [m.memdev, "no answer", "-", "-", "-", "-", "-"]
                        }
                        return [
                            m.memdev, media(h), h.lifeUsedPercent.map { "\($0)%" } ?? "-",
                            h.temperature.map { "\($0)C" } ?? "-", "\(h.dirtyShutdowns)", "\(h.pmemErrors)",
                            attention(h),
                        ]
                    })
        }
        for (i, section) in sections.enumerated() {
            if i > 0 { Swift.print("") }
            if section.count == 1 {
                Swift.print("\(section[0][0]): none")
            } else {
                Output.table(section)
            }
        }
    }

    /// `8+2,100+1` (sector offset + length), or `-`.
    private static func ranges(_ list: [BadBlock]?) -> String {
        guard let list, !list.isEmpty else { return "-" }
        return list.map { "\($0.offset)+\($0.length)" }.joined(separator: ",")
    }

    /// The worst media status a CXL memdev reports.
    private static func media(_ h: CXLMemdevHealth) -> String {
        if h.mediaDataLost { return "data_lost" }
        if h.mediaPersistenceLost { return "persistence_lost" }
        if h.mediaNotReady { return "not_ready" }
        return h.mediaNormal ? "normal" : "-"
    }

    /// What a CXL memdev asks for: maintenance, replacement, imminent loss.
    private static func attention(_ h: CXLMemdevHealth) -> String {
        let asks: [(Bool, String)] = [
            (h.maintenanceNeeded, "maintenance"), (h.performanceDegraded, "degraded"),
            (h.hwReplacementNeeded, "replace"), (h.mediaShutdownPersistenceLoss, "shutdown_persistence_loss"),
            (h.mediaPersistenceLossImminent || h.mediaDataLossImminent, "loss_imminent"),
        ]
        let set = asks.filter(\.0).map(\.1)
        return set.isEmpty ? "-" : set.joined(separator: ",")
    }
}
