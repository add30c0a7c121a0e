import ArgumentParser
import PMemKit

/// `pmemctl info PATH`: what backs a path and how stores to it become durable.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract:
            "Show what backs PATH (devdax, fsdax, file), whether it is real PMem, and the flush method used.")

    @Argument(help: "A DAX device, a file on a DAX file system, or any file.") var path: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingFailures {
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
            Output.table(rows)
        }
    }
}
