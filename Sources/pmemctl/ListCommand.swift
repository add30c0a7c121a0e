import ArgumentParser
import PMemKit

/// `pmemctl list`: buses, DIMMs, regions, namespaces and DAX devices.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List NVDIMM buses, DIMMs, regions, namespaces and DAX devices.",
        discussion:
            "With no selection flag every section is shown. JSON keeps the bus → region → namespace nesting.")

    @Flag(help: "Show buses.") var buses = false
    @Flag(help: "Show DIMMs.") var dimms = false
    @Flag(help: "Show regions.") var regions = false
    @Flag(help: "Show namespaces.") var namespaces = false
    @Flag(help: "Show device-DAX devices.") var dax = false
    @Flag(help: "Show CXL memdevs, ports, decoders and regions.") var cxl = false
    @Flag(
        help:
            "Add health: each DIMM's SMART data and flags, each CXL memdev's health, and the bad sectors of regions and namespaces (ndctl's and cxl-cli's keys in --json)."
    )
    var health = false
    @Flag(help: "Print JSON (the list contract).") var json = false

    func run() throws {
        try reportingFailures {
            let all = !(buses || dimms || regions || namespaces || dax || cxl)
            var topology = try Topology.scan(health: health)
            topology = filtered(topology, all: all)
            if json {
                try Output.json(topology)
                return
            }
            if topology.buses.isEmpty && topology.daxDevices.isEmpty && topology.cxl.isEmpty {
                print("No NVDIMM or CXL persistent memory found (no libnvdimm buses in /sys/bus/nd).")
                print(
                    "PMemKit still runs on emulated PMem: `pmemctl info FILE` shows how a file would be used."
                )
                return
            }
            TopologyTables.print(
                topology, buses: all || buses, dimms: all || dimms, regions: all || regions,
                namespaces: all || namespaces, dax: all || dax)
            if (all && !topology.cxl.isEmpty) || cxl {
                print("")
                CXLTables.print(topology.cxl)
            }
            if health {
                print("")
                HealthTables.print(
                    topology, dimms: all || dimms, regions: all || regions, namespaces: all || namespaces,
                    cxl: all || cxl)
            }
        }
    }

    /// Empties the sections that were not asked for, keeping the nesting.
    private func filtered(_ topology: Topology, all: Bool) -> Topology {
        guard !all else { return topology }
        var t = topology
        for b in t.buses.indices {
            if !dimms { t.buses[b].dimms = [] }
            if !(regions || namespaces) {
                t.buses[b].regions = []
                continue
            }
            for r in t.buses[b].regions.indices where !namespaces {
                t.buses[b].regions[r].namespaces = []
            }
        }
        if !dax { t.daxDevices = [] }
        if !cxl { t.cxl = CXLTopology() }
        return t
    }
}

/// The human tables of `pmemctl list`.
enum TopologyTables {
    static func print(_ t: Topology, buses: Bool, dimms: Bool, regions: Bool, namespaces: Bool, dax: Bool) {
        var sections: [[[String]]] = []
        if buses {
            sections.append(
                [["BUS", "PROVIDER", "DIMMS", "REGIONS"]]
                    + t.buses.map { [$0.name, $0.provider, "\($0.dimms.count)", "\($0.regions.count)"] })
        }
        if dimms {
            let rows = t.buses.flatMap { bus in
                bus.dimms.map { d in
                    [
                        d.name, bus.name, String(format: "0x%x", d.handle), d.enabled ? "yes" : "no",
                        d.labelsSupported ? (d.availableLabels.map { "\($0) free" } ?? "yes") : "none",
                    ]
                }
            }
            sections.append([["DIMM", "BUS", "HANDLE", "ENABLED", "LABELS"]] + rows)
        }
        if regions {
            let rows = t.regions.map { r in
                [
                    r.name, r.type, ByteSize.format(r.size), ByteSize.format(r.availableSize),
                    r.persistenceDomain.rawValue, r.deepFlush.rawValue, r.numaNode.map(String.init) ?? "-",
                    r.mappings.map(\.dimm).joined(separator: ","), r.labeled ? "labeled" : "label-less",
                ]
            }
            sections.append(
                [
                    [
                        "REGION", "TYPE", "SIZE", "AVAILABLE", "PERSISTENCE", "DEEP_FLUSH", "NUMA", "DIMMS",
                        "LABELS",
                    ]
                ]
                    + rows)
        }
        if namespaces {
            let rows = t.regions.flatMap { r in
                r.namespaces.map { n in
                    [
                        n.name, r.name, n.mode.rawValue, ByteSize.format(n.size), n.devicePath ?? "-",
                        n.align.map(ByteSize.format) ?? "-", n.uuid ?? "-",
                    ]
                }
            }
            sections.append([["NAMESPACE", "REGION", "MODE", "SIZE", "DEVICE", "ALIGN", "UUID"]] + rows)
        }
        if dax {
            let rows = t.daxDevices.map {
                ["/dev/\($0.name)", $0.region, ByteSize.format($0.size), ByteSize.format($0.align)]
            }
            sections.append([["DAX DEVICE", "REGION", "SIZE", "ALIGN"]] + rows)
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
}
