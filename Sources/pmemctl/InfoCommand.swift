import ArgumentParser
import PMemKit

/// `pmemctl info [PATH]`: what backs a path and how stores to it become
/// durable; without a path, this machine's persist path and the overrides
/// in force.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract:
            "Show what backs PATH (devdax, fsdax, file), whether it is real PMem, and the flush method used; "
            + "without PATH, the CPU's persist path and the PMEMKIT_* overrides in force.")

    @Argument(help: "A DAX device, a file on a DAX file system, or any file.") var path: String?
    @Flag(help: "Print JSON.") var json = false

    /// `pmemctl info` without a path.
    struct MachineReport: Codable {
        var cpu: CPUFeatures
        var flushMethod: String
        var copyMethod: String
        var movntThreshold: Int?
        var movntReason: String
        var reason: String
        var overrides: [Overrides.Setting]

        enum CodingKeys: String, CodingKey {
            case cpu, reason, overrides
            case flushMethod = "flush_method"
            case copyMethod = "copy_method"
            case movntThreshold = "movnt_threshold"
            case movntReason = "movnt_reason"
        }
    }

    func run() throws {
        try reportingFailures {
            guard let path else { return try machine() }
            let report = try MappingReport.describe(path: path)
            if json {
                try Output.json(report)
                return
            }
            var rows: [[String]] = [
                ["path", report.path],
                ["kind", report.kind.rawValue],
                ["backing", report.backing.rawValue + (report.isPMem ? " (real PMem)" : " (not PMem)")],
                ["size", ByteSize.format(UInt64(report.size))],
            ]
            if let l = report.location {
                rows.append(["bus", l.bus + (report.provider.map { " (\($0))" } ?? "")])
                rows.append(["region", l.region])
                rows.append(["namespace", l.namespace ?? "-"])
                rows.append(["device", l.device])
            }
            if let cxl = report.cxl {
                rows.append(["cxl_region", "\(cxl.region) (memdevs \(cxl.memdevs.joined(separator: ", ")))"])
                for memdev in cxl.memdevs {
                    rows.append([
                        "cxl_decoders",
                        (cxl.decoderChains[memdev] ?? []).joined(separator: " → ") + " → \(memdev)",
                    ])
                }
            }
            rows += [
                ["persistence_domain", report.persistenceDomain.rawValue],
                ["deep_flush", report.deepFlush.rawValue],
                ["flush_method", report.flushMethod],
                [
                    "copy_method",
                    report.copyMethod + (report.movntThreshold.map { " from \($0) bytes" } ?? ""),
                ],
                ["why_copy", report.movntReason ?? "msync backing"],
                ["why", report.reason],
                ["durability", report.durability],
            ]
            rows += Self.overrideRows(report.overrides)
            Output.table(rows)
        }
    }

    private func machine() throws {
        let path = PersistPath.standard
        let report = MachineReport(
            cpu: .current, flushMethod: path.description, copyMethod: path.copy.rawValue,
            movntThreshold: path.movntThreshold == Int.max ? nil : path.movntThreshold,
            movntReason: path.movntReason, reason: path.reason, overrides: Overrides.currentOrDefaults.inForce
        )
        if json {
            try Output.json(report)
            return
        }
        let cpu = report.cpu
        let features = [
            ("clwb", cpu.clwb), ("clflushopt", cpu.clflushopt), ("avx", cpu.avx), ("avx512f", cpu.avx512f),
            ("pku", cpu.pku && cpu.ospke),
        ].filter(\.1).map(\.0)
        var rows: [[String]] = [
            ["cpu", cpu.brand.isEmpty ? cpu.vendor : cpu.brand],
            ["features", features.joined(separator: " ")],
            ["flush_method", report.flushMethod + " (off eADR regions)"],
            ["copy_method", report.copyMethod + (report.movntThreshold.map { " from \($0) bytes" } ?? "")],
            ["why", report.reason],
            ["why_copy", report.movntReason],
        ]
        rows += Self.overrideRows(report.overrides)
        Output.table(rows)
    }

    /// One row per override in force, or one saying there is none.
    static func overrideRows(_ settings: [Overrides.Setting]) -> [[String]] {
        guard !settings.isEmpty else { return [["overrides", "none (every PMEMKIT_* default in force)"]] }
        return settings.map { ["override", "\($0.name)=\($0.value): \($0.meaning)"] }
    }
}
