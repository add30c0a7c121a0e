import PMemKit

/// The human tables of `pmemctl list --cxl`.
enum CXLTables {
    static func print(_ cxl: CXLTopology) {
        guard !cxl.isEmpty else {
            Swift.print("CXL: none (no CXL bus)")
            return
        }
        Output.table(
            [["MEMDEV", "SERIAL", "PMEM", "RAM", "HOST", "ENDPOINT"]]
                + cxl.memdevs.map {
                    [
                        $0.memdev, String(format: "0x%llx", $0.serial), ByteSize.format($0.pmemSize),
                        ByteSize.format($0.ramSize), $0.host, $0.endpoint ?? "-",
                    ]
                })
        Swift.print("")
        Output.table(
            [["PORT", "KIND", "PARENT", "HOST"]]
                + cxl.ports.map { [$0.port, $0.kind.rawValue, $0.parent ?? "-", $0.host] })
        Swift.print("")
        Output.table(
            [["DECODER", "PORT", "SIZE", "MODE", "WAYS", "REGION", "MEMDEV", "CAPS"]]
                + cxl.decoders.map { d in
                    let caps = [d.pmemCapable ? "pmem" : nil, d.volatileCapable ? "ram" : nil].compactMap {
                        $0
                    }
                    return [
                        d.decoder, d.port, ByteSize.format(d.size), d.mode ?? "-", "\(d.interleaveWays)",
                        d.region ?? "-", d.memdev ?? "-", caps.isEmpty ? "-" : caps.joined(separator: ","),
                    ]
                })
        Swift.print("")
        if cxl.regions.isEmpty {
            Swift.print("CXL REGION: none")
        } else {
            Output.table(
                [["CXL REGION", "DECODER", "SIZE", "WAYS", "STATE", "TARGETS", "ND REGION"]]
                    + cxl.regions.map { r in
                        [
                            r.region, r.decoder, ByteSize.format(r.size), "\(r.interleaveWays)",
                            r.decodeState,
                            r.targets.map { $0.memdev ?? $0.decoder }.joined(separator: ","),
                            r.ndRegion ?? "-",
                        ]
                    })
        }
    }
}
