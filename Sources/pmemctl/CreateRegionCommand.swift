import ArgumentParser
import PMemKit

/// `pmemctl create-region`: a CXL pmem region across memdevs.
struct CreateRegionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-region",
        abstract:
            "Create a CXL persistent-memory region across memdevs; then carve namespaces with create-namespace."
    )

    @Option(help: "Memdevs in interleave order, comma-separated: mem0[,mem1...].") var memdevs: String
    @Option(help: "Size, a multiple of 256M × ways (default: all that is free).") var size: String?
    @Option(help: "Interleave ways (default: the number of memdevs).") var ways: Int?
    @Option(
        help: "Root decoder, e.g. decoder0.0 (default: the first pmem-capable one that reaches every memdev)."
    )
    var decoder: String?
    @Flag(help: "Print the region as JSON.") var json = false

    var memdevList: [String] { memdevs.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func validate() throws {
        _ = try parseSizeOption(size, "--size")
        guard !memdevList.isEmpty, !memdevList.contains("") else {
            throw ValidationError("--memdevs takes names like mem0 or mem0,mem1")
        }
        if let ways, ways < 1 { throw ValidationError("--ways must be at least 1") }
    }

    func run() throws {
        try reportingFailures {
            let region = try CXLProvisioner.createRegion(
                CXLRegionRequest(
                    memdevs: memdevList, size: try parseSizeOption(size, "--size"), ways: ways,
                    rootDecoder: decoder))
            if json {
                try Output.json(region)
            } else {
                print(
                    "\(region.region): pmem, \(ByteSize.format(region.size)), \(region.interleaveWays) ways under "
                        + "\(region.decoder); nd region \(region.ndRegion ?? "-")")
            }
        }
    }
}

/// `pmemctl destroy-region`: delete a CXL region.
struct DestroyRegionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy-region",
        abstract: "Destroy a CXL region (refused while it holds namespaces, unless --force).")

    @Argument(help: "The CXL region, e.g. region0 (see pmemctl list --cxl).") var name: String
    @Flag(help: "Destroy its namespaces too (their data is lost).") var force = false

    func run() throws {
        try reportingFailures {
            try CXLProvisioner.destroyRegion(name, force: force)
            print("\(name): destroyed")
        }
    }
}
